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


def test_parzen_with_one_sample_is_the_gaussian_log_density():
    from gantool.metrics.parzen import parzen_log_likelihoods

    sample, point, sigma = torch.zeros(1, 3), torch.tensor([[0.1, -0.2, 0.3]]), 0.5
    expected = torch.distributions.Normal(0.0, sigma).log_prob(point).sum().item()
    assert parzen_log_likelihoods(point, sample, sigma).item() == pytest.approx(expected, rel=1e-6)  # float32 reference


def test_parzen_recovers_the_log_likelihood_of_a_known_density():
    """Samples and test points from one 2-d Gaussian: the estimate approaches the true mean
    log-likelihood, with sigma chosen on validation points (here from a finer grid)."""
    from gantool.metrics.parzen import parzen_evaluation

    generator = torch.Generator().manual_seed(0)
    draw = lambda n: (torch.randn(n, 1, 1, 2, generator=generator) * 0.05 + 0.5) * 2 - 1  # noqa: E731 (unit space N(0.5, 0.05^2))
    result = parzen_evaluation(draw(4000), draw(500), draw(2000), sigmas=tuple(float(s) for s in torch.logspace(-3, 0, 31)))
    true_mean_ll = -np.log(2 * np.pi * np.e * 0.05**2)  # differential entropy of the 2-d Gaussian, negated
    assert result.mean == pytest.approx(true_mean_ll, abs=0.15)
    assert 0.005 < result.sigma < 0.05 and result.stderr < 0.05
    assert result.as_dict()["parzen_samples"] == 4000
