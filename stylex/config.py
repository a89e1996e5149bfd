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

ADV_LOSSES = ("logistic", "hinge")
CONDITIONINGS = ("probs", "logits")
PRECISIONS = ("fp32", "bf16", "fp16")
DISCRIMINATORS = ("projection", "unconditional")


def resolution_problem(value) -> str | None:
    """Why `value` cannot be an image resolution of stylex (None: it can): a power of two from 16
    to 1024, what the networks are built for. NetworkConfig, the resolution flags and `stylex prepare`
    all ask it (here, not in stylex.datasets, so that none of them imports torch for it)."""
    if isinstance(value, int) and value < 1:
        return f"{value} is not allowed; it must be at least 1"
    if not isinstance(value, int) or value & (value - 1) or not 16 <= value <= 1024:
        return f"{value!r} is not allowed; use a power of two from 16 to 1024"
    return None


def setting(default=dataclasses.MISSING, *, help: str, flag: str | None = None, choices: tuple | None = None,
            check: str | None = None, resumable: bool = False, default_factory=dataclasses.MISSING):
    """A NetworkConfig or TrainingConfig field and what the command line and validation need to know about it.

    Args:
        help: what it does (the `stylex train --help` text of its flag).
        flag: its `stylex train` flag (None: not settable from the command line).
        choices: the allowed values (validated by the config's `validate`).
        check: "positive" (above 0, finite), "non_negative" (0 or more) or "share" (0 to 1) for numbers;
            "resolution" for an image size (`resolution_problem`).
        resumable: whether `--resume` may change it (it does not change what is learned per step).
    """
    metadata = {"help": help, "flag": flag, "choices": choices, "check": check, "resumable": resumable}
    return field(default=default, default_factory=default_factory, metadata=metadata)


@dataclass
class NetworkConfig:
    """The network sizes of a run. Each field's help text and (for resolution and discriminator)
    `stylex train` flag are in its metadata (`setting`), as for TrainingConfig."""

    resolution: int = setting(32, flag="--resolution", check="resolution",
                              help="image size, a power of two from 16 to 1024")
    c_dim: int = setting(2, help="condition length = the classifier's number of classes")
    z_dim: int = setting(128, help="latent z fed to the mapping network")
    w_dim: int = setting(128, help="intermediate latent w (also the encoder's output size)")
    mapping_layers: int = setting(4, help="depth of the mapping network")
    mapping_lr_mul: float = setting(0.01, help="learning-rate multiplier of the mapping network")
    g_channel_base: int = setting(4096, help="generator feature maps at resolution r: min(base // r, max)")
    g_channel_max: int = setting(128, help="generator feature maps at most (see g_channel_base)")
    d_channel_base: int = setting(4096, help="discriminator and encoder feature maps, same rule")
    d_channel_max: int = setting(128, help="discriminator and encoder feature maps at most")
    mbstd_group: int = setting(4, help="minibatch-stddev group size in D (0 disables)")
    discriminator: str = setting("projection", flag="--discriminator", choices=DISCRIMINATORS,
                                 help="D conditioning: projection (per-class scores weighted by c) or unconditional")
    condition_layers: str = setting(
        "all", flag="--condition-layers", choices=("all", "conv"),
        help="the style layers c reaches: all (the paper's generator) or conv (only the modulated convs, the "
             "StyleSpace AttFind searches by default; the toRGB styles come from w alone), so that what G draws "
             "from c cannot hide in a toRGB layer")
    condition_channels: int = setting(
        0, flag="--condition-channels", check="non_negative",
        help="style channels per layer that c reaches (the first this many of each layer that sees c; the others "
             "follow w alone): what G draws from c then lies in a few StyleSpace coordinates from the first step; "
             "0 = every channel, the paper's generator")
    condition_resolution: int = setting(
        0, flag="--condition-resolution", check="non_negative",
        help="c reaches only the style layers of resolution up to this (4: the first block's), so what G draws "
             "from c is a coarse change, such as a colour over the whole image; 0 = every resolution, the "
             "paper's generator")

    def validate(self) -> NetworkConfig:
        """Raise a one-line StylexError for an impossible resolution, an unknown discriminator or a
        condition resolution below the first block's."""
        for f in dataclasses.fields(self):
            _check_value(f.name, getattr(self, f.name), f.metadata["choices"], f.metadata["check"])
        if 0 < self.condition_resolution < 4:
            raise StylexError(f"condition_resolution {self.condition_resolution}: must be 0 (every resolution) or at "
                              "least 4 (the first block's)")
        return self

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
            condition_layers=self.condition_layers,
            condition_channels=self.condition_channels,
            condition_resolution=self.condition_resolution,
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


