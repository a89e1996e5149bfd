"""Small maths that training, AttFind and the evaluation all use, defined once (docs/METHOD.md
sections 3-6): the condition derived from classifier logits, the [-1, 1] clamp of generated images,
the KL of two classifier outputs, Fréchet distances, and the [-1, 1] <-> uint8 pixel conversion.

This module imports nothing of stylex, so any layer (training, attfind, evaluate, figures) can use
it without depending on another.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"  # what torchmetrics' FID loads

# -- the classifier's output as a condition -----------------------------------------------------


def condition_from_logits(logits: torch.Tensor, mode: str) -> torch.Tensor:
    """The generator's condition from classifier logits: `probs` (softmax) or `logits` (as is)."""
    return F.softmax(logits.float(), dim=1) if mode == "probs" else logits.float()


def discriminator_condition(logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's condition from classifier logits: always the softmax probabilities
    (whatever the generator's conditioning)."""
    return F.softmax(logits.float(), dim=1)


def kl_divergence(target_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """KL(softmax(target) || softmax(logits)), summed over classes, averaged over the batch."""
    target_log_p = F.log_softmax(target_logits.float(), dim=1)
    log_q = F.log_softmax(logits.float(), dim=1)
    return (target_log_p.exp() * (target_log_p - log_q)).sum(dim=1).mean()


# -- images --------------------------------------------------------------------------------------


def clamp_images(images: torch.Tensor) -> torch.Tensor:
    """A generated image as the classifier must see it: clamped to [-1, 1] (as it is rendered and
    evaluated). The gradient is zero where a pixel lies outside the range (torch.clamp)."""
    return images.clamp(-1, 1)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (any shape, e.g. [N, 3, R, R] or [3, R, R]) -> uint8 in 0..255, same shape,
    on the CPU; values outside [-1, 1] are clamped."""
    return ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def from_uint8(pixels) -> torch.Tensor:
    """uint8 pixels (a tensor or a NumPy array, any shape) -> float32 in [-1, 1], same shape."""
    if not isinstance(pixels, torch.Tensor):
        pixels = torch.from_numpy(np.asarray(pixels))
    return pixels.float() / 127.5 - 1.0


# -- Fréchet distances ---------------------------------------------------------------------------


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance of Gaussians fitted to two feature sets [N, F] (float64 throughout):
    |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))."""
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T).reshape(a.shape[1], -1), torch.cov(b.T).reshape(b.shape[1], -1)
    # tr((S_a S_b)^(1/2)) = sum of square roots of the eigenvalues of S_a S_b (real, >= 0 in theory).
    eig = torch.linalg.eigvals(cov_a @ cov_b).real.clamp(min=0)
    return float((mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * eig.sqrt().sum())


def inception_fid_available() -> bool:
    """torchmetrics' FID can run offline: the package imports and its weights are in the torch hub dir."""
    try:
        import torchmetrics.image.fid  # noqa: F401
    except ImportError:
        return False
    return (Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE).is_file()


def inception_fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Inception FID (torchmetrics) of two image batches in [-1, 1] (clamped first)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(normalize=True).to(real.device)
    fid.update((real.clamp(-1, 1) + 1) / 2, real=True)
    fid.update((fake.clamp(-1, 1) + 1) / 2, real=False)
    return float(fid.compute())
