"""An image encoder E_z: image -> latent code, the inverse of a conditional generator's z input.

Stride-2 convolutions with batch norm down to the generator's base resolution (7x7 for 28 px,
4x4 for 32 or 64 px), then two linear layers. The feature map is flattened, not pooled: where
the strokes are (slant, width, position) is exactly what z encodes and what pooling would lose.
"""

from __future__ import annotations

from torch import Tensor, nn

from gantool.networks.conditional import base_resolution


class Encoder(nn.Module):
    def __init__(self, channels: int = 1, image_size: int = 28, z_dim: int = 64, nef: int = 32,
                 hidden: int = 512) -> None:
        super().__init__()
        self.channels, self.image_size, self.z_dim = channels, image_size, z_dim
        base, n_down = base_resolution(image_size)
        widths = [min(nef * 2**i, nef * 8) for i in range(n_down + 1)]
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 3, padding=1), nn.LeakyReLU(0.2)]
        for i in range(n_down):
            layers += [nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(widths[i + 1]), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(widths[-1] * base * base, hidden), nn.LeakyReLU(0.2),
                                  nn.Linear(hidden, z_dim))

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.features(images))
