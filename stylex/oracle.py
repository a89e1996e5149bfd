"""The factor oracle: estimates every world factor from any image, including GAN output.

Why a network and not pixel probes: AttFind's ground-truth evaluation asks which factor an edit
of a *generated* image changed, and generated faces are blurry, slightly shifted and noisy. A
small multi-head CNN trained on freshly rendered world faces with blur, noise and colour jitter
is robust to that where exact pixel measurements are brittle. It sees 32 px images (larger
inputs are downsampled with antialiasing), trains in about a minute on one CPU core, and its
weights (fp16, ~0.35 MB) ship in the package; when the world's rendering version changes they
are retrained into the user's cache directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stylex.errors import StylexError
from stylex.runtime import atomic_torch_save, in_batches, safe_torch_load
from stylex.world import FACTORS, WORLD_VERSION, render, sample_factors

ORACLE_RESOLUTION = 32
PACKAGED_WEIGHTS = Path(__file__).with_name("world_oracle.pt")
FORMAT = "stylex-world-oracle"


def default_cache_path() -> Path:
    """Where retrained oracle weights go: $STYLEX_CACHE, else $XDG_CACHE_HOME/stylex, else ~/.cache/stylex."""
    base = os.environ.get("STYLEX_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "stylex"
    return Path(base) / f"world_oracle_v{WORLD_VERSION}.pt"


class OracleNet(nn.Module):
    """Shared conv trunk on 32 px images (kept spatial: pose is a position) and one head per factor."""

    def __init__(self, width: int = 24):
        super().__init__()
        layers, c_in = [], 3
        for c in (width, 2 * width, round(8 / 3 * width)):
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                       nn.Conv2d(c, c, 3, stride=2, padding=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            c_in = c
        self.trunk = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * 16, 64), nn.ReLU(inplace=True))
        self.heads = nn.ModuleDict({f.name: nn.Linear(64, f.cardinality) for f in FACTORS})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.trunk(x)
        return {name: head(h) for name, head in self.heads.items()}


def to_oracle_input(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] images of any square size -> 32 px (antialiased when shrinking)."""
    if images.shape[-1] != ORACLE_RESOLUTION or images.shape[-2] != ORACLE_RESOLUTION:
        images = F.interpolate(images, size=(ORACLE_RESOLUTION, ORACLE_RESOLUTION), mode="bilinear",
                               align_corners=False, antialias=images.shape[-1] > ORACLE_RESOLUTION)
    return images


