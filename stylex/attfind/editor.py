"""Edit, render and classify the analysed images of a records file: the one tool the figures and
the evaluation share.

Coordinates are flat indices of the records' analysed StyleSpace; directions are 0 (toward the
coordinate's minimum over the analysed images) and 1 (toward its maximum). An edit moves a
coordinate `shift` of the way to its extreme (the records' shift unless told otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from stylex.attfind.selection import Edit
from stylex.maths import clamp_images, from_uint8
from stylex.runtime import map_batches


class Editor:
    """Renders edited style vectors of the records' images with G and classifies them.

    Args:
        G: the generator the records were made with (eval mode, on `device`).
        classifier: images in [-1, 1] -> logits (on `device`); may differ from the records' one
            (classifier-specificity applies run A's attributes to classifier B).
        records: a loaded `Records`.
        device: where G and the classifier run.
        batch: images per render / classifier call.
    """

    def __init__(self, G, classifier, records, device="cpu", batch: int = 64):
        self.G, self.classifier, self.records = G, classifier, records
        self.device = torch.device(device)
        self.batch = batch
        self.styles = torch.from_numpy(records.styles).float()  # [N, S_all] on the CPU
        self.full_index = torch.from_numpy(records.full_index)
        self.style_min = torch.from_numpy(records.style_min).float()
        self.style_max = torch.from_numpy(records.style_max).float()
        self.full_space = records.full_space
        self.space = records.space
        self.class_names = records.class_names

    @property
    def num_images(self) -> int:
        return len(self.styles)

    def coordinate_values(self, rows) -> torch.Tensor:
        """[len(rows), S] analysed coordinates of the given images."""
        return self.styles[torch.as_tensor(rows, dtype=torch.long)][:, self.full_index]

    def target(self, coordinate: int, direction: int) -> float:
        """The extreme an edit moves toward."""
        return float((self.style_max if direction else self.style_min)[coordinate])

    def edited(self, rows, edits: Iterable[Edit], shift: float | None = None) -> torch.Tensor:
        """Style vectors [len(rows), S_all] of the images with every edit applied."""
        shift = self.records.shift if shift is None else shift
        flat = self.styles[torch.as_tensor(rows, dtype=torch.long)].clone()
        for coordinate, direction in edits:
            column = int(self.full_index[coordinate])
            flat[:, column] += shift * (self.target(coordinate, direction) - flat[:, column])
        return flat

    def with_value(self, rows, coordinate: int, value: float) -> torch.Tensor:
        """Style vectors of the images with one coordinate set to `value` (for sweeps)."""
        flat = self.styles[torch.as_tensor(rows, dtype=torch.long)].clone()
        flat[:, int(self.full_index[coordinate])] = value
        return flat

    @torch.no_grad()
    def with_condition(self, rows, condition) -> torch.Tensor:
        """Style vectors [len(rows), S_all] of the images' latents w with `condition` [C] in place of
        their own condition c (the generator's affine layers read [w, condition])."""
        rows = torch.as_tensor(rows, dtype=torch.long)
        w = torch.from_numpy(np.asarray(self.records.latents))[rows].float().to(self.device)
        c = torch.as_tensor(np.asarray(condition), dtype=torch.float32, device=self.device).expand(len(rows), -1)
        return self.full_space.flatten(self.G.styles(w, c)).float().cpu()

    @torch.no_grad()
    def render(self, flat: torch.Tensor) -> torch.Tensor:
        """Images [B, 3, R, R] (on the CPU) from full style vectors [B, S_all], clamped to [-1, 1] as
        the records' effects see them."""
        def render(part):
            styles = self.full_space.unflatten(part.to(self.device))
            return clamp_images(self.G.synthesis(styles, noise_mode="const")).cpu()

        return map_batches(render, flat, self.batch)

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Classifier logits [B, C] (on the CPU)."""
        return map_batches(lambda x: self.classifier(x.to(self.device)).float().cpu(), images, self.batch)

    def base_images(self, rows=None) -> torch.Tensor:
        """The reconstructions G(s) of the given images (all by default)."""
        rows = np.arange(self.num_images) if rows is None else rows
        return self.render(self.styles[torch.as_tensor(rows, dtype=torch.long)])

    def real_images(self, rows=None) -> torch.Tensor:
        """The original images stored in the records, in [-1, 1]."""
        rows = np.arange(self.num_images) if rows is None else np.asarray(rows)
        return from_uint8(self.records.images[rows])
