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
from gantool.run import train
from gantool_cli.main import cli
from tests.conftest import TINY


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def resume_args(run: Path, steps: int) -> list[str]:
    return ["train", "cgan", "--resume", run, "--steps", steps, "--quiet", "--device", "cpu"]


def metric_lines(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]  # every line is JSON


def training_steps(run: Path) -> list[int]:
    return [r["step"] for r in metric_lines(run) if "loss_g" in r]


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