def degrade(images: torch.Tensor, gen: torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """GAN-like damage: per-image Gaussian blur (sigma up to 1.2 px), noise, colour jitter."""
    n = images.shape[0]
    sigma = torch.rand(n, generator=gen) * 1.2 * strength + 1e-3
    r = torch.arange(-2, 3, dtype=torch.float32)
    k1 = torch.exp(-(r[None] ** 2) / (2 * sigma[:, None] ** 2))
    k1 = k1 / k1.sum(1, keepdim=True)
    k2 = (k1[:, :, None] * k1[:, None, :]).repeat_interleave(3, 0)[:, None]  # [3N, 1, 5, 5]
    x = F.conv2d(F.pad(images.reshape(1, 3 * n, *images.shape[-2:]), (2, 2, 2, 2), mode="replicate"),
                 k2, groups=3 * n).reshape_as(images)
    gain = 1 + (torch.rand(n, 3, 1, 1, generator=gen) - 0.5) * 0.15 * strength
    offset = (torch.rand(n, 3, 1, 1, generator=gen) - 0.5) * 0.15 * strength
    noise = torch.randn(x.shape, generator=gen) * torch.rand(n, 1, 1, 1, generator=gen) * 0.08 * strength
    return (x * gain + offset + noise).clamp(-1, 1)


class FactorOracle(nn.Module):
    """Frozen oracle: images in [-1, 1] (any square size) -> per-factor predictions.

    Attributes: factors (the world's Factor tuple), path (weights file), accuracy (per factor,
    measured when the weights were trained: {"clean": {...}, "degraded": {...}}).
    """

    def __init__(self, net: OracleNet, path: Path | None = None, accuracy: dict | None = None):
        super().__init__()
        self.net = net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.factors = FACTORS
        self.path = path
        self.accuracy = accuracy or {}

    def train(self, mode: bool = True) -> FactorOracle:
        """Always in eval mode."""
        self.training = False
        self.net.eval()
        return self

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits per factor: name -> [N, cardinality]."""
        return self.net(to_oracle_input(images))

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor, batch_size: int = 512) -> dict[str, torch.Tensor]:
        """Softmax per factor, batched, on CPU: name -> [N, cardinality]."""
        device = next(self.net.parameters()).device
        parts = [self(x.to(device)) for x in in_batches(images, batch_size)]
        return {f.name: torch.cat([p[f.name] for p in parts]).softmax(1).cpu() for f in FACTORS}

    def predict(self, images: torch.Tensor, batch_size: int = 512) -> dict[str, torch.Tensor]:
        """Most likely value per factor: name -> LongTensor [N]."""
        return {k: v.argmax(1) for k, v in self.probabilities(images, batch_size).items()}


@torch.no_grad()
def evaluate_oracle(oracle: FactorOracle, n: int = 2000, seed: int = 12345, degraded: bool = False,
                    resolution: int = ORACLE_RESOLUTION) -> dict[str, float]:
    """Per-factor accuracy on `n` fresh world images (optionally degraded, rendered at `resolution`)."""
    values = sample_factors(n, seed)
    images = render(values, resolution)
    if degraded:
        images = degrade(images, torch.Generator().manual_seed(seed))
    pred = oracle.predict(images)
    return {f.name: (pred[f.name].numpy() == values[f.name]).mean().item() for f in FACTORS}


def train_oracle(steps: int = 400, batch_size: int = 128, seed: int = 0, out: str | Path | None = None,
                 progress: bool = True, log=print) -> FactorOracle:
    """Train the oracle on freshly rendered, degraded world images (new images every step).

    steps / batch_size: optimisation length (the default takes about a minute on one CPU core).
    seed: seeds factors, damage and initialisation.
    out: where to save the weights (fp16, with the world version and measured accuracy).
    progress / log: progress bar, and where the accuracy line goes.
    """
    from tqdm import tqdm

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = OracleNet()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.15)
    net.train()
    for _ in tqdm(range(steps), desc="training world oracle", unit="step", disable=not progress):
        values = sample_factors(batch_size, rng)
        images = render(values, ORACLE_RESOLUTION)
        half = batch_size // 4  # a quarter stays clean
        images[half:] = degrade(images[half:], gen)
        logits = net(images)
        loss = sum(F.cross_entropy(logits[f.name], torch.as_tensor(values[f.name])) for f in FACTORS)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    oracle = FactorOracle(net)
    oracle.accuracy = {"clean": evaluate_oracle(oracle), "degraded": evaluate_oracle(oracle, degraded=True)}
    clean, damaged = oracle.accuracy["clean"], oracle.accuracy["degraded"]
    log("oracle accuracy (clean / degraded): " + ", ".join(f"{k} {clean[k]:.3f}/{damaged[k]:.3f}" for k in clean))
    if out is not None:
        save_oracle(oracle, out)
        oracle.path = Path(out)
    return oracle


def save_oracle(oracle: FactorOracle, path: str | Path) -> None:
    """Write the oracle's weights (fp16) with the world version they were trained on."""
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in oracle.net.state_dict().items()}
    atomic_torch_save({"format": FORMAT, "world_version": WORLD_VERSION, "accuracy": oracle.accuracy,
                       "state_dict": state}, path)


def _read(path: Path) -> FactorOracle | None:
    """The oracle in `path`, or None when it was trained on another world version."""
    ckpt = safe_torch_load(path, "oracle weights")
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise StylexError(f"{path} is not a stylex world oracle file; delete it to retrain")
    if ckpt.get("world_version") != WORLD_VERSION:
        return None
    net = OracleNet()
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()})
    return FactorOracle(net, path, ckpt.get("accuracy"))


def load_oracle(path: str | Path | None = None, device="cpu", train_if_missing: bool = True,
                progress: bool = True) -> FactorOracle:
    """The factor oracle for the current world version.

    path: a weights file to use (trained into it when missing); default: the packaged weights,
      else the cache file (`default_cache_path()`), trained there when missing or stale.
    device: where it runs.
    train_if_missing: if False, a missing or stale oracle is a StylexError instead of ~1 min training.
    progress: progress bar when training.
    """
    candidates = [Path(path)] if path is not None else [PACKAGED_WEIGHTS, default_cache_path()]
    for candidate in candidates:
        if candidate.is_file():
            oracle = _read(candidate)
            if oracle is not None:
                return oracle.to(device)
    target = candidates[-1]
    if not train_if_missing:
        raise StylexError(f"no world oracle for world version {WORLD_VERSION} at {target}; "
                          "run stylex.oracle.train_oracle(out=...) or allow training")
    return train_oracle(out=target, progress=progress).to(device)
