"""What the loop shows of the model as it trains: sample grids of fixed inputs (with their
diversity record), validation metrics, and checkpoints/best.pt when the selection metric improves."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from gantool.checkpoint import save_checkpoint
from gantool.diagnostics import pairwise_diversity
from gantool.recipes.base import Batch, Recipe
from gantool.training.device import Placement
from gantool.training.runfiles import MetricsLog
from gantool.utils import save_image_grid


@contextlib.contextmanager
def inference_mode(generators: nn.ModuleDict, placement: Placement) -> Iterator[nn.ModuleDict]:
    """`generators` in eval mode, without gradients, under the run's precision; their mode is
    restored afterwards."""
    was_training = generators.training
    generators.eval()
    try:
        with torch.no_grad(), placement.autocast():
            yield generators
    finally:
        generators.train(was_training)


class Snapshots:
    """Sample grids, validation and best.pt of one run, made with `generators()` (the EMA when kept)."""

    def __init__(self, recipe: Recipe, generators: Callable[[], nn.ModuleDict], placement: Placement,
                 fixed_inputs: Batch, val_dataset: Any) -> None:
        self.recipe, self.generators, self.placement = recipe, generators, placement
        self.fixed_inputs, self.val_dataset = fixed_inputs, val_dataset
        self.best: float | None = None  # best value of the recipe's selection metric so far

    def write_samples(self, run_dir: Path, step: int, log: MetricsLog | None = None) -> Path:
        """The sample grid of the fixed inputs; with `log`, also their diversity record."""
        with inference_mode(self.generators(), self.placement) as generators:
            images, per_row = self.recipe.sample_grid(generators, self.fixed_inputs)
        images = images.float()
        path = run_dir / "samples" / f"step_{step:07d}.png"
        save_image_grid(images, path, per_row)
        groups = self.recipe.diversity_groups(images, self.fixed_inputs) if log is not None else []
        groups = [(fake, real) for fake, real in groups if len(fake) > 1 and len(real) > 1]
        if groups:
            fake = float(np.mean([pairwise_diversity(f) for f, _ in groups]))
            real = float(np.mean([pairwise_diversity(r) for _, r in groups]))
            log.record({"step": step, "diversity_fake": fake, "diversity_real": real,
                        "diversity_ratio": fake / max(real, 1e-12)})
        return path

    def validates(self) -> bool:
        return self.recipe.validates(self.val_dataset)

    def write_validation(self, step: int, log: MetricsLog, state: Callable[[], dict[str, Any]]) -> dict[str, float]:
        """Validation values into the log; best.pt (the training `state()`) when they improve."""
        with inference_mode(self.generators(), self.placement) as generators:
            values = self.recipe.validate(generators, self.val_dataset, self.placement.device)
        if values:
            log.record({"step": step, **values})
            self._keep_best(values, step, log, state)
        return values

    def _keep_best(self, values: dict[str, float], step: int, log: MetricsLog,
                   state: Callable[[], dict[str, Any]]) -> None:
        """Save checkpoints/best.pt whenever the recipe's selection metric improves (lower is better)."""
        key = self.recipe.selection_metric
        if key is None or key not in values or not math.isfinite(values[key]):
            return
        if self.best is not None and values[key] >= self.best:
            return
        self.best = values[key]
        save_checkpoint(state(), log.run_dir / "checkpoints" / "best.pt")
        log.append({"step": step, "best": key, "value": values[key]})
