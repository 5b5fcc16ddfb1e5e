import pytest
import torch

from gantool.checkpoint import load_checkpoint
from gantool.config import apply_overrides
from gantool.errors import GantoolError
from gantool.losses import OBJECTIVES
from gantool.run import train
from gantool.runlog import read_records
from gantool.trainer import lr_factor
from tests.conftest import straight_and_resumed


def test_run_folder_layout(tiny_cfg, tmp_path):
    result = train(tiny_cfg, out=tmp_path / "run", quiet=True)
    run = result.run_dir
    assert (run / "config.yaml").is_file()
    lines = read_records(run, "training")
    assert [m["step"] for m in lines] == [2, 4]
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_g", "grad_norm_d", "lr_g", "lr_d", "it_per_s"):
        assert key in lines[-1]
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_0000002.png", "step_0000004.png"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["latest.pt", "step_0000002.pt", "step_0000004.pt"]
    state = load_checkpoint(result.checkpoint)
    assert state["step"] == 4 and state["recipe"] == "cgan" and state["meta"]["class_names"][7] == "7"
    assert state["config"]["train"]["steps"] == 4 and state["gantool_version"]


def test_existing_run_folder_gets_a_numbered_sibling(tiny_cfg, tmp_path):
    first = train(tiny_cfg, out=tmp_path / "run", quiet=True)
    second = train(tiny_cfg, out=tmp_path / "run", quiet=True)
    assert first.run_dir.name == "run" and second.run_dir.name == "run-1"


def test_keeps_only_last_k_periodic_checkpoints(tiny_cfg, tmp_path):
    cfg = apply_overrides(tiny_cfg, ["train.steps=8", "train.checkpoint_every=1", "train.keep_checkpoints=2"])
    result = train(cfg, out=tmp_path / "run", quiet=True)
    names = sorted(p.name for p in (result.run_dir / "checkpoints").iterdir())
    assert names == ["latest.pt", "step_0000007.pt", "step_0000008.pt"]


def _weights(path):
    state = load_checkpoint(path)
    return {**{f"G.{k}": v for k, v in state["generators"].items()},
            **{f"D.{k}": v for k, v in state["discriminators"].items()},
            **{f"E.{k}": v for k, v in state["ema"].items()}}


@pytest.mark.parametrize("extra", [[], ["train.d_steps=2", "loss.instance_noise=0.1", "loss.augment=translation,cutout"],
                                   ["train.precision=bf16", "train.channels_last=true", "optim.implementation=foreach"]],
                         ids=["default", "dsteps-noise-augment", "bf16-channels-last-foreach"])
def test_resume_is_exact(tiny_cfg, tmp_path, extra):
    cfg = apply_overrides(tiny_cfg, ["train.steps=6", "train.checkpoint_every=3", "train.log_every=1",
                                     "data.hflip=true"] + extra)
    straight, resumed = straight_and_resumed(cfg, tmp_path)
    assert resumed.run_dir == tmp_path / "half" and resumed.step == 6
    a, b = _weights(straight.checkpoint), _weights(resumed.checkpoint)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    losses = lambda run: [r["loss_g"] for r in read_records(run, "training")]  # noqa
    assert losses(straight.run_dir) == losses(resumed.run_dir)


@pytest.mark.parametrize("objective", OBJECTIVES.names())
def test_every_objective_trains(tiny_cfg, tmp_path, objective):
    cfg = apply_overrides(tiny_cfg, [f"loss.objective={objective}", "train.steps=2", "loss.r1_weight=1",
                                     "loss.r1_interval=2", "loss.label_smoothing=0.1"])
    result = train(cfg, out=tmp_path / "run", quiet=True)
    metrics = result.last_metrics
    assert all(isinstance(v, float) or isinstance(v, int) for v in metrics.values())
    if objective == "wgan-gp":
        assert "gp" in metrics
    assert "r1" in metrics


def test_sgd_bf16_and_discriminator_options_train(tiny_cfg, tmp_path):
    cfg = apply_overrides(tiny_cfg, ["optim.optimizer=sgd", "train.precision=bf16", "model.discriminator=concat",
                                     "model.conditioning=concat", "model.spectral_norm=false",
                                     "loss.augment=translation,color,cutout", "train.ema_decay=0"])
    result = train(cfg, out=tmp_path / "run", quiet=True)
    assert result.step == 4
    assert load_checkpoint(result.checkpoint)["ema"] is None


def test_fp16_on_cpu_and_missing_cuda_are_clear_errors(tiny_cfg, tmp_path):
    with pytest.raises(GantoolError, match="fp16 needs a CUDA device"):
        train(apply_overrides(tiny_cfg, ["train.precision=fp16"]), out=tmp_path / "a", quiet=True)
    if not torch.cuda.is_available():
        with pytest.raises(GantoolError, match="CUDA is not available"):
            train(apply_overrides(tiny_cfg, ["train.device=cuda"]), out=tmp_path / "b", quiet=True)


def test_learning_rate_schedule_is_constant_then_linear():
    assert [lr_factor(s, 10, 4) for s in range(10)] == [1, 1, 1, 1, 1, 1, 1.0, 0.75, 0.5, 0.25]
    assert lr_factor(5, 10, 0) == 1.0


def test_per_epoch_decay_follows_the_reference_rule():
    """5 constant + 5 decay epochs of 4 steps: the rate drops once per epoch by 1/6 and the last
    epoch trains at 1/6 (pytorch-CycleGAN-and-pix2pix's lambda_rule), never at 0."""
    factors = [lr_factor(s, 40, 20, steps_per_epoch=4) for s in range(40)]
    per_epoch = [factors[e * 4] for e in range(10)]
    assert all(len(set(factors[e * 4:(e + 1) * 4])) == 1 for e in range(10))
    assert per_epoch == pytest.approx([1, 1, 1, 1, 1, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])


def test_lr_decay_reaches_metrics(tiny_cfg, tmp_path):
    cfg = apply_overrides(tiny_cfg, ["train.steps=4", "train.log_every=1", "optim.lr_decay_steps=2", "optim.lr_g=2e-4"])
    result = train(cfg, out=tmp_path / "run", quiet=True)
    lrs = [r["lr_g"] for r in read_records(result.run_dir, "training")]  # noqa
    assert lrs == pytest.approx([2e-4, 2e-4, 2e-4, 1e-4])


def test_divergence_stops_with_clear_message(tiny_cfg, tmp_path):
    cfg = apply_overrides(tiny_cfg, ["optim.lr_d=1e30", "optim.lr_g=1e30", "train.steps=40", "train.log_every=1",
                                     "loss.objective=wgan-gp", "loss.gp_weight=0", "model.spectral_norm=false"])
    with pytest.raises(GantoolError, match="diverged"):
        train(cfg, out=tmp_path / "run", quiet=True)


def test_fused_and_foreach_optimizers_take_the_same_steps(tiny_cfg, tmp_path):
    runs = {impl: train(apply_overrides(tiny_cfg, [f"optim.implementation={impl}"]), out=tmp_path / impl, quiet=True)
            for impl in ("fused", "foreach")}
    a, b = _weights(runs["fused"].checkpoint), _weights(runs["foreach"].checkpoint)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=key)
