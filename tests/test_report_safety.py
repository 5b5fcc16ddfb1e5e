"""Issue 30, items 4 and 16: `gantool report` of a run folder made by a stranger puts no script and
none of the reader's own files into its page, skips what it cannot use (and says how much), and a
full disk under --out is one line that leaves no partial file."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import gantool.storage as storage
from gantool_cli.main import cli
from tests.test_disk_full import real_tmpfs

SCRIPT = "<script>alert(document.cookie)</script>"


def _png(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(path)
    return path


def training_records(n: int = 6) -> list[dict]:
    return [{"step": s, "loss_d": 1.0 / s, "loss_g": 0.5 + s / 10, "d_real": 0.6, "d_fake": 0.4,
             "grad_norm_g": 2.0, "grad_norm_d": 3.0, "lr_g": 2e-4, "lr_d": 2e-4, "it_per_s": 5.0, "elapsed_s": s}
            for s in range(1, n + 1)]


def write_run(folder: Path, records: list) -> Path:
    folder.mkdir(parents=True)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    _png(folder / "samples" / "step_0000002.png", 0)
    return folder


@pytest.fixture
def hostile_run(tmp_path):
    """A run folder as an attacker would share it: script in every text field that reaches the page,
    fields of the wrong type, a sample name that is not a step, and links to the reader's own files."""
    secret_text = tmp_path / "home" / "credentials"
    secret_text.parent.mkdir()
    secret_text.write_text("TOP-SECRET-TOKEN\n")
    secret_png = _png(tmp_path / "home" / "private.png", 7)
    records = [
        *training_records(),
        {"step": 3, "warning": "mode_collapse", "message": SCRIPT, "remedy": "<img src=x onerror=alert(1)>"},
        {"step": 4, "warning": f"oscillation{SCRIPT}", "message": "\x1b]0;pwned\x07\x1b[2J", "remedy": "r"},
        {"step": SCRIPT, "warning": "no_progress", "message": "m", "remedy": "r"},  # wrong type: skipped
        {"step": 5, "warning": ["<script>"], "message": "m"},  # wrong type: skipped
        ["not", "a", "record"],  # not an object: skipped
        {"step": 6, "best": f"val_l1{SCRIPT}", "value": 0.25},
        {"step": 6, f"loss_$\\frac{{{SCRIPT}": 1.0, "loss_g": 1.0},  # a key matplotlib would read as maths
    ]
    run = write_run(tmp_path / "shared_run", records)
    (run / "config.yaml").symlink_to(secret_text)  # the page must not carry the reader's files away
    (run / "samples" / "step_0000003.png").symlink_to(secret_png)
    (run / "samples" / "step_<x>.png").write_bytes((run / "samples" / "step_0000002.png").read_bytes())
    (run / "samples" / "step_0000004.png").write_text(SCRIPT)  # not a PNG
    (run / "eval.json").write_text(json.dumps({"fid": 12.5, SCRIPT: SCRIPT}))
    return run, secret_png


def test_report_of_a_hostile_run_folder_escapes_everything_and_embeds_only_its_own_pngs(hostile_run, tmp_path):
    run, secret_png = hostile_run
    result = CliRunner().invoke(cli, ["report", str(run), "--out", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    assert "looks like a bug" not in result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert f"warning: {run / 'metrics.jsonl'}: skipped 3 record(s) whose fields have the wrong type (line 9: " \
           "'step' is str, not an integer)" in warnings
    assert (f"warning: {run / 'samples'}: skipped 2 file(s) named like sample grids that are not PNG files inside "
            "the run folder") in warnings
    assert "\x1b" not in result.output and "\x07" not in result.output  # no escape sequences for the terminal
    page = (tmp_path / "rep" / "report.html").read_text()
    lowered = page.lower()
    assert "<script" not in lowered and "<img src=x" not in lowered
    assert "&lt;script&gt;alert(document.cookie)&lt;/script&gt;" in page  # shown, as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "TOP-SECRET" not in page
    assert base64.b64encode(secret_png.read_bytes()).decode()[:200] not in page
    assert page.count("data:image/png;base64,") == len(list((tmp_path / "rep").glob("*.png"))) + 1  # + step 2


def test_report_skips_a_sample_named_step_x(tmp_path):
    run = write_run(tmp_path / "run", training_records())
    (run / "samples" / "step_<x>.png").write_bytes((run / "samples" / "step_0000002.png").read_bytes())
    (run / "samples" / "step_.png").write_bytes(b"")
    result = CliRunner().invoke(cli, ["report", str(run)])
    assert result.exit_code == 0, result.output
    assert "step 2</div>" in (run / "report" / "report.html").read_text()


# ------------------------------------------------------------------ a full disk under --out
def _error_line(output: str) -> str:
    [line] = [line for line in output.splitlines() if line.startswith("Error:")]
    return line


def test_report_onto_a_full_tmpfs_is_one_line_and_leaves_no_partial_file(tmp_path):
    run = write_run(tmp_path / "run", training_records(40))
    with real_tmpfs(tmp_path / "small", 48 * 1024) as disk:  # room for a plot or two, not the page
        result = CliRunner().invoke(cli, ["report", str(run), "--out", str(disk / "rep")])
        assert result.exit_code == 1, result.output
        line = _error_line(result.output)
        assert "looks like a bug" not in line and "Traceback" not in result.output
        assert line.startswith(f"Error: no space left on tmpfs at {disk} while writing {disk / 'rep'}/")
        assert line.endswith("; free space, or give --out a folder on a disk with room")
        written = list((disk / "rep").iterdir())
        assert not [p for p in written if p.name.endswith(".tmp")]
        assert not (disk / "rep" / "report.html").exists()
        for path in written:  # whatever is there is whole
            with Image.open(path) as image:
                image.load()


def test_report_onto_a_disk_without_room_says_so_before_writing(tmp_path, monkeypatch):
    run = write_run(tmp_path / "run", training_records())
    monkeypatch.setattr(storage, "free_bytes", lambda folder: 1000)
    result = CliRunner().invoke(cli, ["report", str(run), "--out", str(tmp_path / "rep")])
    assert result.exit_code == 1, result.output
    line = _error_line(result.output)
    assert line.startswith(f"Error: no space left on ") and f"while writing {tmp_path / 'rep'}/" in line
    assert "1 KB free" in line and line.endswith("free space, or give --out a folder on a disk with room")
    assert os.listdir(tmp_path / "rep") == []
