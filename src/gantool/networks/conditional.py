"""Class-conditional DCGAN-style generator and discriminators.

Generator: noise z plus the class, through a linear layer to a small feature map, then stride-2
transposed convolutions up to the image size. The class enters either by conditional batch norm
(a learned per-class scale and shift after every normalisation, as in Miyato & Koyama 2018) or by
concatenating a learned label embedding to z (Mirza & Osindero 2014).

Discriminators: `projection` (Miyato & Koyama 2018: logit = psi(h) + <embed(y), h>) and `concat`
(Mirza & Osindero: one-hot class maps concatenated to the image), both with optional spectral norm.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gantool.errors import GantoolError
from gantool.networks.layers import batch_norm, init_weights, maybe_spectral_norm
from gantool.networks.registry import DISCRIMINATORS, GENERATORS


def base_resolution(image_size: int, bases: tuple[int, ...] = (4, 7), what: str = "conditional") -> tuple[int, int]:
    """(base, n) such that image_size = base * 2**n with base one of `bases` and n >= 1."""
    for base in bases:
        if image_size % base == 0:
            ratio = image_size // base
            n = int(math.log2(ratio)) if ratio > 0 else 0
            if n >= 1 and 2**n == ratio:
                return base, n
    choices = ", ".join(str(b) for b in bases[:-1]) + f" or {bases[-1]}"
    examples = sorted({b * 2**k for b in bases for k in (2, 3, 4)})[:6]
    raise GantoolError(
        f"image size {image_size} is not supported by the {what} networks: use {choices} "
        f"times a power of two, e.g. {', '.join(map(str, examples))}"
    )


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm without its own affine, followed by a per-class scale and shift."""

    def __init__(self, channels: int, num_classes: int, sync: bool = False) -> None:
        super().__init__()
        self.norm = batch_norm(channels, sync=sync, affine=False)
        self.scale = nn.Embedding(num_classes, channels)
        self.shift = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.scale.weight)
        nn.init.zeros_(self.shift.weight)

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        scale = self.scale(labels)[:, :, None, None]
        shift = self.shift(labels)[:, :, None, None]
        return self.norm(x) * scale + shift


class _Norm(nn.Module):
    """Plain batch norm with the same call signature as the conditional one."""

    def __init__(self, channels: int, sync: bool = False) -> None:
        super().__init__()
        self.norm = batch_norm(channels, sync=sync)

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        return self.norm(x)


@GENERATORS.register("dcgan_conditional")
class ConditionalGenerator(nn.Module):
    family = "conditional"

    def __init__(
        self,
        channels: int = 1,
        image_size: int = 28,
        num_classes: int = 10,
        z_dim: int = 64,
        ngf: int = 32,
        conditioning: str = "cbn",
        embed_dim: int = 32,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        if conditioning not in ("cbn", "concat"):
            raise GantoolError(f"unknown conditioning {conditioning!r}; valid: cbn, concat")
        if norm not in ("batch", "syncbatch"):
            raise GantoolError(f"unknown norm {norm!r} for the conditional generator; valid: batch, syncbatch")
        sync = norm == "syncbatch"
        self.z_dim, self.num_classes, self.conditioning = z_dim, num_classes, conditioning
        self.channels, self.image_size = channels, image_size
        self.base, n_up = base_resolution(image_size)
        widths = [min(ngf * 2 ** (n_up - i), ngf * 8) for i in range(n_up + 1)]

        in_dim = z_dim
        if conditioning == "concat":
            self.embed = nn.Embedding(num_classes, embed_dim)
            in_dim += embed_dim

        def norm(c: int) -> nn.Module:
            return ConditionalBatchNorm2d(c, num_classes, sync) if conditioning == "cbn" else _Norm(c, sync)

        self.project = nn.Linear(in_dim, widths[0] * self.base * self.base, bias=False)
        self.project_norm = norm(widths[0])
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(widths[i], widths[i + 1], 4, stride=2, padding=1, bias=False)
            for i in range(n_up)
        )
        self.norms = nn.ModuleList(norm(widths[i + 1]) for i in range(n_up))
        self.to_image = nn.Conv2d(widths[-1], channels, 3, padding=1)
        init_weights(self)

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        if self.conditioning == "concat":
            z = torch.cat([z, self.embed(labels)], dim=1)
        x = self.project(z).view(z.shape[0], -1, self.base, self.base)
        x = F.relu(self.project_norm(x, labels))
        for up, norm in zip(self.ups, self.norms):
            x = F.relu(norm(up(x), labels))
        return torch.tanh(self.to_image(x))

    def example_inputs(self, batch_size: int) -> tuple[Tensor, Tensor]:
        return torch.randn(batch_size, self.z_dim), torch.arange(batch_size) % self.num_classes


