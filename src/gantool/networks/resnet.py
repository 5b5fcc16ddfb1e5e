"""ResNet translation generator of CycleGAN (Zhu et al. 2017, after Johnson et al. 2016).

A 7x7 stem, two stride-2 downsamplings, `n_blocks` residual blocks at 1/4 resolution, two
upsamplings and a 7x7 Tanh head; reflection padding everywhere a border would otherwise add
zeros (zero borders show up as dark frames in translated images). The defaults follow the
reference: instance norm without affine parameters (so convolutions keep their bias), no dropout,
transposed-convolution upsampling. `upsampling="resize"` (nearest-neighbour resize, then a 3x3
convolution) avoids the checkerboard artifacts of transposed convolutions (Odena et al. 2016).
`downsampling="antialias"` and `upsampling="antialias"` are the blur-pooled variants of CUT's
reference (stride-1 convolution then a binomial blur-and-subsample; binomial upsampling then a
stride-1 convolution; see networks/antialias.py).
Inputs need sides that are multiples of 4; `gantool translate` pads other sizes.

`forward(x, layers=[...])` returns the outputs of those entries of `body` instead of the image,
stopping after the last one (CUT's PatchNCE features); with `with_output=True`, the image and
those features of one pass. With antialias downsampling the indices
mean what they mean in the reference code: 0 the padded input, 4 and 8 the two downsampling
convolutions, 12 onwards the residual blocks.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
from torch import Tensor, nn

from gantool.errors import GantoolError
from gantool.networks.antialias import BlurDownsample, BlurUpsample
from gantool.networks.layers import init_weights, norm_layer
from gantool.networks.registry import GENERATORS

Upsampling = Literal["transposed", "resize", "antialias"]
UPSAMPLINGS = ("transposed", "resize", "antialias")
Downsampling = Literal["strided", "antialias"]
DOWNSAMPLINGS = ("strided", "antialias")


class ResidualBlock(nn.Module):
    def __init__(self, width: int, norm: str, dropout: float, bias: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3, bias=bias),
                                   norm_layer(norm, width), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3, bias=bias), norm_layer(norm, width)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def _downsample(in_width: int, out_width: int, mode: str, bias: bool, norm: str) -> list[nn.Module]:
    if mode == "strided":
        return [nn.Conv2d(in_width, out_width, 3, stride=2, padding=1, bias=bias), norm_layer(norm, out_width),
                nn.ReLU(inplace=True)]
    if mode == "antialias":
        return [nn.Conv2d(in_width, out_width, 3, padding=1, bias=bias), norm_layer(norm, out_width),
                nn.ReLU(inplace=True), BlurDownsample(out_width)]
    raise GantoolError(f"unknown downsampling {mode!r}; valid: {', '.join(DOWNSAMPLINGS)}")


def _upsample(in_width: int, out_width: int, mode: str, bias: bool) -> list[nn.Module]:
    if mode == "transposed":
        return [nn.ConvTranspose2d(in_width, out_width, 3, stride=2, padding=1, output_padding=1, bias=bias)]
    if mode == "resize":
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1),
                nn.Conv2d(in_width, out_width, 3, bias=bias)]
    if mode == "antialias":  # the reference pads this convolution with zeros
        return [BlurUpsample(in_width), nn.Conv2d(in_width, out_width, 3, padding=1, bias=bias)]
    raise GantoolError(f"unknown upsampling {mode!r}; valid: {', '.join(UPSAMPLINGS)}")


class ResnetGenerator(nn.Module):
    family = "translation"
    size_multiple = 4  # two stride-2 downsamplings

    def __init__(self, in_channels: int = 3, out_channels: int = 3, n_blocks: int = 9, ngf: int = 64,
                 norm: str = "instance", dropout: float = 0.0, upsampling: Upsampling = "transposed",
                 downsampling: Downsampling = "strided") -> None:
        super().__init__()
        if n_blocks < 0:
            raise GantoolError(f"a ResNet generator needs n_blocks >= 0, got {n_blocks}")
        self.in_channels, self.out_channels, self.n_blocks = in_channels, out_channels, n_blocks
        bias = norm != "batch"  # batch norm's shift makes a conv bias redundant
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias),
                                   norm_layer(norm, ngf), nn.ReLU(inplace=True)]
        for i in range(2):
            width = ngf * 2**i
            layers += _downsample(width, width * 2, downsampling, bias, norm)
        layers += [ResidualBlock(ngf * 4, norm, dropout, bias) for _ in range(n_blocks)]
        for i in range(2):
            width = ngf * 2 ** (2 - i)
            layers += _upsample(width, width // 2, upsampling, bias)
            layers += [norm_layer(norm, width // 2), nn.ReLU(inplace=True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: Tensor, layers: Sequence[int] | None = None,
                with_output: bool = False) -> Tensor | list[Tensor] | tuple[Tensor, list[Tensor]]:
        h, w = x.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple or min(h, w) < 8:
            raise GantoolError(
                f"input of {w}x{h} px: this ResNet generator needs sides that are multiples of "
                f"{self.size_multiple} and at least 8 (gantool translate pads automatically)"
            )
        if layers is None:
            return self.body(x)
        wanted, features = set(self.check_layers(layers)), []
        for index, layer in enumerate(self.body if with_output else self.body[:max(wanted) + 1]):
            x = layer(x)
            if index in wanted:
                features.append(x)
        return (x, features) if with_output else features

    def check_layers(self, layers: Sequence[int]) -> list[int]:
        """`layers` as sorted indices into `body`, or an error naming the valid range."""
        layers = sorted(set(layers))
        if not layers or layers[0] < 0 or layers[-1] >= len(self.body):
            raise GantoolError(f"feature layers {layers} of this ResNet generator must lie in 0..{len(self.body) - 1}")
        return layers

    def feature_channels(self, layers: Sequence[int]) -> list[int]:
        """Channels of the outputs of `body` entries `layers` (in sorted order)."""
        channels, result = self.in_channels, []
        wanted = self.check_layers(layers)
        for index, layer in enumerate(self.body[:wanted[-1] + 1]):
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                channels = layer.out_channels
            if index in wanted:
                result.append(channels)
        return result

    def example_inputs(self, batch_size: int) -> tuple[Tensor]:
        return (torch.randn(batch_size, self.in_channels, 32, 32),)


@GENERATORS.register("resnet_6blocks")
class Resnet6Blocks(ResnetGenerator):
    """6 residual blocks: the reference's choice for 128 px training."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, norm: str = "instance",
                 dropout: float = 0.0, upsampling: Upsampling = "transposed", downsampling: Downsampling = "strided") -> None:
        super().__init__(in_channels, out_channels, 6, ngf, norm, dropout, upsampling, downsampling)


@GENERATORS.register("resnet_9blocks")
class Resnet9Blocks(ResnetGenerator):
    """9 residual blocks: the reference's choice for 256 px training."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, norm: str = "instance",
                 dropout: float = 0.0, upsampling: Upsampling = "transposed", downsampling: Downsampling = "strided") -> None:
        super().__init__(in_channels, out_channels, 9, ngf, norm, dropout, upsampling, downsampling)
