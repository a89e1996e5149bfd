"""The StylEx generator: a StyleGAN2 mapping network, and a synthesis network whose every style
layer reads the classifier condition c next to w ("[w, c]")."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from stylex.networks.layers import FullyConnected, lrelu, modulated_conv2d, upsample2d
from stylex.stylespace import StyleLayer, StyleSpace


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
    """Feature maps at a resolution: channel_base / resolution, capped at channel_max."""
    return max(1, min(channel_base // resolution, channel_max))


class MappingNetwork(nn.Module):
    """z -> w: pixel-norm, then `num_layers` fully connected layers with a reduced learning rate."""

    def __init__(self, z_dim, w_dim, num_layers=8, lr_mul=0.01, w_avg_beta=0.995):
        super().__init__()
        dims = [z_dim] + [w_dim] * num_layers
        self.layers = nn.ModuleList(
            FullyConnected(a, b, lr_mul=lr_mul, activation="lrelu") for a, b in zip(dims[:-1], dims[1:])
        )
        self.w_avg_beta = w_avg_beta
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z, truncation_psi=1.0, update_w_avg=False):
        x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for layer in self.layers:
            x = layer(x)
        if update_w_avg:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if truncation_psi != 1.0:
            x = self.w_avg.lerp(x, truncation_psi)
        return x


@dataclass
class SynthesisState:
    """What flows between style layers: the feature maps and the running RGB image (skip output)."""

    x: torch.Tensor
    img: torch.Tensor | None = None

    def expand(self, batch: int) -> SynthesisState:
        """Broadcast a one-sample state to `batch` samples without copying memory."""
        img = None if self.img is None else self.img.expand(batch, -1, -1, -1)
        return SynthesisState(self.x.expand(batch, -1, -1, -1), img)


class StyleConv(nn.Module):
    """Modulated 3x3 conv (optionally up-sampling) + per-pixel noise + bias + leaky ReLU."""

    kind = "conv"

    def __init__(self, name, in_channels, out_channels, resolution, affine_in, up):
        super().__init__()
        self.name, self.resolution, self.up = name, resolution, up
        self.in_channels, self.out_channels = in_channels, out_channels
        self.affine = FullyConnected(affine_in, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.weight_gain = 1.0 / math.sqrt(in_channels * 9)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))

    def forward(self, state: SynthesisState, styles, noise_mode="const", fused=False) -> SynthesisState:
        x = modulated_conv2d(state.x, self.weight * self.weight_gain, styles, up=self.up, fused=fused)
        return SynthesisState(self.add_noise_bias_act(x, noise_mode), state.img)

    def add_noise_bias_act(self, x: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        """What follows the modulated conv. Separate so AttFind can compute the conv output of
        many one-channel style edits by linearity and finish them here."""
        if noise_mode == "random":
            x = x + torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype) * self.noise_strength
        elif noise_mode == "const":
            x = x + self.noise_const * self.noise_strength
        return lrelu(x + self.bias.reshape(1, -1, 1, 1))


class ToRGB(nn.Module):
    """Modulated 1x1 conv to RGB (no demodulation), added to the up-sampled running image."""

    kind = "torgb"

    def __init__(self, name, in_channels, resolution, affine_in, img_channels=3):
        super().__init__()
        self.name, self.resolution = name, resolution
        self.in_channels, self.out_channels = in_channels, img_channels
        self.affine = FullyConnected(affine_in, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(img_channels, in_channels, 1, 1))
        self.weight_gain = 1.0 / math.sqrt(in_channels)
        self.bias = nn.Parameter(torch.zeros(img_channels))

    def forward(self, state: SynthesisState, styles, noise_mode="const", fused=False) -> SynthesisState:
        y = modulated_conv2d(state.x, self.weight * self.weight_gain, styles, demodulate=False, fused=fused)
        y = y + self.bias.reshape(1, -1, 1, 1)
        img = y if state.img is None else upsample2d(state.img) + y
        return SynthesisState(state.x, img)


class Generator(nn.Module):
    """StyleGAN2 generator (config E/F layout, skip toRGB) conditioned on a classifier output.

    Args:
        resolution: output size, a power of two from 16 to 1024.
        c_dim: length of the condition c (the classifier's number of classes; 0 = unconditional).
        z_dim, w_dim: latent sizes.
        mapping_layers, mapping_lr_mul: depth and learning-rate multiplier of the mapping network.
        channel_base, channel_max: feature maps at resolution r are min(channel_base // r, channel_max).
        img_channels: 3 for RGB.
        condition_layers: "all" (c enters every style layer's affine, the paper's generator) or
            "conv" (only the modulated convs', the StyleSpace AttFind searches; toRGB styles from w).
        condition_channels: 0 (c reaches every style channel of those layers) or K (only the first K
            channels of each; the others follow w alone).
        condition_resolution: 0 (c reaches those layers at every resolution) or R (only those at
            resolutions up to R: what G draws from c is then coarse).
        fused_modconv: None picks the faster modulated-conv form (see `modconv_fused`);
            True/False forces one.
    """

    def __init__(
        self,
        resolution=32,
        c_dim=2,
        z_dim=128,
        w_dim=128,
        mapping_layers=4,
        mapping_lr_mul=0.01,
        channel_base=4096,
        channel_max=128,
        img_channels=3,
        condition_layers="all",
        condition_channels=0,
        condition_resolution=0,
        fused_modconv=None,
    ):
        super().__init__()
        if resolution & (resolution - 1) or not 16 <= resolution <= 1024:
            raise ValueError(f"resolution must be a power of two from 16 to 1024, got {resolution}")
        self.resolution, self.c_dim, self.z_dim, self.w_dim = resolution, c_dim, z_dim, w_dim
        self.img_channels = img_channels
        self.fused_modconv = fused_modconv
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, mapping_lr_mul)

        def ch(r):
            return channels_at(r, channel_base, channel_max)

        if condition_layers not in ("all", "conv"):
            raise ValueError(f"condition_layers must be 'all' or 'conv', got {condition_layers!r}")
        if 0 < condition_resolution < 4:
            raise ValueError(f"condition_resolution must be 0 or at least 4, got {condition_resolution}")

        def affine_in(kind, r):  # the affine of a layer that sees c reads [w, c], the others w
            sees_c = (condition_layers == "all" or kind == "conv") and r <= (condition_resolution or resolution)
            return w_dim + c_dim if sees_c else w_dim

        self.const = nn.Parameter(torch.randn(ch(4), 4, 4))
        layers: list[nn.Module] = [StyleConv("b4.conv1", ch(4), ch(4), 4, affine_in("conv", 4), up=False)]
        layers.append(ToRGB("b4.torgb", ch(4), 4, affine_in("torgb", 4), img_channels))
        for log_r in range(3, int(math.log2(resolution)) + 1):
            r = 2**log_r
            layers.append(StyleConv(f"b{r}.conv0", ch(r // 2), ch(r), r, affine_in("conv", r), up=True))
            layers.append(StyleConv(f"b{r}.conv1", ch(r), ch(r), r, affine_in("conv", r), up=False))
            layers.append(ToRGB(f"b{r}.torgb", ch(r), r, affine_in("torgb", r), img_channels))
        self.layers = nn.ModuleList(layers)
        self.num_ws = len(layers)
        if condition_channels:
            for layer in self.layers:
                if layer.affine.weight.shape[1] > w_dim:
                    mask = torch.ones_like(layer.affine.weight)
                    mask[condition_channels:, w_dim:] = 0.0
                    layer.affine.weight_mask = mask

    # -- StyleSpace ---------------------------------------------------------------------------

    def stylespace(self, include_torgb: bool = False) -> StyleSpace:
        """The coordinates of this generator's StyleSpace (modulated convs only by default)."""
        return StyleSpace(
            tuple(StyleLayer(l.name, l.kind, l.resolution, l.in_channels) for l in self.layers),
            include_torgb=include_torgb,
        )

    def condition_weights(self) -> list[torch.Tensor]:
        """Per style layer, the affine layer's effective weights on c, [channels, c_dim] ([channels, 0]
        for a layer that does not see c): row k is how style channel k moves with c
        (`TrainingConfig.condition_sparsity` penalises them)."""
        return [layer.affine.effective_weight()[:, self.w_dim :] for layer in self.layers]

    def modconv_fused(self) -> bool:
        """Whether the modulated convs use the grouped (fused) form. On CPU the non-fused form is
        faster for training and inference alike (32 px, batch 16: 114 vs 167 ms forward, 323 vs
        473 ms forward+backward; equal at batch 1), so it is the default there; on CUDA the
        grouped form is used for inference, as in StyleGAN2."""
        if self.fused_modconv is not None:
            return self.fused_modconv
        return self.const.is_cuda and not self.training

    # -- The three stages ---------------------------------------------------------------------

    def styles(self, w: torch.Tensor, c: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Per-layer style tensors [N, in_channels] from w ([N, w_dim], or [N, num_ws, w_dim] for
        style mixing) and the condition c [N, c_dim]."""
        if w.ndim == 2:
            w = w.unsqueeze(1).expand(-1, self.num_ws, -1)
        if not self.c_dim:
            return [layer.affine(w[:, i]) for i, layer in enumerate(self.layers)]
        if c is None or c.shape != (w.shape[0], self.c_dim):
            got = None if c is None else tuple(c.shape)
            raise ValueError(f"condition c must have shape [{w.shape[0]}, {self.c_dim}], got {got}")
        wc = torch.cat([w, c.to(w.dtype).unsqueeze(1).expand(-1, self.num_ws, -1)], dim=2)
        # A layer whose affine is only as wide as w does not see c (condition_layers, condition_resolution).
        return [layer.affine((wc if layer.affine.weight.shape[1] > self.w_dim else w)[:, i])
                for i, layer in enumerate(self.layers)]

    def initial_state(self, batch: int) -> SynthesisState:
        return SynthesisState(self.const.unsqueeze(0).expand(batch, -1, -1, -1))

    def run_layers(
        self, state: SynthesisState, styles, start: int = 0, stop: int | None = None, noise_mode="const"
    ) -> SynthesisState:
        """Apply style layers start..stop-1 to `state`. `styles` is indexed by absolute layer number,
        so a caller can cache the state before layer `start` and re-run only what follows it."""
        fused = self.modconv_fused()
        for i in range(start, self.num_ws if stop is None else stop):
            state = self.layers[i](state, styles[i], noise_mode=noise_mode, fused=fused)
        return state

    def synthesis(self, styles: list[torch.Tensor], noise_mode: str = "const") -> torch.Tensor:
        """Render style tensors to images [N, img_channels, R, R] (roughly in [-1, 1]).

        noise_mode: `const` (fixed per-layer noise buffers, deterministic), `random` or `none`.
        """
        return self.run_layers(self.initial_state(styles[0].shape[0]), styles, noise_mode=noise_mode).img

    def forward(self, z=None, c=None, w=None, truncation_psi=1.0, noise_mode="const"):
        """Convenience: z (or a given w) and c to an image."""
        if w is None:
            w = self.mapping(z, truncation_psi=truncation_psi)
        return self.synthesis(self.styles(w, c), noise_mode=noise_mode)
