"""Step A of AttFind for one image: how every classifier logit changes when one style coordinate
moves toward its minimum or its maximum over the analysed images.

An `EditSpec` says which coordinates move and how far; an `EffectMethod` computes the effects
(`method.effects(G, classifier, styles, spec)`). Two methods here give the same numbers:

- `ReferenceEffects`: one coordinate at a time, a full render at batch size 1 for each,
  as the authors' notebook does. Kept as the baseline that the fast version is tested and
  benchmarked against.
- `ExactEffects`: the fast one. Edits of the coordinates of style layer l only change styles[l],
  so the synthesis state before layer l is computed once per image and shared by all of them;
  many edits are rendered in one batched call; and the modulated conv of layer l itself is not run
  per edit: it is linear in its input scaling (conv(x * s) = sum_k s_k conv(x_k)), so the edited
  output is the base output plus (s'_k - s_k) times one channel's contribution, and only the
  demodulation coefficients are recomputed per edit. The layers after it run with the image's
  styles folded into their weights (`FoldedSynthesis`), in NHWC layout. It can compute a subset of
  the edits (`edits`), which the Taylor-screened method (`taylor.TaylorEffects`) uses. The methods
  by name: `stylex.attfind.methods.EFFECT_METHODS`.

An edit sets s'[k] = s[k] + shift * (target_d[k] - s[k]), target_0 = s_min, target_1 = s_max
(shift 1 moves the coordinate to its extreme). Renders use constant noise, so an edit and its base
differ only by the edit, and are clamped to [-1, 1] before the classifier (and the discriminator)
sees them, as the evaluation renders them (`clamp_images`).

With a discriminator, each edit is also rendered at `disc_shift` (2 by default, as the authors
check realism) and scored D(x', softmax(C(x'))) - D(x, softmax(C(x))): the discriminator is
conditioned on the classifier's probabilities of the image it scores, edited or not. The selection's
discriminator filter reads these changes (see `selection.greedy_toward`).
"""

from __future__ import annotations

import abc
import bisect
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import ClassVar

import torch
import torch.nn.functional as F

from stylex.maths import clamp_images, discriminator_condition
from stylex.networks.generator import Generator, SynthesisState
from stylex.networks.layers import LRELU_GAIN, blur, modulated_conv2d, upsample2d
from stylex.stylespace import StyleSpace

# A discriminator: (images [B, 3, R, R], conditions [B, c_dim]) -> [B]; it is given the classifier's
# probabilities of the images it scores (`discriminator_condition`).
DiscriminatorScore = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Classifier = Callable[[torch.Tensor], torch.Tensor]  # images in [-1, 1] -> logits
DISC_SHIFT = 2.0  # the shift of the edits the discriminator scores (the authors' realism check)


def discriminator_score(discriminator: DiscriminatorScore, images: torch.Tensor, logits: torch.Tensor):
    """D's output [B] for (clamped) images with their classifier logits: D(x, softmax(C(x)))."""
    return discriminator(images, discriminator_condition(logits)).float()


@dataclass(frozen=True, eq=False)
class EditSpec:
    """What Step A edits and how far: the analysed StyleSpace (which coordinates; toRGB or not),
    the per-coordinate extremes over the analysed images, the shift of the edits whose logits are
    recorded and the shift of those the discriminator scores.

    `style_min`/`style_max` may be left None until they are known (`compute_records` fills them in
    from its base pass with `with_extremes`); the effect methods need them.
    """

    space: StyleSpace
    style_min: torch.Tensor | None = None  # [S]
    style_max: torch.Tensor | None = None  # [S]
    shift: float = 1.0  # see `edit_values`
    disc_shift: float = DISC_SHIFT

    @classmethod
    def for_generator(cls, G: Generator, include_torgb: bool = False, **fields) -> EditSpec:
        """The spec over G's StyleSpace (conv styles, plus toRGB with `include_torgb`)."""
        return cls(G.stylespace(include_torgb=include_torgb), **fields)

    def with_extremes(self, style_min: torch.Tensor, style_max: torch.Tensor) -> EditSpec:
        return replace(self, style_min=style_min, style_max=style_max)

    def values(self, s: torch.Tensor) -> torch.Tensor:
        """[2, S]: the edited value of every coordinate of s [S] in both directions, at `shift`."""
        return edit_values(s, self.style_min, self.style_max, self.shift)

    def disc_values(self, s: torch.Tensor) -> torch.Tensor:
        """[2, S]: as `values`, at `disc_shift` (the edits the discriminator scores)."""
        return edit_values(s, self.style_min, self.style_max, self.disc_shift)


