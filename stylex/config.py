"""Configuration as data: dataclasses for every run, their JSON round trip, and the presets.

Every field is documented here, once. A run writes its fully resolved configuration to
`config.json`; `from_dict(Class, json.load(...))` reads it back.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from stylex.errors import StylexError


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
    # The demo scale for a 2-core CPU: 32 px, 128 channels everywhere.
    "cpu-32": NetworkConfig(),
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
