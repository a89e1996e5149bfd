"""Taylor-screened AttFind effects: exact effects for the few edits a first-order estimate ranks
highest, instead of all 2S of them.

For one image with style vector s, the effect of moving coordinate k to its edited value v[d, k]
is, to first order, grad_s logit_c(G(s))[k] * (v[d, k] - s[k]). One forward and one backward pass
(the image repeated once per class, each copy differentiating its own class's logit) give this
estimate for every (direction, coordinate, class). For each class the `candidates` edits with the
largest estimated increase of that class's logit are then computed exactly with the batched path
(`effects.ExactEffects` with `edits`): AttFind's selection looks for the edits that push images
toward a class, and the strongest of those are what the screen keeps.

The result has the shape and meaning of the exact effects: exact where `computed` is True, the
first-order estimate elsewhere (those are the small effects; the selection's means over images
still count them). Discriminator changes are only computed for the exact edits (0 elsewhere).
The rendered images are clamped to [-1, 1] before the classifier, in the estimate as in the exact
effects.
On the cpu-32 demo model the estimates correlate 0.97 with the exact effects; see
benchmarks/RESULTS.md for how many of the exact top-10 attributes this finds and how fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch

from stylex.attfind.effects import EffectMethod, ExactEffects, ImageEffects
from stylex.maths import clamp_images
from stylex.networks.generator import Generator
from stylex.stylespace import StyleSpace

DEFAULT_CANDIDATES = 8  # exact edits per class and image (see benchmarks/RESULTS.md for the trade-off)


def taylor_estimates(
    G: Generator,
    classifier: Callable[[torch.Tensor], torch.Tensor],
    styles: list[torch.Tensor],
    space: StyleSpace,
    values: torch.Tensor,
) -> torch.Tensor:
    """First-order estimate of every effect of one image: [2, S, C].

    Args:
        G, classifier, styles: as in `effects.EffectMethod.effects`; space: the edited StyleSpace.
        values: [2, S] the edited value of every coordinate (`EditSpec.values`).
    """
    flat = space.flatten(styles)  # [1, S]
    num_classes = getattr(classifier, "num_classes", None)
    if num_classes is None:
        num_classes = classifier(clamp_images(G.synthesis(styles, noise_mode="const"))).shape[1]
    with torch.enable_grad():
        # One copy of the image per class; copy c differentiates logit c, so one backward pass
        # gives the whole Jacobian d logits / d s. The image is clamped as the exact effects see it
        # (pixels outside [-1, 1] have zero gradient).
        s = flat.detach().expand(num_classes, -1).clone().requires_grad_(True)
        base = [t.detach().expand(num_classes, -1) for t in styles]
        logits = classifier(clamp_images(G.synthesis(space.unflatten(s, base), noise_mode="const")))
        (jacobian,) = torch.autograd.grad(logits.float().diagonal().sum(), s)  # [C, S]
    shift = values - flat.detach()  # [2, S]
    return shift.unsqueeze(-1) * jacobian.t().unsqueeze(0)


def screen(estimate: torch.Tensor, candidates: int) -> torch.Tensor:
    """[2, S] bool: for each class, the `candidates` (direction, coordinate) edits with the largest
    estimated increase of its logit; the union over classes.

    Args:
        estimate: [2, S, C] estimated effects (`taylor_estimates`).
        candidates: edits kept per class (all of them if there are fewer).
    """
    two, size, num_classes = estimate.shape
    keep = torch.zeros(two * size, dtype=torch.bool, device=estimate.device)
    per_class = estimate.reshape(two * size, num_classes)
    k = min(candidates, two * size)
    for c in range(num_classes if k else 0):
        keep[per_class[:, c].topk(k).indices] = True
    return keep.reshape(two, size)


@dataclass
class TaylorEffects(EffectMethod):
    """The effects of one image: exact (with `ExactEffects`) for the Taylor-screened candidates, the
    first-order estimate elsewhere (`computed` says which).

    Args:
        candidates: exact edits per class (see `screen`; 0: the estimates alone).
        batch, precision: as in `ExactEffects`.
    """

    name: ClassVar[str] = "taylor"
    partial: ClassVar[bool] = True
    candidates: int = DEFAULT_CANDIDATES
    batch: int | None = None
    precision: str = "fp32"

    def __post_init__(self):
        self.candidates = int(self.candidates)
        self._exact = ExactEffects(self.batch, self.precision)

    @torch.no_grad()
    def effects(self, G, classifier, styles, spec, discriminator=None) -> ImageEffects:
        estimate = taylor_estimates(G, classifier, styles, spec.space, spec.values(spec.space.flatten(styles)[0]))
        wanted = screen(estimate, self.candidates)
        result = self._exact.effects(G, classifier, styles, spec, discriminator, edits=wanted)
        result.effect = torch.where(wanted.unsqueeze(-1), result.effect, estimate.to(result.effect))
        return result
