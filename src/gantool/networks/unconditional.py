"""Unconditional networks: G(z) and D(x), for the `gan` recipe.

`dcgan`: convolutional, after Radford et al. (2016), scaling with the image size (base * 2**n with
base 4 to 7: 28, 32, 48, 64, 96, 128, 256, ...). G projects z to a base x base map and doubles it
with stride-2 transposed convolutions (batch norm, ReLU; tanh out); D halves the image with
stride-2 convolutions (LeakyReLU, optional spectral norm) down to the base map and judges it with
one linear layer, as DCGAN's last 4x4 convolution does.

`mlp` and `maxout`: the MNIST model of Goodfellow et al. (2014) as its released code
(goodfeli/adversarial, mnist.yaml) builds it. G: noise into the bottom layer only, two ReLU
layers, sigmoid pixels. D: two maxout layers (units x pieces) with dropout on every layer's input
(keep 0.8 for the pixels, 0.5 after), a sigmoid unit on top (here its logit). Weights start
uniform in +-0.05 (G) and +-0.005 (D), biases at 0, as pylearn2's `irange` does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gantool.networks.conditional import _DownStack, base_resolution
from gantool.networks.layers import batch_norm, init_weights, maybe_spectral_norm
from gantool.networks.registry import DISCRIMINATORS, GENERATORS

BASES = (4, 5, 6, 7)  # the smallest feature map; image sizes are base * 2**n


def _uniform_init(module: nn.Module, bound: float) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)


class _Unconditional(nn.Module):
    family = "unconditional"

    def example_inputs(self, batch_size: int) -> tuple[Tensor]:
        if hasattr(self, "z_dim"):
            return (torch.randn(batch_size, self.z_dim),)
        return (torch.randn(batch_size, self.channels, self.image_size, self.image_size),)


@GENERATORS.register("dcgan")
class DCGANGenerator(_Unconditional):
    def __init__(self, channels: int = 3, image_size: int = 64, z_dim: int = 100, ngf: int = 64,
                 norm: str = "batch") -> None:
        super().__init__()
        self.channels, self.image_size, self.z_dim = channels, image_size, z_dim
        self.base, n_up = base_resolution(image_size, BASES, "unconditional")
        widths = [min(ngf * 2 ** (n_up - i), ngf * 8) for i in range(n_up + 1)]
        sync = norm == "syncbatch"
        self.project = nn.Linear(z_dim, widths[0] * self.base * self.base, bias=False)
        layers: list[nn.Module] = [batch_norm(widths[0], sync), nn.ReLU()]
        for i in range(n_up):
            layers += [nn.ConvTranspose2d(widths[i], widths[i + 1], 4, stride=2, padding=1, bias=False),
                       batch_norm(widths[i + 1], sync), nn.ReLU()]
        layers += [nn.Conv2d(widths[-1], channels, 3, padding=1), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(self.project(z).view(z.shape[0], -1, self.base, self.base))


@DISCRIMINATORS.register("dcgan")
class DCGANDiscriminator(_Unconditional):
    def __init__(self, channels: int = 3, image_size: int = 64, ndf: int = 64, spectral_norm: bool = True) -> None:
        super().__init__()
        self.channels, self.image_size = channels, image_size
        base, _ = base_resolution(image_size, BASES, "unconditional")
        self.features = _DownStack(channels, image_size, ndf, spectral_norm, BASES)
        self.linear = maybe_spectral_norm(nn.Linear(self.features.out_channels * base * base, 1), spectral_norm)
        init_weights(self)

    def forward(self, images: Tensor) -> Tensor:
        return self.linear(self.features(images).flatten(1)).squeeze(1)


@GENERATORS.register("mlp")
class MLPGenerator(_Unconditional):
    """z -> ReLU layers -> sigmoid pixels, returned in gantool's [-1, 1] as 2 * sigmoid - 1."""

    def __init__(self, channels: int = 1, image_size: int = 28, z_dim: int = 100, hidden: int = 1200,
                 layers: int = 2) -> None:
        super().__init__()
        self.channels, self.image_size, self.z_dim = channels, image_size, z_dim
        widths = [z_dim] + [hidden] * layers
        body: list[nn.Module] = []
        for a, b in zip(widths, widths[1:]):
            body += [nn.Linear(a, b), nn.ReLU()]
        self.body = nn.Sequential(*body)
        self.out = nn.Linear(widths[-1], channels * image_size * image_size)
        _uniform_init(self, 0.05)

    @torch.no_grad()
    def init_output_bias(self, pixel_mean: Tensor) -> None:
        """Output biases at the logits of the training pixels' means (pylearn2's
        init_sigmoid_bias_from_marginals): G starts out drawing the mean image."""
        p = pixel_mean.flatten().to(self.out.bias).clamp(1e-7, 1 - 1e-7)
        self.out.bias.copy_(torch.log(p) - torch.log1p(-p))

    def forward(self, z: Tensor) -> Tensor:
        pixels = torch.sigmoid(self.out(self.body(z)))
        return (2 * pixels - 1).view(z.shape[0], self.channels, self.image_size, self.image_size)


class Maxout(nn.Module):
    """max over `pieces` linear pieces per unit (Goodfellow et al. 2013)."""

    def __init__(self, in_features: int, units: int, pieces: int) -> None:
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).view(x.shape[0], self.units, self.pieces).amax(-1)


@DISCRIMINATORS.register("maxout")
class MaxoutDiscriminator(_Unconditional):
    def __init__(self, channels: int = 1, image_size: int = 28, units: int = 240, pieces: int = 5,
                 layers: int = 2, dropout: float = 0.5, input_dropout: float = 0.2) -> None:
        super().__init__()
        self.channels, self.image_size = channels, image_size
        self.dropout, self.input_dropout = dropout, input_dropout
        widths = [channels * image_size * image_size] + [units] * layers
        self.hidden = nn.ModuleList(Maxout(a, b, pieces) for a, b in zip(widths, widths[1:]))
        self.out = nn.Linear(widths[-1], 1)
        _uniform_init(self, 0.005)

    def forward(self, images: Tensor) -> Tensor:
        x = (images.flatten(1) + 1) / 2  # the paper's D saw pixels in [0, 1]
        x = F.dropout(x, self.input_dropout, self.training)
        for layer in self.hidden:
            x = F.dropout(layer(x), self.dropout, self.training)
        return self.out(x).squeeze(1)
