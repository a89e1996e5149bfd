"""Configuration as data: dataclasses for every run, their JSON round trip, and the presets.

Every field is documented here, once. A run writes its fully resolved configuration to
`config.json`; `from_dict(Class, json.load(...))` reads it back.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from stylex.errors import StylexError

# The reconstruction's structure-aware distance (TrainingConfig.perceptual). ssim and laplacian need
# no weights and do not depend on the classifier, so they work offline for any classifier file;
# `classifier` reads the explained classifier's own features, which the KL term is already
# satisfying, so it cannot stop a reconstruction that keeps the decision invisibly.
PERCEPTUAL_KINDS = ("ssim", "laplacian", "lpips", "classifier", "none")


@dataclass
class NetworkConfig:
    resolution: int = 32  # image size, a power of two from 16 to 1024
    c_dim: int = 2  # condition length = the classifier's number of classes
    z_dim: int = 128  # latent z fed to the mapping network
    w_dim: int = 128  # intermediate latent w (also the encoder's output size)
    mapping_layers: int = 4  # depth of the mapping network
    mapping_lr_mul: float = 0.01  # learning-rate multiplier of the mapping network
    g_channel_base: int = 4096  # generator feature maps at resolution r: min(base // r, max)
    g_channel_max: int = 128
    d_channel_base: int = 4096  # discriminator and encoder feature maps, same rule
    d_channel_max: int = 128
    mbstd_group: int = 4  # minibatch-stddev group size in D (0 disables)
    discriminator: str = "projection"  # projection (per-class scores weighted by c) | unconditional

    def build_generator(self):
        from stylex.networks import Generator

        return Generator(
            resolution=self.resolution,
            c_dim=self.c_dim,
            z_dim=self.z_dim,
            w_dim=self.w_dim,
            mapping_layers=self.mapping_layers,
            mapping_lr_mul=self.mapping_lr_mul,
            channel_base=self.g_channel_base,
            channel_max=self.g_channel_max,
        )

    def build_discriminator(self):
        from stylex.networks import Discriminator

        return Discriminator(
            resolution=self.resolution,
            c_dim=self.c_dim,
            conditioning=self.discriminator,
            channel_base=self.d_channel_base,
            channel_max=self.d_channel_max,
            mbstd_group=self.mbstd_group,
        )

    def build_encoder(self):
        from stylex.networks import Encoder

        return Encoder(
            resolution=self.resolution,
            w_dim=self.w_dim,
            channel_base=self.d_channel_base,
            channel_max=self.d_channel_max,
        )


# Network presets. Sizes (c_dim = 2) are printed by `stylex info --preset NAME`.
NETWORK_PRESETS: dict[str, NetworkConfig] = {
    # The demo scale for a 2-core CPU: 32 px; G has 128 channels at 4-8 px, 64 at 16 px, 32 at 32 px;
    # D and E half that from 8 px up (measured: 128 everywhere trains about 3x slower per image).
    "cpu-32": NetworkConfig(g_channel_base=1024, d_channel_base=512),
    # The earlier PyTorch reproduction's scale: 64 px, up to 512 channels, w 512.
    "repro-64": NetworkConfig(
        resolution=64, z_dim=512, w_dim=512, mapping_layers=8,
        g_channel_base=4096, g_channel_max=512, d_channel_base=4096, d_channel_max=512,
    ),
    # The paper's: 256 px StyleGAN2 config F (5,760 modulated-conv style coordinates).
    "paper-256": NetworkConfig(
        resolution=256, z_dim=512, w_dim=512, mapping_layers=8,
        g_channel_base=32768, g_channel_max=512, d_channel_base=32768, d_channel_max=512,
    ),
}


def network_preset(name: str) -> NetworkConfig:
    if name not in NETWORK_PRESETS:
        raise StylexError(f"--preset {name}: unknown preset; allowed: {', '.join(NETWORK_PRESETS)}")
    return dataclasses.replace(NETWORK_PRESETS[name])


@dataclass
class TrainingConfig:
    """One `stylex train` run, fully resolved (written to the run's config.json and checkpoints)."""

    network: NetworkConfig = field(default_factory=NetworkConfig)
    preset: str = "cpu-32"  # the preset the defaults came from
    # Inputs, filled in by the command.
    data: str = ""  # dataset spec (see stylex.datasets.open_dataset)
    classifier: str = ""  # classifier file
    classifier_fingerprint: str = ""  # sha256 of the classifier's weights
    class_names: list = field(default_factory=list)
    # Schedule and batch.
    kimg: float = 50.0  # length of the run in thousands of real images shown to D
    batch: int = 32  # total batch per optimizer step, over all processes and micro-steps
    batch_gpu: int = 0  # batch per process per micro-step; 0 = batch / processes (no accumulation)
    # Optimisers (Adam). Learning rates and betas are rescaled for lazy regularization.
    g_lr: float = 0.002  # generator (mapping + synthesis)
    d_lr: float = 0.002  # discriminator
    e_lr: float = 0.002  # encoder
    beta1: float = 0.0
    beta2: float = 0.99
    # Adversarial loss and regularization.
    adv_loss: str = "logistic"  # logistic (non-saturating, StyleGAN2) | hinge
    r1_gamma: float = 0.1  # R1 weight on real images (0 disables)
    r1_interval: int = 16  # lazy R1: every this many D steps
    pl_weight: float = 2.0  # path-length regularization weight (0 disables)
    pl_interval: int = 4  # lazy path length: every this many G steps
    pl_batch_shrink: int = 2  # path-length batch = micro-batch / this
    pl_decay: float = 0.01  # moving-average speed of the path-length target
    # The StylEx objective (docs/METHOD.md section 3).
    rec_l1: float = 1.0  # a_x: weight of L1(x', x)
    rec_perceptual: float = 0.1  # a_p: weight of the perceptual distance of x' and x
    rec_w: float = 0.1  # a_w: weight of L1(E(x'), E(x))
    cls_weight: float = 1.0  # weight of KL(C(x) || C(x'))
    perceptual: str = "ssim"  # one of PERCEPTUAL_KINDS (above): the structure-aware reconstruction distance
    conditioning: str = "probs"  # probs (softmax of C) | logits
    alternate: bool = True  # alternate encoder and noise G steps (False: both in every step)
    encoder_only: bool = False  # train G only on reconstructions (no noise steps)
    # Autoencoder warm-up: the first this many kimg train only G and E, on the reconstruction terms
    # (no D, no classifier KL, no noise steps), so G can draw the features before a KL term can be
    # met by changes nobody sees. 0 = off (the paper's method).
    warmup_kimg: float = 0.0
    style_mixing: float = 0.9  # probability of style mixing on noise steps
    ema_kimg: float = 10.0  # EMA half-life of G and E in thousands of images
    ema_rampup: float = 0.05  # EMA half-life is at most this fraction of images seen (0 = off)
    augment: str = "translation,cutout,color"  # DiffAugment ops on all D inputs ("" = none)
    augment_p: float = 1.0  # probability that each op is applied to an image
    # Speed.
    precision: str = "fp32"  # fp32 | bf16 | fp16 (autocast; CUDA only)
    channels_last: bool = False  # channels_last memory format (CUDA)
    tf32: bool = True  # allow TF32 matmuls and convolutions (CUDA)
    compile: bool = False  # torch.compile the main forward passes
    workers: int = 0  # data-loading worker processes per training process
    # Bookkeeping.
    tick_kimg: float = 1.0  # progress/stats line every this many kimg
    snap_kimg: float = 10.0  # checkpoint every this many kimg (and at the end)
    keep_checkpoints: int = 3  # keep the newest this many checkpoints
    sample_every_kimg: float = 10.0  # sample grids every this many kimg
    metrics_every_kimg: float = 10.0  # held-out metrics every this many kimg (0 = only at the end)
    metrics_images: int = 256  # held-out images used by the metrics
    max_bad_steps: int = 20  # stop after this many non-finite steps in a row
    seed: int = 0


# Training presets: network preset of the same name plus these schedule/optimiser settings.
TRAINING_PRESETS: dict[str, dict] = {
    # The demo on a 2-core CPU: 24.5 minutes with two threads. Chosen by 8-24 kimg probes on the world
    # (README, "Training StylEx"): R1 gamma 10, because with 0.05 D turned sharp within 3 kimg and G
    # answered with per-pixel speckle; reconstruction L1 weight 10, because at 1 the classifier KL and
    # the adversarial term dominated and reconstructions stayed blobs; no path length, style mixing or
    # augmentation (the world is plentiful and the run short; StyleGAN2-ADA's 32 px setting drops
    # them too; the lazy path-length step was 13% of the old preset's step time).
    "cpu-32": dict(kimg=90.0, batch=16, r1_gamma=10.0, rec_l1=10.0, pl_weight=0.0, style_mixing=0.0, augment="",
                   ema_kimg=2.0, tick_kimg=1.0, snap_kimg=10.0, sample_every_kimg=10.0, metrics_every_kimg=10.0,
                   metrics_images=256),
    # The earlier PyTorch reproduction's scale (64 px), on one or a few GPUs.
    "repro-64": dict(kimg=5000.0, batch=32, r1_gamma=0.1, ema_kimg=10.0, tick_kimg=4.0, snap_kimg=100.0,
                     sample_every_kimg=50.0, metrics_every_kimg=200.0, metrics_images=1000, workers=4),
    # The paper's: 256 px, batch 16, about 250k iterations (4,000 kimg), 8 GPUs.
    "paper-256": dict(kimg=4000.0, batch=16, r1_gamma=10.0, ema_kimg=5.0, tick_kimg=4.0, snap_kimg=100.0,
                      sample_every_kimg=50.0, metrics_every_kimg=200.0, metrics_images=1000, workers=4),
}


def training_preset(name: str) -> TrainingConfig:
    """The training configuration of a preset (its network preset included)."""
    network = network_preset(name)
    return TrainingConfig(network=network, preset=name, **TRAINING_PRESETS[name])


def to_dict(config) -> dict:
    return dataclasses.asdict(config)


def from_dict(cls, data: dict):
    """Build a config dataclass from a dict, ignoring keys it does not know and recursing into
    nested dataclass fields."""
    kwargs = {}
    hints = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key not in hints:
            continue
        ftype = hints[key].type
        sub = globals().get(ftype) if isinstance(ftype, str) else ftype
        if dataclasses.is_dataclass(sub) and isinstance(value, dict):
            value = from_dict(sub, value)
        kwargs[key] = value
    return cls(**kwargs)


def save_json(config, path: str | Path) -> None:
    from stylex.runtime import atomic_write_bytes

    data = to_dict(config) if dataclasses.is_dataclass(config) else config
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
