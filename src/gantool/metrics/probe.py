"""Linear probes: how well a fixed feature map separates classes when only a few labels are known
(the semi-supervised use of GAN features, Goodfellow et al. 2014 section 7; Radford et al. 2016).

A multinomial logistic regression is fitted on the features of m labelled training images (m/10
per class) and tested on every test image. Features are standardised with statistics of
unlabelled training images, which the semi-supervised setting has in plenty. The objective is
scikit-learn's LogisticRegression(C=1): C * sum of cross-entropies + ||W||^2 / 2, minimised by
L-BFGS to convergence, so results do not depend on a learning rate or an epoch count.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def fit_logistic(features: Tensor, labels: Tensor, num_classes: int, c: float = 1.0,
                 max_iter: int = 500) -> tuple[Tensor, Tensor]:
    """(weights (D, K), bias (K,)) of an L2-regularised multinomial logistic regression."""
    x, y = features.double(), labels.long()
    weight = torch.zeros(x.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, tolerance_grad=1e-9,
                                  tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = c * F.cross_entropy(x @ weight + bias, y, reduction="sum") + 0.5 * weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach()


def balanced_subset(labels: Tensor, per_class: int, generator: torch.Generator) -> Tensor:
    """Indices of `per_class` random examples of each class."""
    picks = []
    for c in labels.unique().tolist():
        members = torch.nonzero(labels == c).flatten()
        picks.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    return torch.cat(picks)


def probe_accuracy(train_features: Tensor, train_labels: Tensor, test_features: Tensor, test_labels: Tensor,
                   sizes: tuple[int, ...] = (10, 100, 1000), repeats: int = 5, seed: int = 0,
                   unlabelled: Tensor | None = None) -> dict[str, Any]:
    """Test accuracy (mean, std, each repeat) of probes fitted on `sizes` labelled examples drawn
    from the training features, `repeats` draws each. `unlabelled` features (default: all
    training features) give the standardisation."""
    reference = (train_features if unlabelled is None else unlabelled).double()
    mean, std = reference.mean(0), reference.std(0).clamp_min(1e-6)
    standard: Callable[[Tensor], Tensor] = lambda f: (f.double() - mean) / std  # noqa: E731
    train_x, test_x = standard(train_features), standard(test_features)
    num_classes = int(train_labels.max()) + 1
    generator = torch.Generator().manual_seed(seed)
    results = {}
    for size in sizes:
        scores = []
        for _ in range(repeats):
            picks = balanced_subset(train_labels, max(1, size // num_classes), generator)
            weight, bias = fit_logistic(train_x[picks], train_labels[picks], num_classes)
            predicted = (test_x @ weight + bias).argmax(1)
            scores.append((predicted == test_labels).double().mean().item())
        scores_t = torch.tensor(scores)
        results[str(size)] = {"mean": scores_t.mean().item(),
                              "std": scores_t.std().item() if repeats > 1 else 0.0, "runs": scores}
    return results
