"""A recipe without discriminators (an encoder for a frozen generator, a plain regression) goes
through the one trainer: no D phase and no D optimizer; logs, checkpoints, resume and reports
work as for a GAN. Tested on a tiny recipe of its own, apart from any real method."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from gantool.checkpoint import load_checkpoint
from gantool.config import Config, apply_overrides, default_config, register_model_config
from gantool.recipes.base import AuxiliaryOptim, Batch, Recipe, Stats
from gantool.recipes.registry import RECIPES
from gantool.run import train
from gantool.runlog import read_records
from gantool.trainer import Trainer
from tests.conftest import straight_and_resumed
from tests.dummy_recipe import NoiseImages

NAME = "dummy_no_d"


@register_model_config(NAME, defaults={
    "data": {"dataset": "noise", "image_size": 8, "batch_size": 4},
    "train": {"steps": 6, "log_every": 1, "sample_every": 3, "checkpoint_every": 3, "device": "cpu"}})
@dataclass(frozen=True)
class NoDModelConfig:
    width: int = 2


@RECIPES.register(NAME)
class NoDRecipe(Recipe):
    """G learns to negate its input: a plain regression, trained by G's optimizer alone."""

    name = NAME

    def __init__(self, cfg: Config, meta: dict[str, Any]) -> None:
        super().__init__(cfg, meta)
        self.generators["G"] = nn.Sequential(nn.Conv2d(1, cfg.model.width, 3, padding=1), nn.Tanh(),
                                             nn.Conv2d(cfg.model.width, 1, 1))

    @classmethod
    def build_data(cls, cfg: Config) -> tuple[Dataset, None, dict[str, Any]]:
        return NoiseImages(), None, {}

    def generate(self, batch: Batch) -> Batch:
        return {"fake": self.generators["G"](batch["x"])}

    def generator_loss(self, batch: Batch, fakes: Batch, step: int) -> tuple[Tensor, Stats]:
        loss = (fakes["fake"] + batch["x"]).pow(2).mean()
        return loss, {"loss_negate": loss.detach()}

    def fixed_sample_inputs(self, device: Any, train_set: Dataset, val_set: Dataset | None) -> Batch:
        return {"x": train_set.images[:2].to(device)}

    def sample_grid(self, generators: nn.ModuleDict, inputs: Batch) -> tuple[Tensor, int]:
        return torch.cat([inputs["x"], generators["G"](inputs["x"]).clamp(-1, 1)]), 2


def _cfg(*overrides: str) -> Config:
    return apply_overrides(default_config(NAME), list(overrides))


def test_a_recipe_without_discriminators_trains_with_g_alone(tmp_path):
    result = train(_cfg("train.steps=30", "optim.lr_g=1e-2"), out=tmp_path / "run", quiet=True)
    records = read_records(result.run_dir, "training")
    assert [r["step"] for r in records] == list(range(1, 31))
    assert "loss_d" not in records[-1] and "lr_d" not in records[-1] and "grad_norm_d" not in records[-1]
    assert records[-1]["loss_negate"] < 0.5 * records[0]["loss_negate"]  # it learns
    state = load_checkpoint(result.checkpoint)
    assert state["discriminators"] == {} and state["optim_d"] is None and state["scaler_d"] is None
    assert state["d_updates"] == 0 and state["optim_g"]["state"]
    assert (result.run_dir / "samples" / "step_0000030.png").is_file()


def test_resume_without_discriminators_is_exact(tmp_path):
    cfg = _cfg("train.steps=6", "optim.lr_decay_steps=3")
    straight, resumed = straight_and_resumed(cfg, tmp_path)
    a, b = load_checkpoint(straight.checkpoint), load_checkpoint(resumed.checkpoint)
    for section in ("generators", "ema"):
        for key, value in a[section].items():
            assert torch.equal(value, b[section][key]), f"{section}.{key}"
    losses = lambda run: [r["loss_negate"] for r in read_records(run, "training")]  # noqa: E731
    assert losses(straight.run_dir) == losses(resumed.run_dir)


def test_report_of_a_run_without_discriminators(tmp_path):
    from gantool.report import write_report

    result = train(_cfg("train.steps=4"), out=tmp_path / "run", quiet=True)
    report = write_report(result.run_dir)
    names = {path.name for path in report.plots}
    assert "losses.png" in names and "d_scores.png" not in names


def test_d_phase_auxiliaries_without_discriminators_are_refused(tmp_path, monkeypatch):
    cfg = _cfg()
    recipe = NoDRecipe(cfg, {})
    recipe.auxiliaries["head"] = nn.Conv2d(1, 1, 1)
    monkeypatch.setattr(recipe, "auxiliary_optim", lambda name: AuxiliaryOptim("d"))
    with pytest.raises(ValueError, match="need discriminators"):
        Trainer(cfg, recipe, NoiseImages(), tmp_path / "run", quiet=True)
