"""A StylEx whose explanation is known in advance: a real `Generator` with hand-set weights in
which exactly one StyleSpace coordinate decides the image, and classifiers that read its
brightness.

In the keyed generator the last conv layer's output channel 0 reads only input channel KEY_CHANNEL,
which the layer before sets to a positive constant (zero weights, bias 1). Demodulation leaves
sign(s) of that input's style s: the channel is +2 where s > 0 and -0.4 where s < 0 (leaky ReLU and
its gain). The last toRGB adds that channel, uniformly, to the three colours; every other toRGB
weight and bias is 0. So G(s) is a uniform grey image, bright (2 / sqrt(C), C the last layer's channels) when the key
coordinate is positive and dark (-0.4 / sqrt(C)) when it is negative, and no other coordinate
changes it at all.

With a classifier whose logit of class 1 grows with brightness, moving the key coordinate toward
its minimum (negative) pushes every image toward class 0, toward its maximum toward class 1.
"""

from __future__ import annotations

import torch

KEY_CHANNEL = 0


@torch.no_grad()
def make_keyed(G, readout: torch.Tensor, offset: float = 0.0) -> int:
    """Set G's weights in place (see the module docstring); the key style becomes
    s = readout . w + offset (the condition is ignored). Returns the key's flat index in
    G.stylespace() (convs only)."""
    last_conv, before = G.layers[-2], G.layers[-3]
    assert last_conv.kind == "conv" and before.kind == "conv" and G.layers[-1].kind == "torgb"
    # The layer before: output channel KEY_CHANNEL is the constant lrelu(1) * sqrt(2) > 0.
    before.weight[KEY_CHANNEL] = 0
    before.bias[KEY_CHANNEL] = 1.0
    before.noise_strength.fill_(0)
    # The last conv: output channel 0 reads only input KEY_CHANNEL, centre tap.
    last_conv.weight[0] = 0
    last_conv.weight[0, KEY_CHANNEL, 1, 1] = 1.0
    last_conv.bias[0] = 0
    last_conv.noise_strength.fill_(0)
    affine = last_conv.affine
    affine.weight[KEY_CHANNEL] = 0
    affine.weight[KEY_CHANNEL, : len(readout)] = readout / affine.weight_gain
    affine.bias[KEY_CHANNEL] = offset / affine.lr_mul
    # toRGB: only the last layer's input channel 0, at unit style.
    for layer in G.layers:
        if layer.kind == "torgb":
            layer.weight.zero_()
            layer.bias.zero_()
    torgb = G.layers[-1]
    torgb.weight[:, 0] = 1.0
    torgb.affine.weight[0] = 0
    torgb.affine.bias[0] = 1.0 / torgb.affine.lr_mul
    return G.stylespace().flat_index(len(G.layers) - 2, KEY_CHANNEL)


def brightness_logits(images: torch.Tensor, gain: float = 40.0) -> torch.Tensor:
    """Logits [-g m, g m] of the mean brightness m: class 1 = bright."""
    m = images.mean(dim=[1, 2, 3])
    return torch.stack([-gain * m, gain * m], dim=1)


class BrightnessClassifier(torch.nn.Module):
    def forward(self, images):
        return brightness_logits(images)


class MeanEncoder(torch.nn.Module):
    """w = (mean brightness of x, 0, ..., 0): with readout e_0 the key style is the image's mean."""

    def __init__(self, w_dim: int):
        super().__init__()
        self.w_dim = w_dim

    def forward(self, x):
        w = torch.zeros(len(x), self.w_dim, device=x.device)
        w[:, 0] = x.mean(dim=[1, 2, 3])
        return w


@torch.no_grad()
def brightness_small_cnn(width: int = 4, gain: float = 8.0):
    """A small-cnn (stylex.classifiers, 3 blocks) with hand-set weights whose logits are
    [-g b, g b], b = 3 x the mean brightness of a uniform image (sum of the colours): channel 0
    carries relu(sum), channel 1 relu(-sum) through every block (centre taps, unit BatchNorm), and
    the head takes their difference."""
    from stylex.classifiers import build_classifier

    net = build_classifier("small-cnn", 2, width=width)
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.weight.zero_()
        elif isinstance(module, torch.nn.BatchNorm2d):
            module.weight.fill_(1)
            module.bias.zero_()
            module.running_mean.zero_()
            module.running_var.fill_(1)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    convs[0].weight[0, :, 1, 1] = 1.0
    convs[0].weight[1, :, 1, 1] = -1.0
    for conv in convs[1:]:
        conv.weight[0, 0, 1, 1] = 1.0
        conv.weight[1, 1, 1, 1] = 1.0
    net.head.weight.zero_()
    net.head.bias.zero_()
    net.head.weight[1, 0], net.head.weight[1, 1] = gain, -gain
    net.head.weight[0, 0], net.head.weight[0, 1] = -gain, gain
    return net.eval()
