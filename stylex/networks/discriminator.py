"""StyleGAN2 residual discriminator (unconditional or projection-conditioned) and the StylEx
encoder, which is the same trunk with a head that emits a w-sized code."""

from __future__ import annotations

import math

from torch import nn

from stylex.networks.generator import channels_at
from stylex.networks.layers import Conv2dLayer, FullyConnected, minibatch_stddev


class ResidualBlock(nn.Module):
    """Two 3x3 convs (the second halves the resolution) plus a down-sampled 1x1 skip."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv0 = Conv2dLayer(in_channels, in_channels, 3)
        self.conv1 = Conv2dLayer(in_channels, out_channels, 3, down=True)
        self.skip = Conv2dLayer(in_channels, out_channels, 1, bias=False, activation="linear", down=True)

    def forward(self, x):
        return (self.skip(x) + self.conv1(self.conv0(x))) * math.sqrt(0.5)


class Trunk(nn.Module):
    """fromRGB -> residual blocks down to 4x4 -> [minibatch std] -> conv -> fully connected features."""

    def __init__(self, resolution, channel_base, channel_max, img_channels=3, mbstd_group=4):
        super().__init__()

        def ch(r):
            return channels_at(r, channel_base, channel_max)

        self.fromrgb = Conv2dLayer(img_channels, ch(resolution), 1)
        self.blocks = nn.Sequential(
            *[ResidualBlock(ch(2**i), ch(2 ** (i - 1))) for i in range(int(math.log2(resolution)), 2, -1)]
        )
        self.mbstd_group = mbstd_group
        self.conv = Conv2dLayer(ch(4) + (1 if mbstd_group else 0), ch(4), 3)
        self.fc = FullyConnected(ch(4) * 16, ch(4), activation="lrelu")
        self.out_features = ch(4)

    def forward(self, img):
        x = self.blocks(self.fromrgb(img))
        if self.mbstd_group:
            x = minibatch_stddev(x, self.mbstd_group)
        return self.fc(self.conv(x).flatten(1))


class Discriminator(nn.Module):
    """D(x, c): `projection` emits one score per class and weights them by c (the authors' choice);
    `unconditional` emits one score and ignores c.

    Args:
        resolution: input size. c_dim: number of classes. conditioning: projection | unconditional.
        channel_base, channel_max: feature maps at resolution r are min(channel_base // r, channel_max).
        mbstd_group: minibatch standard-deviation group size (0 disables it).
    """

    def __init__(
        self,
        resolution=32,
        c_dim=2,
        conditioning="projection",
        channel_base=4096,
        channel_max=128,
        img_channels=3,
        mbstd_group=4,
    ):
        super().__init__()
        if conditioning not in ("projection", "unconditional"):
            raise ValueError(f"conditioning must be projection or unconditional, got {conditioning!r}")
        self.conditioning, self.c_dim = conditioning, c_dim
        self.trunk = Trunk(resolution, channel_base, channel_max, img_channels, mbstd_group)
        self.out = FullyConnected(self.trunk.out_features, c_dim if conditioning == "projection" else 1)

    def forward(self, img, c=None):
        scores = self.out(self.trunk(img))
        if self.conditioning == "unconditional":
            return scores[:, 0]
        return (scores * c.to(scores.dtype)).sum(dim=1)


class Encoder(nn.Module):
    """E(x) -> w: the discriminator trunk (without minibatch std, which would mix samples) and a
    linear head of size w_dim."""

    def __init__(self, resolution=32, w_dim=128, channel_base=4096, channel_max=128, img_channels=3):
        super().__init__()
        self.trunk = Trunk(resolution, channel_base, channel_max, img_channels, mbstd_group=0)
        self.head = FullyConnected(self.trunk.out_features, w_dim)

    def forward(self, img):
        return self.head(self.trunk(img))
