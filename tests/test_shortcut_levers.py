"""The shortcut issue's training levers: --condition-sparsity (a group lasso on the generator's weights
on the condition c), --latent-cycle and --condition-swap (its terms by hand: test_training_loss_combination)."""

import pytest
import torch
from training_fakes import RandomImages, tiny_classifier, tiny_config

from stylex.config import TrainingConfig
from stylex.errors import StylexError
from stylex.training.loop import Trainer
from stylex.training.losses import condition_channels, condition_spread


def test_spread_is_the_sum_of_channel_norms():
    weights = [torch.tensor([[3.0, 4.0], [0.0, 0.0]]), torch.tensor([[1.0, 0.0]])]
    assert condition_spread(weights).item() == pytest.approx(6.0, abs=1e-5)
    assert condition_channels(weights) == 2  # the zero row is not reached
    assert condition_channels([torch.tensor([[1.0, 0.0], [0.001, 0.0]])], share=0.01) == 1


def test_condition_weights_are_how_styles_move_with_c(tiny_generator):
    G = tiny_generator
    w = torch.randn(3, G.w_dim)
    c0, c1 = torch.tensor([[1.0, 0.0]]).expand(3, 2), torch.tensor([[0.2, 0.8]]).expand(3, 2)
    with torch.no_grad():
        moved = [b - a for a, b in zip(G.styles(w, c0), G.styles(w, c1))]
        for delta, weights in zip(moved, G.condition_weights()):
            torch.testing.assert_close(delta, (c1 - c0) @ weights.T, atol=1e-5, rtol=1e-4)


def _spread_after(tmp_path, weight: float, iterations: int = 6) -> tuple[float, float]:
    cfg = tiny_config(batch=4, condition_sparsity=weight, pl_weight=0.0, g_lr=0.01)
    trainer = Trainer(cfg, RandomImages(), tiny_classifier(), tmp_path, progress=False)
    before = condition_spread(trainer.G.condition_weights()).item()
    for _ in range(iterations):
        trainer.iteration()
    return before, condition_spread(trainer.G.condition_weights()).item()


def test_the_penalty_shrinks_the_condition_weights_and_is_off_by_default(tmp_path):
    before, penalised = _spread_after(tmp_path / "on", 1.0)
    _, plain = _spread_after(tmp_path / "off", 0.0)
    # Adam moves each weight about lr per step, so six steps shrink it by a few per cent.
    assert penalised < 0.97 * before and penalised < 0.97 * plain
    assert TrainingConfig().condition_sparsity == 0.0


def test_the_penalty_is_recorded_during_the_warmup_too(tmp_path):
    cfg = tiny_config(batch=4, condition_sparsity=0.5, warmup_kimg=0.004, pl_weight=0.0)
    trainer = Trainer(cfg, RandomImages(), tiny_classifier(), tmp_path, progress=False)
    trainer.iteration()  # warm-up
    trainer.iteration()  # full objective
    assert trainer._stats["G/condition_spread"][1] == 2


def test_a_negative_weight_is_refused():
    with pytest.raises(StylexError, match="condition_sparsity"):
        TrainingConfig(condition_sparsity=-1.0)


def test_the_flag_sets_the_weight_and_refuses_a_negative_one():
    from stylex.cli import build_parser

    argv = ["train", "--data", "d", "--classifier", "c.pt", "--out", "r", "--condition-sparsity"]
    assert build_parser().parse_args([*argv, "0.01"]).condition_sparsity == 0.01
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "-1"])


def test_the_latent_cycle_trains_the_encoder_on_noise_steps(tmp_path):
    """--latent-cycle (the shortcut issue's lever (c)) makes the noise step an encoder step too."""
    changed = {}
    for weight in (0.0, 1.0):
        cfg = tiny_config(batch=4, batch_gpu=4, latent_cycle=weight, pl_weight=0.0)
        trainer = Trainer(cfg, RandomImages(), tiny_classifier(), tmp_path / str(weight), progress=False)
        trainer.iteration()  # an encoder step
        before = [p.detach().clone() for p in trainer.E.parameters()]
        trainer.iteration()  # a noise step
        changed[weight] = any(not torch.equal(a, b) for a, b in zip(before, trainer.E.parameters()))
    assert changed == {0.0: False, 1.0: True}