@dataclass
class TrainingConfig:
    """One `stylex train` run, fully resolved (written to the run's config.json and checkpoints).

    Every field's help text, `stylex train` flag, allowed values and whether `--resume` may change
    it are in its metadata (`setting` above); `stylex train` builds its flags from them.
    """

    network: NetworkConfig = setting(default_factory=NetworkConfig, help="network sizes (see NetworkConfig)")
    preset: str = setting("cpu-32", help="the preset the defaults came from")
    # Inputs, filled in by the command.
    data: str = setting("", help="dataset spec (see stylex.datasets.open_dataset)")
    classifier: str = setting("", help="classifier file")
    classifier_fingerprint: str = setting("", help="sha256 of the classifier's weights")
    class_names: list = setting(default_factory=list, help="the classifier's class names")
    # Schedule and batch.
    kimg: float = setting(50.0, flag="--kimg", check="positive", resumable=True,
                          help="length of training in thousands of real images (fractional allowed, e.g. 0.5)")
    batch: int = setting(32, flag="--batch", check="positive",
                         help="total batch per optimizer step over all processes and micro-steps")
    batch_gpu: int = setting(0, flag="--batch-gpu", check="non_negative",
                             help="batch per process per micro-step (gradient accumulation when smaller than "
                                  "batch / processes; 0 = batch / processes)")
    # Optimisers (Adam). Learning rates and betas are rescaled for lazy regularization.
    g_lr: float = setting(0.002, flag="--g-lr", check="positive", help="generator learning rate")
    d_lr: float = setting(0.002, flag="--d-lr", check="positive", help="discriminator learning rate")
    e_lr: float = setting(0.002, flag="--e-lr", check="positive", help="encoder learning rate")
    beta1: float = setting(0.0, help="Adam beta1")
    beta2: float = setting(0.99, help="Adam beta2")
    # Adversarial loss and regularization.
    adv_loss: str = setting("logistic", flag="--adv-loss", choices=ADV_LOSSES,
                            help="adversarial loss: logistic (non-saturating, StyleGAN2) or hinge")
    r1_gamma: float = setting(0.1, flag="--r1-gamma",
                              help="R1 regularization weight on real images (lazy, every 16 D steps; 0 disables)")
    r1_interval: int = setting(16, check="positive", help="lazy R1: every this many D steps")
    pl_weight: float = setting(2.0, flag="--pl-weight",
                               help="path-length regularization weight (lazy, every 4 G steps; 0 disables)")
    pl_interval: int = setting(4, check="positive", help="lazy path length: every this many G steps")
    pl_batch_shrink: int = setting(2, check="positive", help="path-length batch = micro-batch / this")
    pl_decay: float = setting(0.01, help="moving-average speed of the path-length target")
    # The StylEx objective (docs/METHOD.md section 3).
    rec_l1: float = setting(1.0, flag="--rec-l1", help="a_x: weight of the L1 reconstruction loss L1(x', x)")
    rec_perceptual: float = setting(0.1, flag="--rec-perceptual",
                                    help="a_p: weight of the perceptual reconstruction loss")
    rec_w: float = setting(0.1, flag="--rec-w", help="a_w: weight of L1(E(x'), E(x))")
    cls_weight: float = setting(1.0, flag="--cls-weight", help="weight of the classifier loss KL(C(x) || C(x'))")
    perceptual: str = setting(
        "ssim", flag="--perceptual", choices=PERCEPTUAL_KINDS,
        help="structure-aware reconstruction distance: ssim (structural similarity; offline, any classifier), "
             "laplacian (L1 of Laplacian-pyramid bands; offline), lpips (needs the lpips package and AlexNet "
             "weights), classifier (the explained classifier's own features: it cannot stop an invisible "
             "solution) or none")
    conditioning: str = setting("probs", flag="--conditioning", choices=CONDITIONINGS,
                                help="condition from the classifier: probs (softmax) or logits")
    alternate: bool = setting(True, flag="--alternate",
                              help="alternate encoder and noise generator steps, one per optimizer step "
                                   "(--no-alternate: both in every step)")
    encoder_only: bool = setting(False, flag="--encoder-only",
                                 help="train the generator only on reconstructions (no noise steps)")
    warmup_kimg: float = setting(
        0.0, flag="--warmup-kimg",
        help="autoencoder warm-up: the first this many kimg train only G and E on the reconstruction terms (no D, "
             "no classifier KL, no noise steps), so G can draw the features before the KL term can be met by "
             "changes nobody sees; 0 = off, the paper's method")
    condition_sparsity: float = setting(
        0.0, flag="--condition-sparsity", check="non_negative",
        help="weight of a group-lasso penalty on the condition's weights in G's affine layers (the sum over all "
             "style channels of the L2 norm of each channel's weights on c): it leaves c few style channels to act "
             "through, so what the classifier sees can land in a few StyleSpace coordinates; 0 = off, the "
             "paper's generator")
    latent_cycle: float = setting(
        0.0, flag="--latent-cycle", check="non_negative",
        help="weight of L1(E(G(w, c)), w) on noise steps (images without style mixing), which also trains E there: "
             "it keeps E's codes of real images where the mapping network's lie, where G follows c; 0 = off, the "
             "paper's objective")
    condition_swap: float = setting(
        0.0, flag="--condition-swap", check="share",
        help="share of each reconstruction batch (after the warm-up) rendered from its own E(x) with the condition "
             "of an image of another class, G(E(x), c_other), and trained only to be that class (classifier KL "
             "toward the other image's C) and to look real under its condition (the adversarial term): G must then "
             "follow c on reconstructions, not only on noise samples; 0 = off, the paper's objective")
    style_mixing: float = setting(0.9, flag="--style-mixing", help="probability of style mixing on noise steps")
    ema_kimg: float = setting(10.0, flag="--ema-kimg", help="EMA half-life of G and E in thousands of images")
    ema_rampup: float = setting(0.05, flag="--ema-rampup",
                                help="EMA half-life at most this fraction of images seen (0 = off)")
    augment: str = setting("translation,cutout,color", flag="--augment",
                           help="DiffAugment ops for all D inputs: comma list of translation, cutout, color, "
                                "or none")
    augment_p: float = setting(1.0, flag="--augment-p", help="probability of each augmentation op per image")
    # Speed.
    precision: str = setting("fp32", flag="--precision", choices=PRECISIONS,
                             help="fp32, bf16 or fp16 (autocast on CUDA; CPU always fp32)")
    channels_last: bool = setting(False, flag="--channels-last", help="channels_last memory format (CUDA)")
    tf32: bool = setting(True, flag="--tf32", help="allow TF32 matmuls/convolutions on CUDA")
    compile: bool = setting(False, flag="--compile", help="torch.compile the main forward passes")
    workers: int = setting(0, flag="--workers", check="non_negative", resumable=True,
                           help="data-loading worker processes per training process")
    # Bookkeeping.
    tick_kimg: float = setting(1.0, flag="--tick", resumable=True,
                               help="progress and stats.jsonl line every this many kimg")
    snap_kimg: float = setting(10.0, flag="--snap", resumable=True,
                               help="checkpoint every this many kimg (also at the end and on SIGINT/SIGTERM)")
    keep_checkpoints: int = setting(3, flag="--keep", check="non_negative", resumable=True,
                                    help="keep the newest this many checkpoints (0 = all)")
    sample_every_kimg: float = setting(10.0, flag="--sample-every", resumable=True,
                                       help="sample grid every this many kimg")
    metrics_every_kimg: float = setting(10.0, flag="--metrics-every", resumable=True,
                                        help="held-out metrics every this many kimg (0 = at the end only)")
    metrics_images: int = setting(256, flag="--metrics-images", check="positive", resumable=True,
                                  help="held-out images used by the metrics")
    max_bad_steps: int = setting(20, flag="--max-bad-steps", check="positive", resumable=True,
                                 help="stop after this many non-finite steps in a row")
    seed: int = setting(0, help="random seed (`stylex train --seed`)")

    def __post_init__(self):
        self.validate()

    def validate(self) -> TrainingConfig:
        """Raise a one-line StylexError for a value outside a field's choices or checks (and the
        network's); returns the configuration."""
        for f in dataclasses.fields(self):
            _check_value(f.name, getattr(self, f.name), f.metadata.get("choices"), f.metadata.get("check"))
        if isinstance(self.network, NetworkConfig):
            self.network.validate()
        return self


