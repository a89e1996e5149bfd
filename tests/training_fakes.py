"""Tiny stand-ins shared by the training tests (and the torchrun worker script): a 16 px network
configuration, a dataset of random images and a small frozen classifier."""

from __future__ import annotations

import torch

from stylex.classifiers import FrozenClassifier, build_classifier
from stylex.config import NetworkConfig, TrainingConfig


def tiny_config(**overrides) -> TrainingConfig:
    """A TrainingConfig with a 16 px network small enough for tests, logging and snapshots only
    at the end, and regularization every 2 steps (so short runs exercise it)."""
    network = NetworkConfig(resolution=16, z_dim=32, w_dim=32, mapping_layers=2, g_channel_base=256,
                            g_channel_max=32, d_channel_base=256, d_channel_max=32)
    cfg = TrainingConfig(network=network, kimg=0.016, batch=4, perceptual="classifier", r1_interval=2,
                         pl_interval=2, ema_kimg=0.01, tick_kimg=100, snap_kimg=100, sample_every_kimg=100,
                         metrics_every_kimg=100, metrics_images=8, class_names=["neg", "pos"])
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


class RandomImages(torch.utils.data.Dataset):
    """n random [3, 16, 16] images in [-1, 1], labelled by the sign of their mean brightness."""

    def __init__(self, n: int = 32, resolution: int = 16, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.images = torch.rand(n, 3, resolution, resolution, generator=g) * 2 - 1
        self.labels = (self.images.mean(dim=[1, 2, 3]) > 0).long()
        self.class_names, self.num_classes = ["neg", "pos"], 2

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])


def tiny_classifier(seed: int = 0) -> FrozenClassifier:
    """An untrained small CNN (width 4) in the frozen wrapper: deterministic, input-dependent logits."""
    torch.manual_seed(seed)
    net = build_classifier("small-cnn", 2, width=4)
    return FrozenClassifier(net, class_names=["neg", "pos"], input_size=None, normalization=None)
