"""The training loop: alternation with accumulation 1, exact resume, the non-finite guard, signals."""

import os
import signal

import pytest
import torch
from training_fakes import RandomImages, tiny_classifier, tiny_config

from stylex.errors import StylexError
from stylex.training import checkpoint as ckpt
from stylex.training.loop import InfiniteSampler, Trainer


def _trainer(tmp_path, classifier=None, **overrides):
    cfg = tiny_config(**overrides)
    return Trainer(cfg, RandomImages(), classifier or tiny_classifier(), tmp_path, progress=False)


def _params(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before, module):
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items())


def test_alternation_trains_encoder_with_accumulation_one(tmp_path):
    trainer = _trainer(tmp_path, batch=4, batch_gpu=4, pl_weight=0.0)  # path length would update the mapping
    assert trainer.rounds == 1
    kinds = []
    for _ in range(2):
        kinds.append(trainer._g_kinds())
        e_before, mapping_before = _params(trainer.E), _params(trainer.G.mapping)
        trainer.iteration()
        if kinds[-1] == ["encoder"]:
            assert _changed(e_before, trainer.E), "the encoder step must update E"
            assert not _changed(mapping_before, trainer.G.mapping), "w = E(x) does not use the mapping net"
        else:
            assert not _changed(e_before, trainer.E), "a noise step must leave E alone"
            assert _changed(mapping_before, trainer.G.mapping)
    assert kinds == [["encoder"], ["noise"]]
    assert trainer.counters["bad_steps"] == 0


def test_alternation_is_per_step_with_accumulation(tmp_path):
    trainer = _trainer(tmp_path, batch=4, batch_gpu=2)
    assert trainer.rounds == 2
    e_before = _params(trainer.E)
    trainer.iteration()
    assert _changed(e_before, trainer.E) and trainer._g_kinds() == ["noise"]
    assert _trainer(tmp_path, encoder_only=True)._g_kinds() == ["encoder"]
    assert _trainer(tmp_path, alternate=False)._g_kinds() == ["encoder", "noise"]
    with pytest.raises(StylexError, match="--batch 4 must be a multiple"):
        _trainer(tmp_path, batch=4, batch_gpu=3)


def test_resume_is_exact(tmp_path):
    steps = 4  # with r1/pl every 2 steps, both regularizers run in each half
    straight = _trainer(tmp_path / "straight", kimg=2 * steps * 4 / 1000)
    straight.train()

    first = _trainer(tmp_path / "split", kimg=steps * 4 / 1000)
    first.train()
    state = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "split"))
    second = _trainer(tmp_path / "split", kimg=2 * steps * 4 / 1000)
    second.load_state_dict(state)
    second.train()

    assert second.counters == straight.counters
    for name in ("G", "D", "E", "G_ema", "E_ema"):
        a, b = getattr(straight, name).state_dict(), getattr(second, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), f"{name} differs after resume"
    sa, sb = straight.opt_G.state_dict()["state"], second.opt_G.state_dict()["state"]
    assert all(torch.equal(sa[i]["exp_avg"], sb[i]["exp_avg"]) for i in sa)
    assert torch.equal(straight.pl_mean, second.pl_mean)


class NaNClassifier(torch.nn.Module):
    """Wraps a classifier; returns NaN logits while `broken` is set."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.broken = inner, False
        self.feature_maps, self.features = inner.feature_maps, inner.features

    def forward(self, x):
        out = self.inner(x)
        return out * float("nan") if self.broken else out


def test_non_finite_steps_are_skipped_and_stop_the_run(tmp_path):
    classifier = NaNClassifier(tiny_classifier())
    trainer = _trainer(tmp_path, classifier, kimg=0.008, max_bad_steps=3)
    trainer.train()
    good = ckpt.latest_checkpoint(tmp_path)
    classifier.broken = True
    before = {name: _params(getattr(trainer, name)) for name in ("G", "D", "E")}
    trainer.iteration()  # encoder step: NaN KL and NaN conditions everywhere
    assert trainer.counters["bad_steps"] >= 2 and trainer.counters["bad_in_a_row"] >= 2
    assert not any(_changed(before[name], getattr(trainer, name)) for name in before), "bad steps are skipped"
    trainer.cfg.kimg = 1.0
    with pytest.raises(StylexError, match=r"non-finite.*--max-bad-steps 3.*checkpoint-000000000008"):
        trainer.train()
    assert ckpt.latest_checkpoint(tmp_path) == good
    ckpt.load_trained(tmp_path)  # still loadable


def test_signal_finishes_the_step_and_saves(tmp_path):
    trainer = _trainer(tmp_path, kimg=1.0)
    step = trainer.iteration

    def step_then_signal():
        step()
        if trainer.counters["iteration"] == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    trainer.iteration = step_then_signal
    result = trainer.train()
    assert result["interrupted"] and result["nimg"] == 8
    assert ckpt.latest_checkpoint(tmp_path).name == "checkpoint-000000000008.pt"
    assert signal.getsignal(signal.SIGTERM) is not trainer._request_stop  # handler restored


def test_sampler_shards_and_resumes():
    def take(sampler, n):
        it = iter(sampler)
        return [next(it) for _ in range(n)]

    one = take(InfiniteSampler(10, seed=1), 30)
    assert sorted(one[:10]) == list(range(10)) and sorted(one[10:20]) == list(range(10))
    ranks = [take(InfiniteSampler(10, r, 2, seed=1), 15) for r in (0, 1)]
    assert [x for pair in zip(*ranks) for x in pair] == one  # round robin over the same stream
    assert take(InfiniteSampler(10, 1, 2, seed=1, start=5), 10) == ranks[1][5:15]


def test_encoder_starts_in_the_mapping_region():
    from stylex.training.loop import align_encoder_to_mapping

    cfg = tiny_config()
    torch.manual_seed(0)
    G, E = cfg.network.build_generator(), cfg.network.build_encoder()
    images = RandomImages(64).images
    align_encoder_to_mapping(E, G, images)
    with torch.no_grad():
        w_map, w_enc = G.mapping(torch.randn(4096, G.z_dim)), E(images)
    assert (w_enc.mean(0) - w_map.mean(0)).abs().max() < 1e-4 + 0.1 * w_map.std(0).mean()
    assert w_enc.std(0).mean().item() == pytest.approx(w_map.std(0).mean().item(), rel=0.15)


def test_warmup_trains_only_the_autoencoder_then_the_full_objective(tmp_path):
    """During --warmup-kimg only G and E learn, from the reconstruction terms: D and the mapping
    network stay as they were and no KL or adversarial term is computed; afterwards StylEx's
    alternation starts with an encoder step."""
    trainer = _trainer(tmp_path, batch=4, warmup_kimg=0.008, pl_weight=0.0)  # 2 warm-up iterations
    d_before, mapping_before = _params(trainer.D), _params(trainer.G.mapping)
    for _ in range(2):
        e_before = _params(trainer.E)
        trainer.iteration()
        assert _changed(e_before, trainer.E)
    assert not _changed(d_before, trainer.D) and not _changed(mapping_before, trainer.G.mapping)
    assert trainer.counters["d_steps"] == 0 and trainer.counters["nimg"] == 8
    assert trainer._stats["G/kl"][0] == 0 and trainer._stats["G/adv_enc"][0] == 0
    assert trainer._stats["G/rec_l1"][0] > 0
    trainer.iteration()  # the warm-up is over
    assert _changed(d_before, trainer.D) and trainer.counters["d_steps"] == 1
    assert trainer._stats["G/kl"][0] != 0  # computed: near zero at first, of either sign in float32
