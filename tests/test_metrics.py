"""Feature-space distances: FID against scipy's sqrtm formula, KID's unbiasedness."""

import numpy as np
import pytest
import torch

from gantool.errors import GantoolError
from gantool.metrics.distances import fid, gaussian_fit, kid, polynomial_mmd2


def test_fid_matches_the_scipy_formula():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    torch.manual_seed(0)
    a, b = torch.randn(400, 12), torch.randn(300, 12) @ torch.randn(12, 12) * 0.5 + 0.3
    mu1, s1 = gaussian_fit(a)
    mu2, s2 = gaussian_fit(b)
    covmean = scipy_linalg.sqrtm(s1.numpy() @ s2.numpy()).real
    expected = ((mu1 - mu2) ** 2).sum().item() + np.trace(s1.numpy()) + np.trace(s2.numpy()) - 2 * np.trace(covmean)
    assert fid(a, b) == pytest.approx(expected, rel=1e-6)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    a = torch.randn(200, 8)
    assert fid(a, a) == pytest.approx(0.0, abs=1e-8)
    assert fid(a, a + 1.0) == pytest.approx(8.0, rel=1e-6)  # |mu1 - mu2|^2, same covariance
    with pytest.raises(GantoolError, match="at least 2"):
        fid(a[:1], a)


def test_kid_is_unbiased_for_independent_samples_of_one_distribution():
    generator = torch.Generator().manual_seed(0)
    values = [polynomial_mmd2(torch.randn(50, 4, generator=generator), torch.randn(50, 4, generator=generator)).item()
              for _ in range(300)]
    assert abs(np.mean(values)) < 3 * np.std(values) / np.sqrt(len(values))
    mean, std = kid(torch.randn(300, 4), torch.randn(300, 4) + 2, subsets=10, subset_size=100)
    assert mean > 10 * std > 0
