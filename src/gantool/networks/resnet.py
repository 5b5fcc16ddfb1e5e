"""ResNet translation generator of CycleGAN (Zhu et al. 2017, after Johnson et al. 2016).

A 7x7 stem, two stride-2 downsamplings, `n_blocks` residual blocks at 1/4 resolution, two
upsamplings and a 7x7 Tanh head; reflection padding everywhere a border would otherwise add
zeros (zero borders show up as dark frames in translated images). The defaults follow the
reference: instance norm without affine parameters (so convolutions keep their bias), no dropout,
transposed-convolution upsampling. `upsampling="resize"` (nearest-neighbour resize, then a 3x3
convolution) avoids the checkerboard artifacts of transposed convolutions (Odena et al. 2016).
Inputs need sides that are multiples of 4; `gantool translate` pads other sizes.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from gantool.errors import GantoolError
from gantool.networks.layers import init_weights, norm_layer
from gantool.networks.registry import GENERATORS

Upsampling = Literal["transposed", "resize"]
UPSAMPLINGS = ("transposed", "resize")


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


def _upsample(in_width: int, out_width: int, mode: str, bias: bool) -> list[nn.Module]:
    if mode == "transposed":
        return [nn.ConvTranspose2d(in_width, out_width, 3, stride=2, padding=1, output_padding=1, bias=bias)]
    if mode == "resize":
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1),
                nn.Conv2d(in_width, out_width, 3, bias=bias)]
    raise GantoolError(f"unknown upsampling {mode!r}; valid: {', '.join(UPSAMPLINGS)}")


class ResnetGenerator(nn.Module):
    family = "translation"
    size_multiple = 4  # two stride-2 downsamplings

    def __init__(self, in_channels: int = 3, out_channels: int = 3, n_blocks: int = 9, ngf: int = 64,
                 norm: str = "instance", dropout: float = 0.0, upsampling: Upsampling = "transposed") -> None:
        super().__init__()
        if n_blocks < 0:
            raise GantoolError(f"a ResNet generator needs n_blocks >= 0, got {n_blocks}")
        self.in_channels, self.out_channels, self.n_blocks = in_channels, out_channels, n_blocks
        bias = norm != "batch"  # batch norm's shift makes a conv bias redundant
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias),
                                   norm_layer(norm, ngf), nn.ReLU(inplace=True)]
        for i in range(2):
            width = ngf * 2**i
            layers += [nn.Conv2d(width, width * 2, 3, stride=2, padding=1, bias=bias),
                       norm_layer(norm, width * 2), nn.ReLU(inplace=True)]
        layers += [ResidualBlock(ngf * 4, norm, dropout, bias) for _ in range(n_blocks)]
        for i in range(2):
            width = ngf * 2 ** (2 - i)
            layers += _upsample(width, width // 2, upsampling, bias)
            layers += [norm_layer(norm, width // 2), nn.ReLU(inplace=True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple or min(h, w) < 8:
            raise GantoolError(
                f"input of {w}x{h} px: this ResNet generator needs sides that are multiples of "
                f"{self.size_multiple} and at least 8 (gantool translate pads automatically)"
            )
        return self.body(x)

    def example_inputs(self, batch_size: int) -> tuple[Tensor]:
        return (torch.randn(batch_size, self.in_channels, 32, 32),)


@GENERATORS.register("resnet_6blocks")
class Resnet6Blocks(ResnetGenerator):
    """6 residual blocks: the reference's choice for 128 px training."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, norm: str = "instance",
                 dropout: float = 0.0, upsampling: Upsampling = "transposed") -> None:
        super().__init__(in_channels, out_channels, 6, ngf, norm, dropout, upsampling)


@GENERATORS.register("resnet_9blocks")
class Resnet9Blocks(ResnetGenerator):
    """9 residual blocks: the reference's choice for 256 px training."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, norm: str = "instance",
                 dropout: float = 0.0, upsampling: Upsampling = "transposed") -> None:
        super().__init__(in_channels, out_channels, 9, ngf, norm, dropout, upsampling)