def test_the_condition_swap_runs_in_training_and_is_recorded(tmp_path):
    """--condition-swap reaches the training loop: its follow rate is recorded after the warm-up only."""
    cfg = tiny_config(batch=4, condition_swap=0.5, warmup_kimg=0.004, pl_weight=0.0)
    trainer = Trainer(cfg, RandomImages(), tiny_classifier(), tmp_path, progress=False)
    trainer.iteration()  # warm-up: nothing swapped
    assert "G/swap_follows" not in trainer._stats
    trainer.iteration()  # a noise step (G alternates)
    assert "G/swap_follows" not in trainer._stats
    trainer.iteration()  # a reconstruction step of the full objective
    assert trainer._stats["G/swap_follows"][1] == 1
    assert TrainingConfig().condition_swap == 0.0


def test_the_swap_flag_takes_a_share():
    from stylex.cli import build_parser

    argv = ["train", "--data", "d", "--classifier", "c.pt", "--out", "r", "--condition-swap"]
    assert build_parser().parse_args([*argv, "0.25"]).condition_swap == 0.25
    for bad in ("1.5", "-0.1"):
        with pytest.raises(SystemExit):
            build_parser().parse_args([*argv, bad])
    with pytest.raises(StylexError, match="condition_swap"):
        TrainingConfig(condition_swap=2.0)


def test_condition_layers_conv_keeps_c_out_of_the_torgb_styles():
    """--condition-layers conv: c moves the modulated convs' styles only; the toRGB styles are w's."""
    from stylex.config import NetworkConfig

    net = NetworkConfig(resolution=16, z_dim=32, w_dim=32, mapping_layers=2, g_channel_base=256, g_channel_max=32)
    moved = {}
    for layers in ("all", "conv"):
        torch.manual_seed(0)
        G = NetworkConfig(**{**net.__dict__, "condition_layers": layers}).build_generator().eval()
        w = torch.randn(3, G.w_dim)
        with torch.no_grad():
            a, b = G.styles(w, torch.tensor([[1.0, 0.0]] * 3)), G.styles(w, torch.tensor([[0.0, 1.0]] * 3))
        moved[layers] = {layer.kind: bool((y - x).abs().max() > 0) for layer, x, y in zip(G.stylespace().layers, a, b)}
        if layers == "conv":
            assert all(wt.shape[1] == 0 for layer, wt in zip(G.stylespace().layers, G.condition_weights())
                       if layer.kind == "torgb")
            G.synthesis(a)  # still renders
    assert moved == {"all": {"conv": True, "torgb": True}, "conv": {"conv": True, "torgb": False}}
    assert NetworkConfig().condition_layers == "all"
    with pytest.raises(StylexError, match="condition_layers"):
        NetworkConfig(condition_layers="torgb").validate()


def test_condition_layers_flag_reaches_the_trained_generator(tmp_path):
    from stylex.cli import build_parser

    argv = ["train", "--data", "d", "--classifier", "c.pt", "--out", "r", "--condition-layers"]
    assert build_parser().parse_args([*argv, "conv"]).condition_layers == "conv"
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "torgb"])
    cfg = tiny_config(batch=4, pl_weight=0.0, condition_sparsity=0.1)
    cfg.network.condition_layers = "conv"
    trainer = Trainer(cfg, RandomImages(), tiny_classifier(), tmp_path, progress=False)
    trainer.iteration()
    rgb = [layer.affine.weight.shape[1] for layer in trainer.G.layers if layer.name.endswith("torgb")]
    assert rgb and set(rgb) == {cfg.network.w_dim}


def _two_conditions_moved(G):
    """Per style layer, the channels whose style moves when c goes from one class to the other."""
    w = torch.randn(3, G.w_dim)
    with torch.no_grad():
        a, b = G.styles(w, torch.tensor([[1.0, 0.0]] * 3)), G.styles(w, torch.tensor([[0.0, 1.0]] * 3))
    return [set(torch.nonzero((y - x).abs().amax(0) > 0).flatten().tolist()) for x, y in zip(a, b)]


