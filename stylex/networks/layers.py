"""StyleGAN2 building blocks in plain PyTorch: equalized-learning-rate layers, FIR resampling and
modulated convolution (grouped "fused" form and activation-scaling "non-fused" form)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LRELU_GAIN = math.sqrt(2.0)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU (slope 0.2) with the gain sqrt(2) that keeps activations at unit variance."""
    return F.leaky_relu(x, 0.2) * LRELU_GAIN


# ---------------------------------------------------------------------------------------------
# FIR resampling with the [1, 3, 3, 1] binomial filter (StyleGAN2's default).


def _fir_kernel(channels: int, gain: float, like: torch.Tensor) -> torch.Tensor:
    f = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=like.dtype, device=like.device)
    k = torch.outer(f, f)
    k = k / k.sum() * gain
    return k.expand(channels, 1, 4, 4)


def blur(x: torch.Tensor, pad: tuple[int, int], gain: float = 1.0) -> torch.Tensor:
    """Depthwise 4x4 FIR filter with `pad` = (before, after) zero padding on both spatial axes."""
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    return F.conv2d(x, _fir_kernel(x.shape[1], gain, x), groups=x.shape[1])


def upsample2d(x: torch.Tensor) -> torch.Tensor:
    """2x FIR up-sampling: zero insertion and filtering (gain 4) as one transposed convolution."""
    return F.conv_transpose2d(x, _fir_kernel(x.shape[1], 4.0, x), stride=2, padding=1, groups=x.shape[1])


def downsample2d(x: torch.Tensor) -> torch.Tensor:
    """2x FIR down-sampling: filtering followed by taking every second pixel, as one convolution."""
    return F.conv2d(x, _fir_kernel(x.shape[1], 1.0, x), stride=2, padding=1, groups=x.shape[1])


# ---------------------------------------------------------------------------------------------
# Equalized learning rate: parameters are stored at unit scale and multiplied at run time.


class FullyConnected(nn.Module):
    """Equalized dense layer. A `weight_mask` buffer ([out, in] of 0/1; None = dense) holds some
    weights at zero; it is not saved in the state dict, as the network's configuration re-creates it."""

    def __init__(self, in_features, out_features, bias_init=0.0, lr_mul=1.0, activation="linear"):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul))
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activation = activation
        self.register_buffer("weight_mask", None, persistent=False)

    def effective_weight(self) -> torch.Tensor:
        w = self.weight * self.weight_gain
        return w if self.weight_mask is None else w * self.weight_mask

    def forward(self, x):
        x = F.linear(x, self.effective_weight(), self.bias * self.lr_mul)
        return lrelu(x) if self.activation == "lrelu" else x


class Conv2dLayer(nn.Module):
    """Equalized conv used by the discriminator and encoder; `down=True` filters then strides by 2."""

    def __init__(self, in_channels, out_channels, kernel_size, bias=True, activation="lrelu", down=False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.activation = activation
        self.down = down
        self.padding = kernel_size // 2

    def forward(self, x):
        w = self.weight * self.weight_gain
        if self.down:
            k = w.shape[-1]
            # Filter with padding chosen so that the stride-2 conv lands exactly on half the size.
            x = blur(x, ((k - 1) // 2 + 1, (k - 1) // 2 + 1)) if k > 1 else downsample2d(x)
            x = F.conv2d(x, w, stride=2 if k > 1 else 1)
        else:
            x = F.conv2d(x, w, padding=self.padding)
        if self.bias is not None:
            x = x + self.bias.view(1, -1, 1, 1)
        return lrelu(x) if self.activation == "lrelu" else x


# ---------------------------------------------------------------------------------------------
# Modulated convolution.


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool = True,
    up: bool = False,
    fused: bool = False,
) -> torch.Tensor:
    """Convolve x [N, I, H, W] with weight [O, I, k, k] modulated per sample by styles [N, I].

    `fused=True` builds one kernel per sample and runs a grouped convolution; `fused=False` scales
    the activations by the styles, runs one shared convolution, then scales by the demodulation
    coefficients. Both compute the same function. `up=True` doubles the resolution (transposed
    stride-2 convolution followed by the FIR filter).
    """
    n, in_ch, h, w_ = x.shape
    out_ch, _, kh, kw = weight.shape
    padding = kh // 2
    if fused:
        wt = weight.unsqueeze(0) * styles.reshape(n, 1, in_ch, 1, 1)
        if demodulate:
            wt = wt * (wt.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
        x = x.reshape(1, n * in_ch, h, w_)
        if up:
            wt = wt.transpose(1, 2).reshape(n * in_ch, out_ch, kh, kw)
            x = F.conv_transpose2d(x, wt, stride=2, groups=n)
        else:
            x = F.conv2d(x, wt.reshape(n * out_ch, in_ch, kh, kw), padding=padding, groups=n)
        x = x.reshape(n, out_ch, *x.shape[2:])
    else:
        x = x * styles.reshape(n, in_ch, 1, 1)
        if up:
            x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
        else:
            x = F.conv2d(x, weight, padding=padding)
        if demodulate:
            dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()
            x = x * dcoefs.reshape(n, out_ch, 1, 1)
    if up:
        # The transposed conv gives 2H+1 samples; the 4-tap filter with one pixel of padding on each
        # side brings them back to exactly 2H (gain 4 compensates the inserted zeros).
        x = blur(x, (1, 1), gain=4.0)
    return x


def minibatch_stddev(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """Append one feature map: the standard deviation across groups of samples, averaged."""
    n, c, h, w = x.shape
    g = min(group_size, n)
    while n % g:
        g -= 1
    y = x.reshape(g, -1, c, h, w)
    y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=[1, 2, 3])  # [n // g]
    y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)
