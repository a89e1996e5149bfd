"""StyleSpace: the coordinates of a generator's style vectors.

A generator's styles are a list of per-layer tensors [N, channels]. StyleSpace names every channel
of the included layers with one flat index (modulated convolutions only by default, as in the
paper; toRGB layers optionally), maps flat index <-> (layer, channel), flattens and unflattens,
and builds batches of edited style vectors without touching any weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class StyleLayer:
    name: str  # e.g. "b16.conv1"
    kind: str  # "conv" (modulated 3x3 convolution) or "torgb"
    resolution: int
    channels: int  # length of this layer's style vector


class StyleSpace:
    """Flat coordinates over the included style layers, in synthesis order."""

    def __init__(self, layers: tuple[StyleLayer, ...], include_torgb: bool = False):
        self.layers = tuple(layers)
        self.include_torgb = include_torgb
        self.included = tuple(i for i, l in enumerate(self.layers) if include_torgb or l.kind == "conv")
        offsets, total = [], 0
        for i in self.included:
            offsets.append(total)
            total += self.layers[i].channels
        self.offsets = tuple(offsets)  # flat index of channel 0 of each included layer
        self.size = total
        # Lookup tables from a flat index to its (layer, channel).
        self._layer_of = torch.cat(
            [torch.full((self.layers[i].channels,), i, dtype=torch.long) for i in self.included]
        )
        self._channel_of = torch.cat([torch.arange(self.layers[i].channels) for i in self.included])

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        kinds = "conv+torgb" if self.include_torgb else "conv"
        return f"StyleSpace(S={self.size}, layers={len(self.included)} {kinds})"

    def locate(self, flat: int) -> tuple[int, int]:
        """Flat index -> (layer number in the generator, channel)."""
        if not 0 <= flat < self.size:
            raise IndexError(f"style coordinate {flat} out of range 0..{self.size - 1}")
        return int(self._layer_of[flat]), int(self._channel_of[flat])

    def flat_index(self, layer: int | str, channel: int) -> int:
        """(layer number or name, channel) -> flat index."""
        if isinstance(layer, str):
            layer = [l.name for l in self.layers].index(layer)
        if layer not in self.included:
            raise KeyError(f"layer {self.layers[layer].name} is not part of this StyleSpace")
        if not 0 <= channel < self.layers[layer].channels:
            raise IndexError(f"channel {channel} out of range for {self.layers[layer].name}")
        return self.offsets[self.included.index(layer)] + channel

    def name(self, flat: int) -> str:
        """Human-readable coordinate name, e.g. `b16.conv1[37]`."""
        layer, channel = self.locate(flat)
        return f"{self.layers[layer].name}[{channel}]"

    def layer_of(self, flat: torch.Tensor) -> torch.Tensor:
        """Vectorised flat index -> layer number."""
        return self._layer_of.to(flat.device)[flat]

    def flatten(self, styles: list[torch.Tensor]) -> torch.Tensor:
        """Per-layer styles -> [N, S] (included layers only)."""
        return torch.cat([styles[i] for i in self.included], dim=1)

    def unflatten(self, flat: torch.Tensor, base: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        """[N, S] -> per-layer styles. Excluded layers (toRGB by default) are taken from `base`."""
        if flat.shape[-1] != self.size:
            raise ValueError(f"expected {self.size} style coordinates, got {flat.shape[-1]}")
        out: list[torch.Tensor | None] = [None] * len(self.layers)
        for i, offset in zip(self.included, self.offsets):
            out[i] = flat[:, offset : offset + self.layers[i].channels]
        for i in range(len(self.layers)):
            if out[i] is None:
                if base is None:
                    raise ValueError(f"unflatten needs `base` styles for the excluded layer {self.layers[i].name}")
                out[i] = base[i].expand(flat.shape[0], -1) if base[i].shape[0] == 1 else base[i]
        return out

    def edit(
        self,
        styles: list[torch.Tensor],
        coords: torch.Tensor,
        values: torch.Tensor,
        rows: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """Build B edited style vectors at once: row b is styles[rows[b]] (row 0 if `rows` is None)
        with coordinate coords[b] set to values[b]. The inputs are not modified."""
        coords = torch.as_tensor(coords, dtype=torch.long, device=styles[0].device)
        values = torch.as_tensor(values, dtype=styles[0].dtype, device=styles[0].device)
        if rows is None:
            rows = torch.zeros_like(coords)
        flat = self.flatten(styles)[rows].clone()
        flat[torch.arange(len(coords), device=flat.device), coords] = values
        return self.unflatten(flat, [s[rows] for s in styles])
