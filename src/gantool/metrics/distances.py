"""Distances between two sets of feature vectors: FID and KID, computed the standard way.

FID (Heusel et al. 2017) is the Frechet distance between Gaussians fitted to the two sets:
|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)). The trace of the matrix square root is the sum of
the square roots of the eigenvalues of S1 S2, computed here (in float64) as the eigenvalues of the
symmetric sqrt(S1) S2 sqrt(S1), which has the same spectrum and avoids a complex sqrtm.

KID (Binkowski et al. 2018) is the unbiased estimate of the squared MMD with the polynomial kernel
k(x, y) = (x.y / d + 1)^3, averaged over random subsets; its standard deviation over the subsets
comes with it. Unlike FID it is unbiased, so small sample sizes compare fairly.

Both take features from any extractor: a number is only comparable to numbers computed with the
same extractor, which is why every result carries the extractor's name.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gantool.errors import GantoolError


def squared_distances(points: Tensor, centres: Tensor, centre_norms: Tensor | None = None) -> Tensor:
    """(len(points), len(centres)) squared Euclidean distances between rows, in the inputs' dtype;
    pass `centre_norms` (squared row norms of `centres`) when calling chunk by chunk."""
    if centre_norms is None:
        centre_norms = centres.pow(2).sum(1)
    return (points.pow(2).sum(1, keepdim=True) - 2 * points @ centres.T + centre_norms).clamp_min(0)


def gaussian_fit(features: Tensor) -> tuple[Tensor, Tensor]:
    """(mean, covariance) of (N, D) features, in float64."""
    if features.dim() != 2 or len(features) < 2:
        raise GantoolError(f"a Gaussian fit needs at least 2 feature vectors, got shape {tuple(features.shape)}")
    x = features.double()
    mu = x.mean(0)
    centred = x - mu
    return mu, centred.T @ centred / (len(x) - 1)


def _sqrt_psd(matrix: Tensor) -> Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, sigma1, mu2, sigma2 = (t.double() for t in (mu1, sigma1, mu2, sigma2))
    root1 = _sqrt_psd(sigma1)
    inner = root1 @ sigma2 @ root1
    trace_sqrt = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp_min(0).sqrt().sum()
    value = (mu1 - mu2).pow(2).sum() + torch.trace(sigma1) + torch.trace(sigma2) - 2 * trace_sqrt
    return float(value.clamp_min(0))


def fid(features_a: Tensor, features_b: Tensor) -> float:
    """FID between two sets of features (N, D) and (M, D)."""
    return frechet_distance(*gaussian_fit(features_a), *gaussian_fit(features_b))


def polynomial_mmd2(x: Tensor, y: Tensor, degree: int = 3) -> Tensor:
    """Unbiased MMD^2 between samples x (m, D) and y (n, D) with k(a, b) = (a.b / D + 1)^degree."""
    d = x.shape[1]
    k_xx = (x @ x.T / d + 1) ** degree
    k_yy = (y @ y.T / d + 1) ** degree
    k_xy = (x @ y.T / d + 1) ** degree
    m, n = len(x), len(y)
    sum_xx = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    sum_yy = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return sum_xx + sum_yy - 2 * k_xy.mean()


def kid(features_a: Tensor, features_b: Tensor, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """(mean, std) of the unbiased polynomial-kernel MMD^2 over random subsets of both sets."""
    size = min(subset_size, len(features_a), len(features_b))
    if size < 2:
        raise GantoolError("KID needs at least 2 feature vectors in each set")
    generator = torch.Generator().manual_seed(seed)
    a, b = features_a.double(), features_b.double()
    values = torch.stack([
        polynomial_mmd2(a[torch.randperm(len(a), generator=generator)[:size]],
                        b[torch.randperm(len(b), generator=generator)[:size]])
        for _ in range(subsets)
    ])
    return float(values.mean()), float(values.std()) if subsets > 1 else 0.0