def _check_value(name: str, value, choices, check) -> None:
    if choices is not None and value not in choices:
        raise StylexError(f"{name} {value!r} is unknown; allowed: {', '.join(choices)}")
    if check == "positive" and not (isinstance(value, (int, float)) and 0 < value < float("inf")):
        raise StylexError(f"{name} {value!r} is not allowed; it must be a finite number above 0")
    if check == "non_negative" and not (isinstance(value, (int, float)) and 0 <= value < float("inf")):
        raise StylexError(f"{name} {value!r} is not allowed; it must be 0 or more")
    if check == "share" and not (isinstance(value, (int, float)) and 0 <= value <= 1):
        raise StylexError(f"{name} {value!r} is not allowed; it must be a share from 0 to 1")
    if check == "resolution" and (problem := resolution_problem(value)):
        raise StylexError(f"{name} {problem}")


def training_fields() -> list[dataclasses.Field]:
    """The TrainingConfig fields, with their metadata (help, flag, choices, check, resumable)."""
    return list(dataclasses.fields(TrainingConfig))


def network_fields() -> list[dataclasses.Field]:
    """The NetworkConfig fields, with their metadata (help, flag, choices, check)."""
    return list(dataclasses.fields(NetworkConfig))


RESUMABLE = frozenset(f.name for f in dataclasses.fields(TrainingConfig) if f.metadata["resumable"])
# The network fields a run's settings may give (those with a `stylex train` flag); the rest come from the preset.
NETWORK_SETTINGS = tuple(f.name for f in dataclasses.fields(NetworkConfig) if f.metadata["flag"])


