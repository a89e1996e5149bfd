"""Checkpoint files: safe format, keep-last-K, latest discovery, crash-safe writes, load_trained."""

import pytest
import torch
from training_fakes import tiny_config

from stylex.config import to_dict
from stylex.errors import StylexError
from stylex.training import checkpoint as ckpt


def _state(nimg, cfg=None):
    cfg = cfg or tiny_config()
    torch.manual_seed(nimg)
    G, E = cfg.network.build_generator(), cfg.network.build_encoder()
    return {"config": to_dict(cfg), "counters": {"nimg": nimg, "g_steps": nimg // 4},
            "G_ema": G.state_dict(), "E_ema": E.state_dict(), "rng": [torch.get_rng_state(), (3, (1, 2), None)]}


def test_save_keep_latest_and_load_trained(tmp_path):
    for nimg in (4, 8, 12):
        ckpt.save_checkpoint(tmp_path, _state(nimg), keep=2)
    names = [p.name for p in ckpt.list_checkpoints(tmp_path)]
    assert names == ["checkpoint-000000000008.pt", "checkpoint-000000000012.pt"]
    assert ckpt.latest_checkpoint(tmp_path).name == names[-1]
    data = torch.load(ckpt.latest_checkpoint(tmp_path), weights_only=True)  # plain values and tensors only
    assert data["format"] == ckpt.FORMAT and data["version"] == ckpt.VERSION
    model = ckpt.load_trained(tmp_path)
    assert model.kimg == pytest.approx(0.012) and model.step == 3
    assert not model.G.training and not model.E.training
    assert model.net_config.resolution == 16
    expected = _state(12)["G_ema"]
    assert all(torch.equal(v, expected[k]) for k, v in model.G.state_dict().items())
    assert ckpt.load_trained(ckpt.list_checkpoints(tmp_path)[0]).kimg == pytest.approx(0.008)


def test_crash_during_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    first = ckpt.save_checkpoint(tmp_path, _state(4))

    def crash(obj, path):
        with open(path, "wb") as f:
            f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError):
        ckpt.save_checkpoint(tmp_path, _state(8))
    monkeypatch.undo()
    assert ckpt.list_checkpoints(tmp_path) == [first]
    assert sorted(p.name for p in first.parent.iterdir()) == [first.name]  # no temp file left behind
    assert ckpt.load_trained(tmp_path).kimg == pytest.approx(0.004)


def test_bad_paths_and_files_are_clear_errors(tmp_path):
    with pytest.raises(StylexError, match="holds no checkpoints"):
        ckpt.resolve_checkpoint(tmp_path)
    with pytest.raises(StylexError, match="does not exist"):
        ckpt.resolve_checkpoint(tmp_path / "nope")
    other = tmp_path / "other.pt"
    torch.save({"format": "something-else"}, other)
    with pytest.raises(StylexError, match="not a stylex training checkpoint"):
        ckpt.load_checkpoint(other)
    torch.save({"format": ckpt.FORMAT, "version": 99}, other)
    with pytest.raises(StylexError, match="version 99"):
        ckpt.load_checkpoint(other)
    other.write_bytes(b"garbage")
    with pytest.raises(StylexError, match="could not be read"):
        ckpt.load_checkpoint(other)
