"""The network sizes the benchmarks run at: the presets of stylex.config, `paper-128` (the paper's
widths at 128 px, between the 64 px and 256 px presets, which has no preset of its own) and
`tiny-16` (a 16 px toy for smoke tests of the benchmark code itself)."""

from __future__ import annotations

import dataclasses

from stylex.config import NETWORK_PRESETS, TrainingConfig, training_preset

# name -> (preset its network and training settings come from, network fields changed)
SIZES = {
    "cpu-32": ("cpu-32", {}),
    "repro-64": ("repro-64", {}),
    "paper-128": ("paper-256", {"resolution": 128}),
    "paper-256": ("paper-256", {}),
    "tiny-16": ("cpu-32", {"resolution": 16, "z_dim": 32, "w_dim": 32, "mapping_layers": 2, "g_channel_base": 256,
                           "g_channel_max": 32, "d_channel_base": 256, "d_channel_max": 32}),
}
TEST_SIZES = ("tiny-16",)  # not figures to report


def network_config(name: str):
    """NetworkConfig of a benchmark size (c_dim 2: a binary classifier)."""
    preset, changes = SIZES[name]
    return dataclasses.replace(NETWORK_PRESETS[preset], c_dim=2, **changes)


def training_config(name: str, **overrides) -> TrainingConfig:
    """TrainingConfig of a benchmark size, with its network, and `overrides` applied."""
    cfg = training_preset(SIZES[name][0])
    cfg.network = network_config(name)
    return dataclasses.replace(cfg, **overrides)
