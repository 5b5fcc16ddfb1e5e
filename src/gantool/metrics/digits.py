"""Metrics of generated digits, judged by the digit classifier trained on real MNIST.

- accuracy: the share of class-conditional samples the judge assigns to the requested class
  (overall and per class; `judge.conditional_accuracy`);
- class coverage: the histogram of the judge's predictions and its KL divergence to uniform, so
  mode collapse onto a few digits shows as one number (0 = all ten classes equally often);
- judge-space FID and KID: distances between the judge's 128-d features of generated and real
  digits, with the same distance between two disjoint sets of real digits as the floor that a
  perfect generator would reach at this sample size. These are *not* Inception FID: every result
  names its feature space;
- CAS, classification accuracy score (Ravuri & Vinyals 2019): a classifier trained on generated
  digits only (labelled with the class asked for), tested on real MNIST test digits.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from gantool.metrics.distances import fid, kid
from gantool.metrics.judge import DigitJudge, fit_classifier, predict

JUDGE_FEATURES = "digit-judge-128d"


def class_coverage(predicted: Tensor, num_classes: int = 10) -> dict[str, Any]:
    """Histogram of predicted classes (shares) and KL(predicted || uniform) in nats."""
    counts = torch.bincount(predicted.long(), minlength=num_classes).double()
    shares = counts / counts.sum().clamp_min(1)
    nonzero = shares[shares > 0]
    kl = float((nonzero * (nonzero * num_classes).log()).sum())
    return {"histogram": shares.tolist(), "kl_to_uniform": kl, "max_kl": math.log(num_classes),
            "classes_seen": int((counts > 0).sum())}


@torch.inference_mode()
def judge_features(judge: DigitJudge, images: Tensor, batch_size: int = 1000) -> Tensor:
    judge.eval()
    return torch.cat([judge.embed(images[i:i + batch_size].float()) for i in range(0, len(images), batch_size)])


def judge_distances(judge: DigitJudge, generated: Tensor, real: Tensor, real_reference: Tensor,
                    kid_subsets: int = 50, kid_subset_size: int = 1000) -> dict[str, Any]:
    """FID/KID in the judge's feature space between generated and `real` digits, and the floor:
    the same distances between `real_reference` and `real` (disjoint real sets of similar size)."""
    fake_f, real_f, ref_f = (judge_features(judge, x) for x in (generated, real, real_reference))
    kid_fake = kid(fake_f, real_f, kid_subsets, kid_subset_size)
    kid_floor = kid(ref_f, real_f, kid_subsets, kid_subset_size)
    return {"features": JUDGE_FEATURES, "fid": fid(fake_f, real_f), "fid_real_floor": fid(ref_f, real_f),
            "kid": kid_fake[0], "kid_std": kid_fake[1], "kid_real_floor": kid_floor[0],
            "n_generated": len(generated), "n_real": len(real)}


def classification_accuracy_score(generated: Tensor, labels: Tensor, test_images: Tensor, test_labels: Tensor,
                                  epochs: int = 2, seed: int = 0) -> float:
    """Accuracy on real test digits of a classifier trained only on generated ones."""
    classifier = fit_classifier(generated, labels, epochs=epochs, seed=seed)
    return (predict(classifier, test_images) == test_labels).float().mean().item()
