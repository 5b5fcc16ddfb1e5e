"""U-Net translation generator of pix2pix (Isola et al. 2017).

`unet_128` halves the image 7 times and `unet_256` 8 times (`unet_64`, 6 times, is ours for small crops) (down to 1x1 at their nominal size),
with skip connections between mirrored encoder and decoder layers. Defaults follow the paper:
batch norm, dropout 0.5 in the three innermost 8*ngf decoder blocks (two for unet_128), Tanh
output, N(0, 0.02) init. Inputs of any size whose sides are multiples of 2**n_down work;
`gantool.inference` pads other sizes and crops back.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gantool.errors import GantoolError
from gantool.networks.layers import init_weights, norm_layer
from gantool.networks.registry import GENERATORS


class UNetGenerator(nn.Module):
    family = "translation"

    def __init__(self, in_channels: int = 3, out_channels: int = 3, n_down: int = 8, ngf: int = 64,
                 norm: str = "batch", dropout: float = 0.5) -> None:
        super().__init__()
        if n_down < 5:
            raise GantoolError(f"a U-Net needs at least 5 downsamplings, got {n_down}")
        self.in_channels, self.out_channels, self.n_down = in_channels, out_channels, n_down
        use_bias = norm != "batch"  # batch norm's shift makes a conv bias redundant
        widths = [min(ngf * 2**i, ngf * 8) for i in range(n_down)]
        self.downs = nn.ModuleList()
        for i, width in enumerate(widths):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(in_channels if i == 0 else widths[i - 1], width, 4, 2, 1, bias=use_bias))
            if 0 < i < n_down - 1:  # no norm on the first layer, nor on the 1x1 bottleneck
                layers.append(norm_layer(norm, width))
            self.downs.append(nn.Sequential(*layers))
        self.ups = nn.ModuleList()
        for i in reversed(range(n_down)):
            in_width = widths[i] if i == n_down - 1 else 2 * widths[i]
            if i == 0:
                self.ups.append(nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(in_width, out_channels, 4, 2, 1), nn.Tanh()))
                continue
            layers = [nn.ReLU(), nn.ConvTranspose2d(in_width, widths[i - 1], 4, 2, 1, bias=use_bias),
                      norm_layer(norm, widths[i - 1])]
            if dropout > 0 and 4 <= i <= n_down - 2:
                layers.append(nn.Dropout(dropout))
            self.ups.append(nn.Sequential(*layers))
        init_weights(self)

    @property
    def size_multiple(self) -> int:
        return 2**self.n_down

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] % self.size_multiple or x.shape[-2] % self.size_multiple:
            raise GantoolError(
                f"input of {x.shape[-1]}x{x.shape[-2]} px: this U-Net needs sides that are multiples of "
                f"{self.size_multiple} (gantool translate pads automatically)"
            )
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = self.ups[0](skips.pop())
        for up in self.ups[1:]:
            x = up(torch.cat([x, skips.pop()], dim=1))
        return x

    def example_inputs(self, batch_size: int) -> tuple[Tensor]:
        return (torch.randn(batch_size, self.in_channels, self.size_multiple, self.size_multiple),)


@GENERATORS.register("unet_64")
class UNet64(UNetGenerator):
    """6 downsamplings: for small crops (64 px) and quick experiments; not in the paper."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, norm: str = "batch",
                 dropout: float = 0.5) -> None:
        super().__init__(in_channels, out_channels, 6, ngf, norm, dropout)


@GENERATORS.register("unet_128")
class UNet128(UNetGenerator):
    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, norm: str = "batch",
                 dropout: float = 0.5) -> None:
        super().__init__(in_channels, out_channels, 7, ngf, norm, dropout)


@GENERATORS.register("unet_256")
class UNet256(UNetGenerator):
    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, norm: str = "batch",
                 dropout: float = 0.5) -> None:
        super().__init__(in_channels, out_channels, 8, ngf, norm, dropout)
