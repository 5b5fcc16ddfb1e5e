"""Sliced Wasserstein distance between two sets of images, over multi-scale patches (after Karras
et al. 2018, "Progressive Growing of GANs", section 5): a cheap, weight-free distance between the
distributions of generated and real images, used as the validation metric of recipes whose
outputs have no ground truth (CUT).

Each image is decomposed into a Laplacian pyramid (5x5 binomial filter, sides halved down to
about 16 px); from every level, `per_image` random 7x7 neighbourhoods become descriptors, which
are normalised per channel with the mean and std of both sets together. The SWD of a level is
the mean absolute difference of the sorted projections of the two descriptor sets onto
`projections` random unit directions; values are reported x 1e3, as in the paper, per level (the
finest first) and averaged. Lower is closer; the same seed draws the same patches and directions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gantool.errors import GantoolError
from gantool.networks.antialias import binomial_filter

PATCH = 7
MIN_SIDE = 16


def _blur(images: Tensor) -> Tensor:
    kernel = binomial_filter(5).to(images)[None, None].repeat(images.shape[1], 1, 1, 1)
    return F.conv2d(F.pad(images, (2, 2, 2, 2), mode="reflect"), kernel, groups=images.shape[1])


def laplacian_pyramid(images: Tensor, levels: int) -> list[Tensor]:
    """Band-pass levels (finest first) and the low-pass residual last: `levels` tensors in all."""
    pyramid, current = [], images
    for _ in range(levels - 1):
        smaller = _blur(current)[:, :, ::2, ::2]
        back = F.interpolate(smaller, size=current.shape[-2:], mode="bilinear", align_corners=False)
        pyramid.append(current - back)
        current = smaller
    return pyramid + [current]


def _descriptors(level: Tensor, per_image: int, generator: torch.Generator) -> Tensor:
    """(n * per_image, c, 49): the 7x7 neighbourhoods at random places of each image of `level`."""
    n, c, h, w = level.shape
    ys = torch.randint(0, h - PATCH + 1, (n, per_image, 1, 1), generator=generator)
    xs = torch.randint(0, w - PATCH + 1, (n, per_image, 1, 1), generator=generator)
    offsets = torch.arange(PATCH)
    flat = ((ys + offsets[:, None]) * w + xs + offsets[None, :]).reshape(n, 1, -1)  # (n, 1, per_image * 49)
    picked = level.flatten(2).gather(2, flat.expand(-1, c, -1).to(level.device))
    return picked.reshape(n, c, per_image, PATCH * PATCH).transpose(1, 2).reshape(n * per_image, c, -1)


def sliced_wasserstein(a: Tensor, b: Tensor, projections: int, generator: torch.Generator) -> float:
    """SWD between descriptor sets (N, D) and (M, D), the larger subsampled to the smaller's size."""
    size = min(len(a), len(b))
    a = a[torch.randperm(len(a), generator=generator)[:size]]
    b = b[torch.randperm(len(b), generator=generator)[:size]]
    directions = torch.randn(a.shape[1], projections, generator=generator, dtype=a.dtype)
    directions = directions / directions.norm(dim=0, keepdim=True)
    # one row per direction: sorting along contiguous rows is many times faster than down columns
    projected_a, _ = (directions.T @ a.T).sort(dim=1)
    projected_b, _ = (directions.T @ b.T).sort(dim=1)
    return float((projected_a - projected_b).abs().mean())


def swd(fake: Tensor, real: Tensor, per_image: int = 64, projections: int = 256, seed: int = 0) -> dict[str, float]:
    """SWD x 1e3 between image sets (N, C, H, W) and (M, C, H', W') in [-1, 1] with equal C:
    `swd_level_k` for each pyramid level (k = 0 finest) and their mean `swd`."""
    if fake.dim() != 4 or real.dim() != 4 or fake.shape[1] != real.shape[1]:
        raise GantoolError(f"SWD needs two image batches with the same channels, got {tuple(fake.shape)} and "
                           f"{tuple(real.shape)}")
    side = min(fake.shape[-2:] + real.shape[-2:])
    if side < MIN_SIDE:
        raise GantoolError(f"SWD needs images of at least {MIN_SIDE} px, got {side} px")
    levels = min(4, 1 + int(torch.tensor(side / MIN_SIDE).log2()))
    generator = torch.Generator().manual_seed(seed)
    result = {}
    for k, (level_fake, level_real) in enumerate(zip(laplacian_pyramid(fake.float(), levels),
                                                     laplacian_pyramid(real.float(), levels))):
        d_fake = _descriptors(level_fake, per_image, generator).double()
        d_real = _descriptors(level_real, per_image, generator).double()
        both = torch.cat([d_fake, d_real])
        mean, std = both.mean(dim=(0, 2), keepdim=True), both.std(dim=(0, 2), keepdim=True).clamp_min(1e-8)
        d_fake, d_real = ((d - mean) / std for d in (d_fake, d_real))
        result[f"swd_level_{k}"] = 1e3 * sliced_wasserstein(d_fake.flatten(1), d_real.flatten(1), projections,
                                                            generator)
    result["swd"] = sum(result.values()) / len(result)
    return result
