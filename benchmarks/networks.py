"""The network sizes the benchmarks run at: the presets of stylex.config, plus `paper-128` (the
paper's widths at 128 px, a size between the 64 px and 256 px presets that has no preset of its own)."""

from __future__ import annotations

import dataclasses

from stylex.config import NETWORK_PRESETS, TrainingConfig, training_preset

# name -> (training preset its schedule and optimiser settings come from, resolution override)
SIZES = {
    "cpu-32": ("cpu-32", None),
    "repro-64": ("repro-64", None),
    "paper-128": ("paper-256", 128),
    "paper-256": ("paper-256", None),
}


def network_config(name: str):
    """NetworkConfig of a benchmark size (c_dim 2: a binary classifier)."""
    preset, resolution = SIZES[name]
    net = dataclasses.replace(NETWORK_PRESETS[preset], c_dim=2)
    return dataclasses.replace(net, resolution=resolution) if resolution else net


def training_config(name: str, **overrides) -> TrainingConfig:
    """TrainingConfig of a benchmark size, with its network, and `overrides` applied."""
    cfg = training_preset(SIZES[name][0])
    cfg.network = network_config(name)
    return dataclasses.replace(cfg, **overrides)