def _down_widths(image_size: int, ndf: int, bases: tuple[int, ...] = (4, 7)) -> list[int]:
    base, n_down = base_resolution(image_size, bases)
    return [min(ndf * 2**i, ndf * 8) for i in range(n_down)]


class _DownStack(nn.Module):
    """Stride-2 4x4 convolutions with LeakyReLU from image_size down to the base (4x4 or 7x7)."""

    def __init__(self, in_channels: int, image_size: int, ndf: int, spectral_norm: bool,
                 bases: tuple[int, ...] = (4, 7)) -> None:
        super().__init__()
        widths = _down_widths(image_size, ndf, bases)
        layers: list[nn.Module] = []
        previous = in_channels
        for width in widths:
            conv = nn.Conv2d(previous, width, 4, stride=2, padding=1)
            layers += [maybe_spectral_norm(conv, spectral_norm), nn.LeakyReLU(0.2)]
            previous = width
        last = nn.Conv2d(previous, previous * 2, 3, padding=1)
        layers += [maybe_spectral_norm(last, spectral_norm), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        self.out_channels = previous * 2

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class _ConditionalDiscriminator(nn.Module):
    """Shared by both class-conditional discriminators: a conv stack, sum pooling, a linear head."""

    family = "conditional"
    extra_input_channels = 0  # channels added to the image before the stack

    def __init__(self, channels: int = 1, image_size: int = 28, num_classes: int = 10, ndf: int = 32,
                 spectral_norm: bool = True) -> None:
        super().__init__()
        self.channels, self.image_size, self.num_classes = channels, image_size, num_classes
        extra = num_classes if self.extra_input_channels else 0
        self.features = _DownStack(channels + extra, image_size, ndf, spectral_norm)
        self.linear = maybe_spectral_norm(nn.Linear(self.features.out_channels, 1), spectral_norm)

    def example_inputs(self, batch_size: int) -> tuple[Tensor, Tensor]:
        images = torch.randn(batch_size, self.channels, self.image_size, self.image_size)
        return images, torch.arange(batch_size) % self.num_classes


@DISCRIMINATORS.register("projection")
class ProjectionDiscriminator(_ConditionalDiscriminator):
    def __init__(self, channels: int = 1, image_size: int = 28, num_classes: int = 10, ndf: int = 32,
                 spectral_norm: bool = True) -> None:
        super().__init__(channels, image_size, num_classes, ndf, spectral_norm)
        self.embed = maybe_spectral_norm(nn.Embedding(num_classes, self.features.out_channels), spectral_norm)
        init_weights(self)

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        h = self.features(images).sum(dim=(2, 3))  # global sum pooling
        return self.linear(h).squeeze(1) + (self.embed(labels) * h).sum(dim=1)


@DISCRIMINATORS.register("concat")
class ConcatDiscriminator(_ConditionalDiscriminator):
    extra_input_channels = 1  # one-hot class maps

    def __init__(self, channels: int = 1, image_size: int = 28, num_classes: int = 10, ndf: int = 32,
                 spectral_norm: bool = True) -> None:
        super().__init__(channels, image_size, num_classes, ndf, spectral_norm)
        init_weights(self)

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        b, _, h, w = images.shape
        onehot = F.one_hot(labels, self.num_classes).to(images.dtype)[:, :, None, None]
        x = torch.cat([images, onehot.expand(b, self.num_classes, h, w)], dim=1)
        return self.linear(self.features(x).sum(dim=(2, 3))).squeeze(1)
