"""Step A of AttFind for one image: how every classifier logit changes when one style coordinate
moves toward its minimum or its maximum over the analysed images.

Two implementations of the same numbers:

- `image_effects_reference`: one coordinate at a time, a full render at batch size 1 for each,
  as the authors' notebook does. Kept as the baseline that the fast version is tested and
  benchmarked against.
- `image_effects`: the fast one. Edits of the coordinates of style layer l only change styles[l],
  so the synthesis state before layer l is computed once per image and shared by all of them;
  many edits are rendered in one batched call; and the modulated conv of layer l itself is not run
  per edit: it is linear in its input scaling (conv(x * s) = sum_k s_k conv(x_k)), so the edited
  output is the base output plus (s'_k - s_k) times one channel's contribution, and only the
  demodulation coefficients are recomputed per edit.

An edit sets s'[k] = s[k] + shift * (target_d[k] - s[k]), target_0 = s_min, target_1 = s_max
(shift 1 moves the coordinate to its extreme). Renders use constant noise, so an edit and its base
differ only by the edit.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from stylex.networks.generator import Generator, SynthesisState
from stylex.networks.layers import blur, modulated_conv2d
from stylex.stylespace import StyleSpace

# A discriminator bound to its conditioning: (images [B, 3, R, R], conditions [B, c_dim]) -> [B].
DiscriminatorScore = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class ImageEffects:
    """The effects of every edit of one image."""

    effect: torch.Tensor  # [2, S, num_classes]: logits(edited) - logits(base); [0] toward s_min, [1] toward s_max
    disc: torch.Tensor | None = None  # [2, S]: D(edited) - D(base), when a discriminator was given


def edit_values(s: torch.Tensor, style_min: torch.Tensor, style_max: torch.Tensor, shift: float) -> torch.Tensor:
    """The edited value of every coordinate in both directions: [2, S] from one image's s [S].

    Args:
        s: the image's style coordinates (analysis space).
        style_min, style_max: per-coordinate extremes over the analysed images.
        shift: fraction of the way to the extreme (1 = all the way).
    """
    targets = torch.stack([style_min, style_max]).to(s)
    return s + shift * (targets - s)


def default_batch(device: str | torch.device) -> int:
    """Edited images per call when not told: 256 on a GPU; 16 on a CPU, where small batches keep the
    activations in cache (cpu-32, one core: about 1.5x faster than 64 or 256)."""
    return 256 if torch.device(device).type == "cuda" else 16


@contextmanager
def nonfused_modconv(G: Generator):
    """Use the non-fused modulated conv while rendering many different style vectors at once (one
    shared convolution instead of a grouped one per sample); restores G's setting afterwards."""
    saved = G.fused_modconv
    G.fused_modconv = False
    try:
        yield G
    finally:
        G.fused_modconv = saved


def _one_image_styles(styles: list[torch.Tensor]) -> None:
    if any(s.shape[0] != 1 for s in styles):
        raise ValueError("image_effects takes the styles of exactly one image (each tensor [1, channels])")


@torch.no_grad()
def image_effects_reference(
    G: Generator,
    classifier: Callable[[torch.Tensor], torch.Tensor],
    styles: list[torch.Tensor],
    space: StyleSpace,
    style_min: torch.Tensor,
    style_max: torch.Tensor,
    shift: float = 1.0,
    discriminator: DiscriminatorScore | None = None,
    condition: torch.Tensor | None = None,
) -> ImageEffects:
    """The effects of one image, one coordinate at a time with a full render each (the baseline).

    Args:
        G: the generator (any modulated-conv form).
        classifier: images in [-1, 1] -> logits.
        styles: the image's per-layer styles, each [1, channels] (all layers, toRGB included).
        space: the StyleSpace whose coordinates are edited.
        style_min, style_max: [S] extremes over the analysed images.
        shift: see `edit_values`.
        discriminator: optional scorer; its change is recorded for the discriminator filter.
        condition: the image's condition [1, c_dim], needed with a discriminator.
    """
    _one_image_styles(styles)
    values = edit_values(space.flatten(styles)[0], style_min, style_max, shift)
    base_img = G.synthesis(styles, noise_mode="const")
    base_logits = classifier(base_img)[0]
    base_disc = discriminator(base_img, condition)[0] if discriminator else None
    effect = torch.empty(2, space.size, base_logits.shape[0], device=base_logits.device)
    disc = torch.empty(2, space.size, device=base_logits.device) if discriminator else None
    for d in range(2):
        for k in range(space.size):
            edited = space.edit(styles, torch.tensor([k]), values[d, k : k + 1])
            img = G.synthesis(edited, noise_mode="const")
            effect[d, k] = classifier(img)[0] - base_logits
            if discriminator:
                disc[d, k] = discriminator(img, condition)[0] - base_disc
    return ImageEffects(effect, disc)


