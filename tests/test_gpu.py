"""Issue 19, part 3: the CUDA-only code paths (marked gpu, skipped without CUDA), and the GPU check's
behaviour on a machine without one (which runs everywhere).

On a GPU machine: `python -m pytest -q -m gpu`, then `python -m benchmarks.gpu_check`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import torch

from benchmarks.workloads import SyntheticImages
from gantool.config import apply_overrides, default_config
from gantool.distributed import from_environment, process_group
from tests.conftest import REPO

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
TINY_P2P = ["model.generator=unet_64", "model.ngf=8", "model.ndf=8", "data.image_size=64", "data.batch_size=2"]


def test_the_gpu_check_says_there_is_no_cuda_and_fails():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no GPU, on any machine
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2
    assert "no CUDA device is present" in done.stderr and "nothing was run" in done.stderr


def test_the_gpu_check_plan_covers_the_issue():
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--list"], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    plan = done.stdout
    for recipe in ("cgan", "pix2pix", "cyclegan"):
        for precision in ("fp32", "bf16", "fp16"):
            assert f"train {recipe} {precision}:" in plan
    for needed in ("train.compile=true", "--nproc 1", "--workers 4", "--resume", "translate", "generate",
                   "--workload cyclegan256 --mode baseline --batch-size 8", "--workload pix2pix256 --mode optimised "
                   "--batch-size 1"):
        assert needed in plan, needed


def test_the_gpu_check_fails_loudly_on_nan_and_on_errors(tmp_path, monkeypatch, capsys):
    import json

    from benchmarks import gpu_check

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    records = [{"step": 10, "loss_d": 0.7, "loss_g": 1.0}, {"step": 20, "loss_d": float("nan"), "loss_g": 1.0}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert "non-finite loss_d at step 20" in gpu_check.run_problems(run, 20)
    (run / "metrics.jsonl").write_text(json.dumps(records[0]) + "\n")
    assert "end at step 10, not 30" in gpu_check.run_problems(run, 30)
    failing = gpu_check.Step("a command that fails", ["gantool_cli", "translate", str(tmp_path / "missing.png")])
    monkeypatch.setattr(gpu_check, "make_data", lambda root: {})
    monkeypatch.setattr(gpu_check, "plan", lambda work, data, settings: [failing])
    assert gpu_check.main(["--rehearse-on-cpu", "--keep", str(tmp_path / "work")]) == 1
    out, err = capsys.readouterr()
    assert "FAIL a command that fails" in out and "FAILED: a command that fails: exit status" in err
    assert "Error: no --checkpoint given" in err  # the command's own output comes with it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launched_alone(monkeypatch) -> None:
    """The environment torchrun gives the one process of --nproc 1."""
    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(_free_port())}.items():
        monkeypatch.setenv(key, value)


def test_one_launched_process_joins_a_process_group(monkeypatch):
    _launched_alone(monkeypatch)
    ctx = from_environment()
    assert ctx.enabled and ctx.world_size == 1
    with process_group(ctx, torch.device("cpu")):
        assert torch.distributed.get_backend() == "gloo" and torch.distributed.get_world_size() == 1
    assert not torch.distributed.is_initialized()


def test_nproc_1_reruns_under_torchrun_as_one_process(monkeypatch):
    from gantool_cli import options

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(sys, "argv", ["gantool", "train", "cyclegan", "--nproc", "1", "--steps", "30"])
    launched = []
    monkeypatch.setattr(os, "execv", lambda path, command: launched.append(command))
    options.relaunch_under_torchrun(1)
    assert launched and "--nproc_per_node=1" in launched[0] and "--nproc" not in launched[0]
    monkeypatch.setenv("WORLD_SIZE", "1")  # already under torchrun: no second relaunch
    options.relaunch_under_torchrun(1)
    assert len(launched) == 1


@pytest.mark.gpu
@needs_cuda
def test_nccl_process_group_on_one_gpu(monkeypatch):
    _launched_alone(monkeypatch)
    with process_group(from_environment(), torch.device("cuda:0")):
        assert torch.distributed.get_backend() == "nccl"
        value = torch.ones(3, device="cuda")
        torch.distributed.all_reduce(value)
        assert value.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.gpu
@needs_cuda
def test_fp16_trains_with_an_active_grad_scaler(tmp_path):
    from gantool.recipes import RECIPES
    from gantool.trainer import Trainer

    cfg = apply_overrides(default_config("pix2pix"), TINY_P2P + ["train.precision=fp16", "train.device=cuda"])
    recipe = RECIPES.get("pix2pix")(cfg, {})
    trainer = Trainer(cfg, recipe, SyntheticImages("pix2pix", 64, 3), tmp_path, quiet=True)
    assert trainer.scaler_g.is_enabled() and trainer.scaler_d.is_enabled()
    for _ in range(3):
        stats = trainer.train_step(want_norms=True)
    assert all(torch.isfinite(v).all() for v in stats.values())
    assert 0 < trainer.scaler_g.get_scale() < float("inf")
    assert all(torch.isfinite(p).all() for p in trainer.G.parameters())
    assert trainer.state_dict()["scaler_g"]["scale"] > 0  # resumable


@pytest.mark.gpu
@needs_cuda
def test_cuda_runs_load_batches_into_pinned_memory():
    from gantool.data.stream import BatchStream

    stream = BatchStream(SyntheticImages("pix2pix", 32, 3), batch_size=4, seed=0, num_workers=2, pin_memory=True)
    batch = next(stream)
    assert batch["A"].is_pinned() and batch["B"].is_pinned()


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_translate_on_cuda_matches_the_cpu(tmp_path, precision):
    from gantool.checkpoint import save_checkpoint
    from gantool.recipes import RECIPES
    from gantool.translate import load_translator

    cfg = apply_overrides(default_config("pix2pix"), TINY_P2P)
    torch.manual_seed(0)
    model = RECIPES.get("pix2pix")(cfg, {})
    save_checkpoint({"recipe": "pix2pix", "config": cfg.to_dict(), "meta": {}, "step": 0, "d_updates": 0,
                     "generators": model.generators.state_dict(), "discriminators": {}, "ema": None},
                    tmp_path / "p.pt")
    images = torch.rand(2, 3, 70, 130) * 2 - 1  # padded to 128 x 192 and cropped back
    cuda = load_translator(tmp_path / "p.pt", "cuda", precision=precision, tile=96)(images)  # tiled on the GPU
    cpu = load_translator(tmp_path / "p.pt", "cpu", tile=96)(images)
    assert cuda.device.type == "cuda" and cuda.shape == cpu.shape == images.shape
    # TF32 convolutions in fp32; half precision within about one 8-bit level
    tolerance = 1e-2 if precision == "fp32" else 2e-2
    assert (cuda.cpu() - cpu).abs().max().item() <= tolerance
