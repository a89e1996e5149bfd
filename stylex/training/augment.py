"""DiffAugment (Zhao et al. 2020): differentiable translation, cutout and colour changes applied to
every image the discriminator sees, so D cannot memorise a small training set.

Each op is applied to each image independently with probability `p`. The random numbers come from
the augmenter's own generator, whose state is saved in checkpoints, so a resumed run draws the same
augmentations as an uninterrupted one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from stylex.errors import StylexError

OPS = ("translation", "cutout", "color")


def parse_ops(spec: str) -> tuple[str, ...]:
    """`"translation,cutout,color"` -> tuple of op names; `""` or `"none"` -> no ops."""
    ops = tuple(op.strip() for op in spec.split(",") if op.strip() and op.strip() != "none")
    unknown = [op for op in ops if op not in OPS]
    if unknown:
        raise StylexError(f"--augment {spec}: unknown op(s) {', '.join(unknown)}; allowed: {', '.join(OPS)}, none")
    return ops


def _color(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5), with uniforms u [N, 3]."""
    x = x + (u[:, 0] - 0.5).view(-1, 1, 1, 1)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (u[:, 1] * 2).view(-1, 1, 1, 1) + mean
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (u[:, 2] + 0.5).view(-1, 1, 1, 1) + mean


def _translate(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Shift each image by whole pixels: output (r, c) shows input (r + shift[n, 0], c + shift[n, 1]),
    zero where that falls outside the image."""
    n, _, h, w = x.shape
    rows = torch.arange(h, device=x.device).view(1, h, 1) + shift[:, 0].view(n, 1, 1) + 1
    cols = torch.arange(w, device=x.device).view(1, 1, w) + shift[:, 1].view(n, 1, 1) + 1
    # Indices that fall outside the image land on the one-pixel zero border of the padded copy.
    rows, cols = rows.clamp(0, h + 1), cols.clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded[batch, rows, cols].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, centre: torch.Tensor, size: int) -> torch.Tensor:
    """Zero a size x size square centred at centre [N, 2] in each image."""
    n, _, h, w = x.shape
    rows = torch.arange(h, device=x.device).view(1, h, 1) - centre[:, 0].view(n, 1, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w) - centre[:, 1].view(n, 1, 1)
    half = size // 2
    inside = (rows >= -half) & (rows < size - half) & (cols >= -half) & (cols < size - half)
    return x * (~inside).unsqueeze(1).to(x.dtype)


class DiffAugment:
    """Callable augmenter.

    Args:
        ops: op names from OPS, applied in that order.
        p: probability that an op is applied to an image (each op and image drawn independently).
        device: where the random numbers are drawn.
        seed: seed of the augmenter's own random generator.
        translation: largest shift as a fraction of the image size (DiffAugment: 1/8).
        cutout: side of the cut-out square as a fraction of the image size (DiffAugment: 1/2).
    """

    def __init__(self, ops=OPS, p=1.0, device="cpu", seed=0, translation=0.125, cutout=0.5):
        self.ops, self.p = tuple(ops), float(p)
        self.translation, self.cutout = translation, cutout
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def _rand(self, *shape, like):
        return torch.rand(*shape, generator=self.generator, device=like.device, dtype=torch.float32)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not self.ops or self.p <= 0:
            return x
        n, _, h, w = x.shape
        for op in self.ops:
            apply = self._rand(n, like=x) < self.p
            if op == "color":
                y = _color(x, self._rand(n, 3, like=x).to(x.dtype))
            elif op == "translation":
                limit = torch.tensor([int(s * self.translation + 0.5) for s in (h, w)], device=x.device)
                shift = (self._rand(n, 2, like=x) * (2 * limit + 1)).floor().long() - limit
                y = _translate(x, shift)
            else:
                size = int(h * self.cutout + 0.5)
                centre = (self._rand(n, 2, like=x) * torch.tensor([h, w], device=x.device)).floor().long()
                y = _cutout(x, centre, size)
            x = torch.where(apply.view(n, 1, 1, 1), y, x)
        return x

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
