"""A monitor that watches the logged training statistics and warns before a run goes bad.

It knows the failure modes of GAN training (Goodfellow 2016; Arjovsky & Bottou 2017) as conditions
on the records the trainer writes to metrics.jsonl: loss/score records every `log_every` steps,
diversity records with the sample grids, and validation records with the recipe's cheap metric.
A warning fires when its condition starts to hold for long enough and again only after it has
cleared. Divergence (NaN/inf) is not a warning: the trainer stops the run (see `Trainer`).

The monitor keeps no state of its own that is not in metrics.jsonl, so a resumed run rebuilds it
by replaying the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from gantool.config import DiagnosticsConfig
from gantool.runlog import record_kind


@dataclass(frozen=True)
class Diagnosis:
    kind: str
    message: str
    remedy: str

    def record(self, step: int) -> dict[str, Any]:
        return {"step": step, "warning": self.kind, "message": self.message, "remedy": self.remedy}


WARNING_KINDS = {
    "vanishing_generator_gradients": "non-saturating loss (--objective nonsaturating), instance noise "
                                     "(--set loss.instance_noise=0.1), R1 (--set loss.r1_weight=1), or fewer "
                                     "D steps / a lower D learning rate",
    "discriminator_overpowering": "a lower D learning rate, R1 or instance noise, label smoothing "
                                  "(--set loss.label_smoothing=0.1), or DiffAugment (--set loss.augment=translation,cutout)",
    "discriminator_collapse": "check that D trains (optim.lr_d > 0), raise its learning rate or d_steps",
    "mode_collapse": "a stronger D or fewer G steps (train.d_steps=2), minibatch diversity via DiffAugment, "
                     "or a lower G learning rate; check that G uses its noise input",
    "no_progress": "stop here or lower the learning rates (optim.lr_decay_fraction); more steps are unlikely to help",
    "oscillation": "lower the learning rates or add learning-rate decay (--set optim.lr_decay_fraction=0.5); "
                   "use checkpoints/best.pt rather than latest.pt",
}


def pairwise_diversity(images: Tensor, size: int = 16) -> float:
    """Mean pairwise Euclidean distance of images downsampled to `size` x `size` (per pixel, so the
    value does not depend on the image size): the feature space of the mode-collapse check."""
    x = images.detach().float()
    if x.shape[-1] > size or x.shape[-2] > size:
        x = F.adaptive_avg_pool2d(x, size)
    x = x.flatten(1) / math.sqrt(x[0].numel())
    if len(x) < 2:
        return float("nan")
    distances = torch.cdist(x, x)
    n = len(x)
    return (distances.sum() / (n * (n - 1))).item()


class TrainingMonitor:
    def __init__(self, cfg: DiagnosticsConfig, probabilistic_scores: bool) -> None:
        self.cfg = cfg
        self.probabilistic = probabilistic_scores  # d_fake is D(G(z)) in [0, 1]
        self.streaks: dict[str, int] = {}
        self.active: set[str] = set()
        self.peak_grad_g = 0.0
        self.val_history: list[tuple[int, float]] = []
        self.fired: list[dict[str, Any]] = []

    # ------------------------------------------------------------- conditions
    def _streak(self, kind: str, holds: bool, needed: int, step: int, message: str,
                key: str | None = None) -> Diagnosis | None:
        """Count consecutive records where `holds`; fire once when the count reaches `needed`.
        `key` separates two conditions that report the same kind of warning."""
        key = key or kind
        if not holds or step < self.cfg.warmup_steps:
            self.streaks[key] = 0
            self.active.discard(key)
            return None
        self.streaks[key] = self.streaks.get(key, 0) + 1
        if self.streaks[key] >= needed and key not in self.active:
            self.active.add(key)
            return Diagnosis(kind, message, WARNING_KINDS[kind])
        return None

    def _observe_training(self, record: dict[str, Any]) -> list[Diagnosis | None]:
        c, step = self.cfg, record["step"]
        grad_g = record.get("grad_norm_g")
        accuracy = record.get("d_accuracy")
        d_fake = record.get("d_fake")
        found: list[Diagnosis | None] = []
        shown_d_fake = float("nan") if d_fake is None else d_fake  # a recipe may log no D scores
        if grad_g is not None:
            self.peak_grad_g = max(self.peak_grad_g, grad_g)
            d_winning = (d_fake is not None and d_fake < c.vanishing_d_fake) if self.probabilistic else (
                accuracy is not None and accuracy >= c.d_overpowering_accuracy)
            small = grad_g < c.vanishing_grad_ratio * self.peak_grad_g
            found.append(self._streak(
                "vanishing_generator_gradients", d_winning and small, c.window, step,
                f"D rejects the fakes (D(G(z)) = {shown_d_fake:.3g}) and the generator's gradient norm "
                f"({grad_g:.2e}) is below {c.vanishing_grad_ratio:g}x its peak ({self.peak_grad_g:.2e}): "
                "G has stopped learning"))
        if accuracy is not None:
            found.append(self._streak(
                "discriminator_overpowering", accuracy >= c.d_overpowering_accuracy, c.window, step,
                f"D classifies {accuracy:.1%} of real and fake images correctly for {c.window} log records: "
                "it wins too easily and its gradients tell G little"))
            found.append(self._streak(
                "discriminator_collapse", accuracy < 0.5 + c.d_chance_margin, c.window, step,
                f"D accuracy is {accuracy:.1%}, at or below chance for {c.window} log records: D no longer "
                "tells real from fake, so G gets no useful signal"))
        return found

    def _observe_diversity(self, record: dict[str, Any]) -> list[Diagnosis | None]:
        c, step = self.cfg, record["step"]
        ratio = record["diversity_ratio"]
        return [self._streak(
            "mode_collapse", ratio < c.mode_collapse_ratio, c.diversity_window, step,
            f"a fixed batch of generated images is {ratio:.2f}x as diverse as real images (mean pairwise "
            f"distance; warning below {c.mode_collapse_ratio:g}): G is producing few distinct outputs")]

    def _observe_validation(self, record: dict[str, Any], selection_metric: str | None) -> list[Diagnosis | None]:
        c, step = self.cfg, record["step"]
        found: list[Diagnosis | None] = []
        kl = record.get("val_coverage_kl")
        if kl is not None:
            found.append(self._streak(
                "mode_collapse", kl > c.coverage_kl, 1, step,
                f"the judge's class histogram of generated digits is {kl:.2f} nats from uniform "
                f"(warning above {c.coverage_kl:g}): some classes are missing", key="class_coverage"))
        value = record.get(selection_metric) if selection_metric else None
        if value is None or not math.isfinite(value):
            return found
        self.val_history.append((step, value))
        values = [v for _, v in self.val_history]
        best_index = min(range(len(values)), key=values.__getitem__)
        best_step, best = self.val_history[best_index]
        # the last evaluation that beat everything before it by min_delta (relative) is the last progress
        last_progress = 0
        for i in range(1, len(values)):
            if values[i] < min(values[:i]) - c.progress_min_delta * abs(min(values[:i])):
                last_progress = i
        stalled = len(values) - 1 - last_progress >= c.progress_patience
        found.append(self._streak(
            "no_progress", stalled, 1, step,
            f"{selection_metric} has not improved by {c.progress_min_delta:.0%} for {c.progress_patience} "
            f"evaluations (best {best:.4g} at step {best_step})"))
        progress = values[0] - best
        lost = value - best
        found.append(self._streak(
            "oscillation", progress > 0 and lost > c.oscillation_loss * progress, 1, step,
            f"{selection_metric} is {value:.4g}, back up from its best {best:.4g} (step {best_step}): "
            f"{lost / progress:.0%} of the progress made so far is lost" if progress > 0 else ""))
        return found

    # -------------------------------------------------------------------- API
    def observe(self, record: dict[str, Any], selection_metric: str | None = None) -> list[dict[str, Any]]:
        """Feed one metrics.jsonl record; returns the warning records it triggers."""
        if not self.cfg.enabled or "step" not in record:
            return []
        kind = record_kind(record)  # the run log's own rule, so reader and monitor agree
        if kind == "diversity":
            found = self._observe_diversity(record)
        elif kind == "validation":
            found = self._observe_validation(record, selection_metric)
        elif kind == "training":
            found = self._observe_training(record)
        else:
            return []
        warnings = [w.record(record["step"]) for w in found if w is not None]
        self.fired.extend(warnings)
        return warnings

    def replay(self, records: list[dict[str, Any]], selection_metric: str | None = None) -> None:
        """Rebuild the state from the records of a resumed run (warnings already written stay)."""
        for record in records:
            self.observe(record, selection_metric)
        self.fired = [r for r in records if "warning" in r]