class EffectMethod(abc.ABC):
    """One way of computing Step A's effects of one image: `effects(G, classifier, styles, spec)`.

    A method is an object holding its own options (batch size, precision...); `name` is what the
    records file's `method` attribute records, `candidates` its `candidates` attribute, and a method
    with `partial` computes only some edits exactly (its results say which in `computed`, kept in the
    records' `computed` dataset). Register a new one in `stylex.attfind.methods.EFFECT_METHODS`.
    """

    name: ClassVar[str] = ""
    partial: ClassVar[bool] = False
    candidates: int = 0

    @abc.abstractmethod
    def effects(self, G: Generator, classifier: Classifier, styles: list[torch.Tensor], spec: EditSpec,
                discriminator: DiscriminatorScore | None = None) -> ImageEffects:
        """The effects of one image (every method implements it).

        Args:
            G: the generator.
            classifier: images in [-1, 1] -> logits.
            styles: the image's per-layer styles, each [1, channels] (all layers, toRGB included).
            spec: the edits (with its extremes).
            discriminator: optional scorer; its change D(x', softmax(C(x'))) - D(x, softmax(C(x)))
                for each edit made with `spec.disc_shift` is recorded for the discriminator filter.
        """


@dataclass
class ImageEffects:
    """The effects of every edit of one image."""

    effect: torch.Tensor  # [2, S, num_classes]: logits(edited) - logits(base); [0] toward s_min, [1] toward s_max
    disc: torch.Tensor | None = None  # [2, S]: D(edited at disc_shift) - D(base), when a discriminator was given
    computed: torch.Tensor | None = None  # [2, S] bool: the edits computed (the rest are 0); None: all


def edit_values(s: torch.Tensor, style_min: torch.Tensor, style_max: torch.Tensor, shift: float) -> torch.Tensor:
    """The edited value of every coordinate in both directions: [2, S] from one image's s [S].

    Args:
        s: the image's style coordinates (analysis space).
        style_min, style_max: per-coordinate extremes over the analysed images.
        shift: fraction of the way to the extreme (1 = all the way).
    """
    targets = torch.stack([style_min, style_max]).to(s)
    return s + shift * (targets - s)


CPU_PIXELS = 64 * 32 * 32  # edited pixels per call on a CPU (see `auto_batch`)


def default_batch(device: str | torch.device) -> int:
    """Images per call for plain batched renders (the records' base pass): 256 on a GPU, 16 on a CPU."""
    return 256 if torch.device(device).type == "cuda" else 16