@dataclass(frozen=True)
class Preset:
    """A named starting point: the network sizes and the schedule/optimiser settings."""

    name: str
    network: NetworkConfig
    schedule: dict  # TrainingConfig fields the preset sets (the others keep TrainingConfig's defaults)

    def training_config(self) -> TrainingConfig:
        return TrainingConfig(network=dataclasses.replace(self.network), preset=self.name, **self.schedule)

    def value(self, name: str):
        """What this preset gives TrainingConfig field `name`."""
        return getattr(self.training_config(), name)


PRESETS: dict[str, Preset] = {
    # The demo on a 2-core CPU (about 27 minutes with two threads; docs/FIDELITY.md has the ablation):
    # an autoencoder warm-up of 150 kimg (G and E on L1 + SSIM only, 4 s/kimg), then 150 kimg of the
    # full objective (6.6 s/kimg): without the warm-up the KL term was met invisibly and the
    # reconstructions kept no mouth, eyes or pose; SSIM weighted like L1 (10 each), because L1 alone
    # averages a few-pixel mouth away. Earlier 8-24 kimg probes chose R1 gamma 10 (with 0.05 D turned
    # sharp within 3 kimg and G answered with per-pixel speckle), no path length, style mixing or
    # augmentation (the world is plentiful; StyleGAN2-ADA's 32 px setting drops them too).
    # Network: 32 px; G has 128 channels at 4-8 px, 64 at 16 px, 32 at 32 px; D and E half that from 8 px
    # up (measured: 128 everywhere trains about 3x slower per image; 4x E channels 2.6x slower per step).
    # c reaches few conv styles and reconstructions must follow it (docs/FIDELITY.md row 15, docs/SHORTCUT.md S3).
    "cpu-32": Preset("cpu-32", NetworkConfig(g_channel_base=1024, d_channel_base=512, condition_layers="conv"), dict(
        kimg=300.0, warmup_kimg=150.0, batch=16, r1_gamma=10.0, rec_l1=10.0, rec_perceptual=10.0, perceptual="ssim",
        pl_weight=0.0, style_mixing=0.0, augment="", ema_kimg=2.0, tick_kimg=1.0, snap_kimg=20.0,
        sample_every_kimg=20.0, metrics_every_kimg=20.0, metrics_images=256, condition_sparsity=0.005,
        condition_swap=0.25)),
    # The earlier PyTorch reproduction's scale (64 px), on one or a few GPUs.
    "repro-64": Preset("repro-64", NetworkConfig(
        resolution=64, z_dim=512, w_dim=512, mapping_layers=8,
        g_channel_base=4096, g_channel_max=512, d_channel_base=4096, d_channel_max=512,
    ), dict(
        kimg=5000.0, batch=32, r1_gamma=0.1, ema_kimg=10.0, tick_kimg=4.0, snap_kimg=100.0, sample_every_kimg=50.0,
        metrics_every_kimg=200.0, metrics_images=1000, workers=4)),
    # The paper's: 256 px StyleGAN2 config F (5,760 modulated-conv style coordinates), batch 16, about
    # 250k iterations (4,000 kimg), 8 GPUs.
    "paper-256": Preset("paper-256", NetworkConfig(
        resolution=256, z_dim=512, w_dim=512, mapping_layers=8,
        g_channel_base=32768, g_channel_max=512, d_channel_base=32768, d_channel_max=512,
    ), dict(
        kimg=4000.0, batch=16, r1_gamma=10.0, ema_kimg=5.0, tick_kimg=4.0, snap_kimg=100.0, sample_every_kimg=50.0,
        metrics_every_kimg=200.0, metrics_images=1000, workers=4)),
}
# The two halves of each preset (sizes are printed by `stylex info --preset NAME`).
NETWORK_PRESETS: dict[str, NetworkConfig] = {name: p.network for name, p in PRESETS.items()}
TRAINING_PRESETS: dict[str, dict] = {name: p.schedule for name, p in PRESETS.items()}


def preset(name: str) -> Preset:
    if name not in PRESETS:
        raise StylexError(f"--preset {name}: unknown preset; allowed: {', '.join(PRESETS)}")
    return PRESETS[name]


def network_preset(name: str) -> NetworkConfig:
    return dataclasses.replace(preset(name).network)


def training_preset(name: str) -> TrainingConfig:
    """The training configuration of a preset (its network preset included)."""
    return preset(name).training_config()


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