def _channel_contributions(layer, x: torch.Tensor, channels: torch.Tensor) -> torch.Tensor:
    """conv(x_k) of a StyleConv for each input channel k in `channels` alone (unit style, no
    demodulation): [K, out_channels, H', W']. One grouped conv costs as much as one ordinary conv."""
    k, out_ch = len(channels), layer.out_channels
    weight = (layer.weight * layer.weight_gain)[:, channels].transpose(0, 1)  # [K, O, 3, 3]
    xs = x[:, channels]  # [1, K, H, W]
    if layer.up:
        y = F.conv_transpose2d(xs, weight, stride=2, groups=k)
        y = blur(y, (1, 1), gain=4.0)  # as modulated_conv2d does after its transposed conv
    else:
        y = F.conv2d(xs, weight.reshape(k * out_ch, 1, *weight.shape[2:]), padding=weight.shape[-1] // 2, groups=k)
    return y.reshape(k, out_ch, *y.shape[2:])


def _edited_conv(layer, state: SynthesisState, style: torch.Tensor, channels, values) -> SynthesisState:
    """Output of StyleConv `layer` for many one-channel edits of its style [1, I] at once, by linearity.

    Edit (d, j) sets style channel channels[j] to values[d, j]; the batch is ordered d-major
    (all of values[0], then values[1], ...). Exact up to float rounding."""
    weight = layer.weight * layer.weight_gain
    base = modulated_conv2d(state.x, weight, style, demodulate=False, up=layer.up, fused=False)  # [1, O, H', W']
    contrib = _channel_contributions(layer, state.x, channels)  # [K, O, H', W']
    delta = values - style[0, channels]  # [D, K]
    x = torch.addcmul(base, delta.reshape(*delta.shape, 1, 1, 1), contrib)  # [D, K, O, H', W'] in one pass
    x = x.reshape(-1, *x.shape[2:])
    edited = style.expand(len(x), -1).clone()
    edited[torch.arange(len(x)), channels.repeat(len(values))] = values.reshape(-1)
    dcoefs = (edited.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()  # [B, O]
    x = layer.add_noise_bias_act(x.mul_(dcoefs.reshape(*dcoefs.shape, 1, 1)), noise_mode="const")
    img = None if state.img is None else state.img.expand(len(x), -1, -1, -1)
    return SynthesisState(x.contiguous(memory_format=torch.channels_last), img)


def _render_layer_edits(G: Generator, state: SynthesisState, styles, layer_index, channels, values) -> torch.Tensor:
    """Images for the edits (channels [K], values [D, K]) of one style layer, d-major, starting
    from the cached state before that layer."""
    batch = values.numel()
    layer = G.layers[layer_index]
    if layer.kind == "conv":
        after = _edited_conv(layer, state, styles[layer_index], channels, values)
    else:  # toRGB: cheap 1x1 conv, run it directly on the edited styles
        edited = styles[layer_index].expand(batch, -1).clone()
        edited[torch.arange(batch), channels.repeat(len(values))] = values.reshape(-1)
        after = G.run_layers(state.expand(batch), {layer_index: edited}, layer_index, layer_index + 1)
    rest = [s.expand(batch, -1) for s in styles]
    return G.run_layers(after, rest, layer_index + 1).img


@torch.no_grad()
def image_effects(
    G: Generator,
    classifier: Callable[[torch.Tensor], torch.Tensor],
    styles: list[torch.Tensor],
    space: StyleSpace,
    style_min: torch.Tensor,
    style_max: torch.Tensor,
    shift: float = 1.0,
    batch: int | None = None,
    discriminator: DiscriminatorScore | None = None,
    condition: torch.Tensor | None = None,
) -> ImageEffects:
    """The effects of one image, batched and cached (same numbers as `image_effects_reference`).

    Args:
        batch: edited images rendered and classified per call (memory grows linearly with it;
            None: `default_batch` of the styles' device).
        Others as in `image_effects_reference`.
    """
    _one_image_styles(styles)
    values = edit_values(space.flatten(styles)[0], style_min, style_max, shift)
    # Channels per call; each channel is edited in both directions.
    per_call = max(1, (batch or default_batch(values.device)) // 2)
    with nonfused_modconv(G):
        base_img = G.synthesis(styles, noise_mode="const")
        base_logits = classifier(base_img)[0]
        base_disc = discriminator(base_img, condition)[0] if discriminator else None
        effect = torch.empty(2, space.size, base_logits.shape[0], device=base_logits.device)
        disc = torch.empty(2, space.size, device=base_logits.device) if discriminator else None
        state = G.initial_state(1)
        for layer_index in range(G.num_ws):
            if layer_index in space.included:
                offset = space.offsets[space.included.index(layer_index)]
                for start in range(0, space.layers[layer_index].channels, per_call):
                    stop = min(start + per_call, space.layers[layer_index].channels)
                    channels = torch.arange(start, stop, device=values.device)
                    new = values[:, offset + start : offset + stop]  # [2, K]: to min, to max
                    img = _render_layer_edits(G, state, styles, layer_index, channels, new)
                    change = classifier(img) - base_logits
                    effect[:, offset + start : offset + stop] = change.reshape(2, stop - start, -1)
                    if discriminator:
                        scores = discriminator(img, condition.expand(len(img), -1)) - base_disc
                        disc[:, offset + start : offset + stop] = scores.reshape(2, stop - start)
            state = G.run_layers(state, styles, layer_index, layer_index + 1)
            # NHWC feature maps: the batched convolutions that follow run faster on CPU (oneDNN).
            state = SynthesisState(state.x.contiguous(memory_format=torch.channels_last), state.img)
    return ImageEffects(effect, disc)