@torch.no_grad()
def auto_batch(G: Generator, classifier: Callable[[torch.Tensor], torch.Tensor], styles: list[torch.Tensor],
               memory_fraction: float = 0.4, limit: int = 4096) -> int:
    """Edited images per call of `ExactEffects`.

    On a CPU, `CPU_PIXELS` worth of images, 4 to 64 (64 at 32 px, where 32-64 measured fastest;
    larger batches leave the caches). On a GPU, as many as fit in `memory_fraction` of the free
    memory, measured with a probe render + classification of 8 images (this resets the peak-memory
    counter), a multiple of 8 up to `limit`."""
    device = styles[0].device
    if device.type != "cuda":
        return max(4, min(64, CPU_PIXELS // G.resolution**2))
    probe = 8
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    classifier(clamp_images(G.synthesis([s.expand(probe, -1) for s in styles], noise_mode="const")))
    per_image = max(1, (torch.cuda.max_memory_allocated(device) - before) / probe)
    free, _ = torch.cuda.mem_get_info(device)
    return int(max(probe, min(limit, free * memory_fraction / per_image)) // 8 * 8)


def _one_image_styles(styles: list[torch.Tensor]) -> None:
    if any(s.shape[0] != 1 for s in styles):
        raise ValueError("an effect method takes the styles of exactly one image (each tensor [1, channels])")


@dataclass
class ReferenceEffects(EffectMethod):
    """One coordinate at a time with a full render each, as the authors' notebook does (the
    baseline the batched method is tested and benchmarked against)."""

    name: ClassVar[str] = "reference"

    @torch.no_grad()
    def effects(self, G, classifier, styles, spec, discriminator=None) -> ImageEffects:
        _one_image_styles(styles)
        space = spec.space
        flat = space.flatten(styles)[0]
        values = spec.values(flat)
        disc_values = spec.disc_values(flat) if discriminator else None

        def render(d, k, vals):
            edited = space.edit(styles, torch.tensor([k]), vals[d, k : k + 1])
            return clamp_images(G.synthesis(edited, noise_mode="const"))

        base_img = clamp_images(G.synthesis(styles, noise_mode="const"))
        base_logits = classifier(base_img)
        base_disc = discriminator_score(discriminator, base_img, base_logits)[0] if discriminator else None
        base_logits = base_logits[0]
        effect = torch.empty(2, space.size, base_logits.shape[0], device=base_logits.device)
        disc = torch.empty(2, space.size, device=base_logits.device) if discriminator else None
        for d in range(2):
            for k in range(space.size):
                effect[d, k] = classifier(render(d, k, values))[0] - base_logits
                if discriminator:
                    img = render(d, k, disc_values)
                    disc[d, k] = discriminator_score(discriminator, img, classifier(img))[0] - base_disc
        return ImageEffects(effect, disc)


class FoldedSynthesis:
    """One image's synthesis layers with its styles folded into the weights.

    All edits of one image share every layer's styles but the edited layer's, so after that layer
    each modulated conv is an ordinary convolution with the modulated and demodulated weight
    (computed once per image), and constant noise plus bias is one precomputed addend: one
    convolution and in-place element-wise passes per layer, instead of scaling the activations of
    every sample by styles and demodulation coefficients.

    Args:
        G: the generator.
        styles: one image's per-layer styles, each [1, channels].
    """

    def __init__(self, G: Generator, styles: list[torch.Tensor]):
        self.steps = []
        for layer, s in zip(G.layers, styles):
            w = layer.weight * layer.weight_gain * s.reshape(1, -1, 1, 1)
            if layer.kind == "conv":
                w = w * (w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).rsqrt()
                add = layer.noise_const * layer.noise_strength + layer.bias.reshape(1, -1, 1, 1)
                add = add.contiguous(memory_format=torch.channels_last)  # as the activations: a fast in-place add
                self.steps.append((layer, w.transpose(0, 1) if layer.up else w, add))
            else:
                self.steps.append((layer, w, layer.bias.reshape(1, -1, 1, 1)))

    def add_for(self, layer_index: int) -> torch.Tensor:
        """Noise + bias of a conv layer: [1, O, H, W]."""
        return self.steps[layer_index][2]

    def run(self, state: SynthesisState, start: int, stop: int | None = None) -> SynthesisState:
        """Apply layers start..stop-1 (any batch size: every sample has this image's styles)."""
        for layer, w, add in self.steps[start:stop]:
            if layer.kind == "conv":
                if layer.up:
                    x = blur(F.conv_transpose2d(state.x, w, stride=2), (1, 1), gain=4.0)
                else:
                    x = F.conv2d(state.x, w, padding=w.shape[-1] // 2)
                state = SynthesisState(_finish_conv(x, add), state.img)
            else:
                y = F.conv2d(state.x, w).add_(add)
                state = SynthesisState(state.x, y if state.img is None else upsample2d(state.img).add_(y))
        return state


def _finish_conv(x: torch.Tensor, add: torch.Tensor) -> torch.Tensor:
    """Noise + bias, leaky ReLU and its gain after a modulated conv, in place on x (as
    StyleConv.add_noise_bias_act with constant noise)."""
    return F.leaky_relu_(x.add_(add), 0.2).mul_(LRELU_GAIN)


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


def _edited_conv(layer, state: SynthesisState, style: torch.Tensor, channels, values, add) -> SynthesisState:
    """Output of StyleConv `layer` for one-channel edits of its style [1, I], by linearity: edit j
    sets style channel channels[j] to values[j] (channels may repeat). Exact up to float rounding."""
    weight = layer.weight * layer.weight_gain
    base = modulated_conv2d(state.x, weight, style, demodulate=False, up=layer.up, fused=False)  # [1, O, H', W']
    # NHWC like the activations that follow (mixed layouts make element-wise passes several times slower).
    contrib = _channel_contributions(layer, state.x, channels).contiguous(memory_format=torch.channels_last)
    delta = values - style[0, channels]  # [B]
    x = torch.addcmul(base, delta.reshape(-1, 1, 1, 1), contrib)  # all edits in one pass
    # Demodulation per edit: the base image's sum over input channels, with the edited one replaced.
    w2 = weight.square().sum(dim=[2, 3])  # [O, I]
    sums = style.square() @ w2.t() + (values.square() - style[0, channels].square())[:, None] * w2.t()[channels]
    x = _finish_conv(x.mul_((sums + 1e-8).rsqrt()[:, :, None, None]), add)
    img = None if state.img is None else state.img.expand(len(x), -1, -1, -1)
    return SynthesisState(x, img)


def _edited_layer(G: Generator, folded: FoldedSynthesis, state: SynthesisState, styles, layer_index, channels,
                  values) -> SynthesisState:
    """The states after style layer `layer_index` for one-channel edits of it (channels [B], new
    values [B]), from the cached base state before it."""
    layer = G.layers[layer_index]
    if layer.kind == "conv":
        return _edited_conv(layer, state, styles[layer_index], channels, values, folded.add_for(layer_index))
    # toRGB: a cheap 1x1 conv, run directly on the edited styles.
    edited = styles[layer_index].expand(len(values), -1).clone()
    edited[torch.arange(len(values), device=values.device), channels] = values
    return G.run_layers(state.expand(len(values)), {layer_index: edited}, layer_index, layer_index + 1)


def _concat(a: SynthesisState | None, b: SynthesisState) -> SynthesisState:
    if a is None:
        return b
    img = None if b.img is None else torch.cat([a.img, b.img])
    return SynthesisState(torch.cat([a.x, b.x]), img)


def _render_wave(G: Generator, folded: FoldedSynthesis, states: list[SynthesisState], styles, layers: list[int],
                 channels: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Images of a batch of one-channel edits sorted by layer (layers [B] as ints, channels and new
    values [B]). Edits of a layer start from the cached base state before it and join the batch
    there, so every later layer runs once per wave for all of them."""
    carried = None
    first, stop = layers[0], layers[-1] + 1
    for layer_index in range(first, stop):
        if carried is not None:
            carried = folded.run(carried, layer_index, layer_index + 1)
        lo, hi = bisect.bisect_left(layers, layer_index), bisect.bisect_right(layers, layer_index)
        if hi > lo:
            new = _edited_layer(G, folded, states[layer_index], styles, layer_index, channels[lo:hi], values[lo:hi])
            carried = _concat(carried, new)
    return folded.run(carried, stop).img


@dataclass
class ExactEffects(EffectMethod):
    """Every edit, batched and cached (the same numbers as `ReferenceEffects`; see the module
    docstring for how).

    Args:
        batch: edited images rendered and classified per call (memory grows linearly with it;
            None: measured with `auto_batch` on the first image this object computes, then kept).
        precision: `fp32`, or `bf16` (autocast on CUDA only; effects are then good to about 1%).
    """

    name: ClassVar[str] = "exact"
    batch: int | None = None
    precision: str = "fp32"
    _measured: int | None = field(default=None, init=False, repr=False)

    @torch.no_grad()
    def effects(self, G, classifier, styles, spec, discriminator=None, edits: torch.Tensor | None = None
                ) -> ImageEffects:
        """As `EffectMethod.effects`, plus `edits`: [2, S] bool, compute only these (direction,
        coordinate) edits; the others stay 0 (None: all)."""
        _one_image_styles(styles)
        space, precision = spec.space, self.precision
        flat = space.flatten(styles)[0]
        values = spec.values(flat)
        disc_values = spec.disc_values(flat) if discriminator else None
        device = values.device
        if not self.batch and not self._measured:
            self._measured = auto_batch(G, classifier, styles)
        per_call = self.batch or self._measured
        # The wanted edits, coordinate by coordinate (so layer by layer), both directions of a coordinate together.
        wanted = torch.ones(2, space.size, dtype=torch.bool) if edits is None else edits.cpu()
        coords, dirs = wanted.t().nonzero(as_tuple=True)
        layers = space.layer_of(coords)
        first = torch.zeros(len(space.layers), dtype=torch.long)
        first[list(space.included)] = torch.tensor(space.offsets)
        channels = (coords - first[layers]).to(device)
        coords, dirs, layers = coords.to(device), dirs.to(device), layers.tolist()
        autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16" and device.type == "cuda")
        with autocast:
            folded = FoldedSynthesis(G, styles)
            states = [G.initial_state(1)]  # states[l]: the base image's state before layer l, NHWC
            for layer_index in range(G.num_ws):
                state = folded.run(states[-1], layer_index, layer_index + 1)
                states.append(SynthesisState(state.x.contiguous(memory_format=torch.channels_last), state.img))
            base_img = clamp_images(states[-1].img)
            base_logits = classifier(base_img).float()
            base_disc = discriminator_score(discriminator, base_img, base_logits)[0] if discriminator else None
            base_logits = base_logits[0]
            effect = torch.zeros(2, space.size, base_logits.shape[0], device=device)
            disc = torch.zeros(2, space.size, device=device) if discriminator else None

            def render(part, vals):
                img = _render_wave(G, folded, states, styles, layers[part], channels[part],
                                   vals[dirs[part], coords[part]])
                # Clamped as the evaluation renders it; NHWC convolutions in the classifier.
                return clamp_images(img).contiguous(memory_format=torch.channels_last)

            for start in range(0, len(coords), per_call):
                part = slice(start, start + per_call)
                img = render(part, values)
                logits = classifier(img).float()
                effect[dirs[part], coords[part]] = logits - base_logits
                if discriminator:
                    if spec.disc_shift != spec.shift:
                        img = render(part, disc_values)
                        logits = classifier(img).float()
                    disc[dirs[part], coords[part]] = discriminator_score(discriminator, img, logits) - base_disc
        return ImageEffects(effect, disc, None if edits is None else wanted.to(device))