def test_condition_channels_let_c_reach_only_the_first_k_channels_of_each_layer():
    """--condition-channels K: c moves channels 0..K-1 of each conditioned layer and no other; the state
    dict is the paper generator's (the mask is re-created from the configuration, not saved)."""
    from stylex.config import NetworkConfig

    net = NetworkConfig(resolution=16, z_dim=32, w_dim=32, mapping_layers=2, g_channel_base=256, g_channel_max=32,
                        condition_layers="conv")
    torch.manual_seed(0)
    dense = net.build_generator().eval()
    torch.manual_seed(0)
    G = NetworkConfig(**{**net.__dict__, "condition_channels": 2}).build_generator().eval()
    conv = [layer.kind == "conv" for layer in G.stylespace().layers]
    assert [m for m, k in zip(_two_conditions_moved(G), conv) if k] == [{0, 1}] * sum(conv)
    assert all(len(m) > 2 for m, k in zip(_two_conditions_moved(dense), conv) if k)
    assert all(not m for m, k in zip(_two_conditions_moved(G), conv) if not k)
    assert all(float(wt[2:].detach().abs().sum()) == 0 for wt in G.condition_weights())
    assert condition_channels(G.condition_weights()) <= 2 * sum(conv)
    assert G.state_dict().keys() == dense.state_dict().keys()
    G.load_state_dict(dense.state_dict())  # a checkpoint of the same shapes loads; the mask stays
    assert [m for m, k in zip(_two_conditions_moved(G), conv) if k] == [{0, 1}] * sum(conv)
    assert NetworkConfig().condition_channels == 0
    with pytest.raises(StylexError, match="condition_channels"):
        NetworkConfig(condition_channels=-1).validate()


def test_condition_channels_flag_reaches_the_trained_generator(tmp_path):
    from stylex.cli import build_parser

    argv = ["train", "--data", "d", "--classifier", "c.pt", "--out", "r"]
    assert build_parser().parse_args([*argv, "--condition-channels", "4"]).condition_channels == 4
    assert build_parser().parse_args(argv).condition_channels is None  # the preset's (0) unless given
    cfg = tiny_config(batch=4, pl_weight=0.0, condition_sparsity=0.1, g_lr=0.01)
    cfg.network.condition_channels = 1
    trainer = Trainer(cfg, RandomImages(), tiny_classifier(), tmp_path, progress=False)
    for _ in range(3):
        trainer.iteration()
    from stylex.training.checkpoint import load_trained

    reloaded = load_trained(trainer.save()).G  # rebuilt from the run's saved configuration
    for G in (trainer.G, trainer.G_ema, reloaded):
        assert all(float(wt[1:].detach().abs().sum()) == 0 and wt.shape[1] for wt in G.condition_weights())
        assert all(len(m) <= 1 for m in _two_conditions_moved(G))


def test_condition_resolution_keeps_c_in_the_coarse_layers():
    """--condition-resolution R: only the layers up to R px see c; the rest of the styles are w's."""
    from stylex.config import NetworkConfig

    net = NetworkConfig(resolution=16, z_dim=32, w_dim=32, mapping_layers=2, g_channel_base=256, g_channel_max=32)
    for r, seeing in ((0, {4, 8, 16}), (8, {4, 8}), (4, {4})):
        G = NetworkConfig(**{**net.__dict__, "condition_resolution": r}).build_generator().eval()
        moved = {layer.resolution for layer, m in zip(G.stylespace().layers, _two_conditions_moved(G)) if m}
        assert moved == seeing
        assert {layer.resolution for layer, wt in zip(G.stylespace().layers, G.condition_weights())
                if wt.shape[1]} == seeing
    assert NetworkConfig().condition_resolution == 0
    with pytest.raises(StylexError, match="condition_resolution"):
        NetworkConfig(condition_resolution=2).validate()
    from stylex.cli import build_parser

    argv = ["train", "--data", "d", "--classifier", "c.pt", "--out", "r", "--condition-resolution", "4"]
    assert build_parser().parse_args(argv).condition_resolution == 4
