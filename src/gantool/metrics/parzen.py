"""Parzen-window log-likelihood, as in Table 1 of Goodfellow et al. (2014), labelled as such.

A Gaussian kernel density with bandwidth sigma is fitted to generated samples; sigma is chosen
from a grid by the mean log-likelihood of real validation images, and the mean log-likelihood of
real test images (with its standard error) is reported. The paper reports 225 +- 2 on MNIST.

Read it with care: in high dimensions this estimate is dominated by the bandwidth and by the
nearest sample, so it ranks models poorly and can favour a model that memorises its training set
(Theis, van den Oord & Bethge 2016, "A note on the evaluation of generative models"). gantool
reports it only next to other metrics, to reproduce the paper's table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from gantool.errors import GantoolError
from gantool.metrics.distances import squared_distances

DEFAULT_SIGMAS = tuple(float(s) for s in torch.logspace(-1, 0, 10))


def _squared_distances(points: Tensor, centres: Tensor, chunk: int = 500) -> Tensor:
    """(len(points), len(centres)) squared Euclidean distances, in float64, chunked over points."""
    centres = centres.double()
    centre_norms = centres.pow(2).sum(1)
    rows = []
    for start in range(0, len(points), chunk):
        rows.append(squared_distances(points[start:start + chunk].double(), centres, centre_norms))
    return torch.cat(rows)


def parzen_log_likelihoods(points: Tensor, samples: Tensor, sigma: float,
                           distances: Tensor | None = None) -> Tensor:
    """log p(x) of each point under a Gaussian kernel density of bandwidth `sigma` on `samples`."""
    d = points[0].numel()
    if distances is None:
        distances = _squared_distances(points.flatten(1), samples.flatten(1))
    log_kernel = -distances / (2 * sigma**2)
    return torch.logsumexp(log_kernel, dim=1) - math.log(len(samples)) - d / 2 * math.log(2 * math.pi * sigma**2)


@dataclass(frozen=True)
class ParzenResult:
    mean: float  # mean log-likelihood of the test images (nats)
    stderr: float  # its standard error
    sigma: float  # the bandwidth chosen on the validation images
    n_samples: int
    n_test: int

    def as_dict(self) -> dict[str, float | int | str]:
        return {"parzen_ll": self.mean, "parzen_ll_stderr": self.stderr, "parzen_sigma": self.sigma,
                "parzen_samples": self.n_samples, "parzen_test_images": self.n_test,
                "note": "Parzen-window estimate (Goodfellow et al. 2014, Table 1); unreliable in high "
                        "dimensions (Theis et al. 2016): compare only with other metrics"}


def parzen_evaluation(samples: Tensor, validation: Tensor, test: Tensor,
                      sigmas: tuple[float, ...] = DEFAULT_SIGMAS) -> ParzenResult:
    """Choose sigma by the mean log-likelihood of `validation`, then score `test`. Images are
    compared in [0, 1] pixel space, as in the paper."""
    if len(samples) < 2 or len(validation) < 1 or len(test) < 2:
        raise GantoolError("the Parzen estimate needs generated samples, validation images and test images")
    to_unit = lambda x: ((x.float() + 1) / 2).flatten(1)  # noqa: E731  ([-1, 1] -> [0, 1])
    samples, validation, test = to_unit(samples), to_unit(validation), to_unit(test)
    val_distances = _squared_distances(validation, samples)
    scores = [parzen_log_likelihoods(validation, samples, s, val_distances).mean().item() for s in sigmas]
    sigma = sigmas[max(range(len(sigmas)), key=scores.__getitem__)]
    log_likelihoods = parzen_log_likelihoods(test, samples, sigma)
    stderr = log_likelihoods.std().item() / math.sqrt(len(log_likelihoods))
    return ParzenResult(log_likelihoods.mean().item(), stderr, sigma, len(samples), len(test))
