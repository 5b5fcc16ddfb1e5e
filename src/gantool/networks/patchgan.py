"""PatchGAN discriminators (Isola et al. 2017): a grid of real/fake logits, one per image patch.

`patchgan` with n_layers=3 judges 70x70 patches; `pixel` (1x1 convolutions) judges single pixels.
`antialias=True` is the PatchGAN of CUT's reference: each stride-2 convolution becomes a stride-1
convolution followed by a binomial blur-and-subsample (networks/antialias.py); same output size.
For pix2pix the input is the source and the (real or generated) target concatenated on channels.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gantool.networks.antialias import BlurDownsample
from gantool.networks.layers import init_weights, maybe_spectral_norm, norm_layer
from gantool.networks.registry import DISCRIMINATORS


def receptive_field(n_layers: int) -> int:
    """Side of the input patch that one output logit sees (70 for n_layers=3)."""
    field = 1
    for kernel, stride in reversed([(4, 2)] * n_layers + [(4, 1), (4, 1)]):
        field = (field - 1) * stride + kernel
    return field


@DISCRIMINATORS.register("patchgan")
class PatchDiscriminator(nn.Module):
    family = "translation"

    def __init__(self, in_channels: int = 6, ndf: int = 64, n_layers: int = 3, norm: str = "batch",
                 spectral_norm: bool = False, antialias: bool = False) -> None:
        super().__init__()
        self.in_channels = in_channels
        use_bias = norm != "batch"
        sn = lambda layer: maybe_spectral_norm(layer, spectral_norm)  # noqa: E731
        first_stride = 1 if antialias else 2
        layers: list[nn.Module] = [sn(nn.Conv2d(in_channels, ndf, 4, first_stride, 1)), nn.LeakyReLU(0.2)]
        if antialias:
            layers.append(BlurDownsample(ndf))
        width = ndf
        for i in range(1, n_layers + 1):
            new_width = ndf * min(2**i, 8)
            downsamples = i < n_layers
            stride = 2 if downsamples and not antialias else 1
            layers += [sn(nn.Conv2d(width, new_width, 4, stride, 1, bias=use_bias)), norm_layer(norm, new_width),
                       nn.LeakyReLU(0.2)]
            if downsamples and antialias:
                layers.append(BlurDownsample(new_width))
            width = new_width
        layers.append(sn(nn.Conv2d(width, 1, 4, 1, 1)))
        self.body = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)

    def example_inputs(self, batch_size: int) -> tuple[Tensor]:
        return (torch.randn(batch_size, self.in_channels, 64, 64),)


@DISCRIMINATORS.register("pixel")
class PixelDiscriminator(nn.Module):
    family = "translation"

    def __init__(self, in_channels: int = 6, ndf: int = 64, norm: str = "batch", spectral_norm: bool = False) -> None:
        super().__init__()
        self.in_channels = in_channels
        sn = lambda layer: maybe_spectral_norm(layer, spectral_norm)  # noqa: E731
        self.body = nn.Sequential(
            sn(nn.Conv2d(in_channels, ndf, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(ndf, ndf * 2, 1, bias=norm != "batch")), norm_layer(norm, ndf * 2), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(ndf * 2, 1, 1)),
        )
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)

    def example_inputs(self, batch_size: int) -> tuple[Tensor]:
        return (torch.randn(batch_size, self.in_channels, 16, 16),)
