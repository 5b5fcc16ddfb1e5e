"""Issue 14: an interrupted folder translation continues with --skip-existing (outputs are whole or
absent, even after kill -9), and evaluation results land in the run folder."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from gantool.config import apply_overrides, default_config
from gantool.run import train
from gantool_cli.main import cli
from tests.test_pix2pix import TINY_P2P, aligned_dir  # noqa: F401  (a fixture)


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def tiny_translator(aligned_dir, tmp_path):
    cfg = apply_overrides(default_config("pix2pix"), TINY_P2P + [f"data.root={aligned_dir}", "train.steps=2"])
    return train(cfg, out=tmp_path / "p2p", quiet=True).run_dir


def _images(folder, n, size):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_existing_output_error_suggests_skip_existing(tiny_translator, tmp_path):
    inputs = _images(tmp_path / "in", 3, 64)
    out = tmp_path / "out"
    assert invoke("translate", inputs, "--checkpoint", tiny_translator, "--out-dir", out, "--quiet").exit_code == 0
    again = invoke("translate", inputs, "--checkpoint", tiny_translator, "--out-dir", out, "--quiet")
    assert again.exit_code == 1
    assert f"Error: {out / '0.png'} exists; pass --skip-existing to keep the outputs already there" in again.output
    both = invoke("translate", inputs, "--checkpoint", tiny_translator, "--out-dir", out, "--skip-existing",
                  "--overwrite")
    assert both.exit_code == 1 and "not both" in both.output


def test_skip_existing_keeps_complete_outputs_and_redoes_the_rest(tiny_translator, tmp_path):
    inputs = _images(tmp_path / "in", 5, 64)
    out = tmp_path / "out"
    assert invoke("translate", inputs, "--checkpoint", tiny_translator, "--out-dir", out, "--quiet").exit_code == 0
    complete = (out / "0.png").read_bytes()
    (out / "1.png").unlink()  # never written
    (out / "2.png").write_bytes((out / "2.png").read_bytes()[:100])  # cut short by something else
    (out / ".3.png.abc123.tmp").write_bytes(b"partial")  # the temp file of a killed write
    os.utime(out / "0.png", (1, 1))
    result = invoke("translate", inputs, "--checkpoint", tiny_translator, "--out-dir", out, "--skip-existing",
                    "--quiet")
    assert result.exit_code == 0, result.output
    assert "translated 2 image(s)" in result.output and "(3 already there and complete, kept)" in result.output
    assert (out / "0.png").read_bytes() == complete and os.stat(out / "0.png").st_mtime == 1  # untouched
    for i in range(5):
        with Image.open(out / f"{i}.png") as image:
            image.load()
    assert not list(out.glob(".*.tmp"))


def test_kill_9_mid_folder_leaves_no_truncated_png_and_skip_existing_finishes(tiny_translator, tmp_path):
    inputs = _images(tmp_path / "in", 40, 512)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "gantool_cli", "translate", str(inputs), "--checkpoint", str(tiny_translator),
               "--out-dir", str(out), "--batch-size", "1", "--quiet"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline and len(list(out.glob("*.png"))) < 3:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = sorted(out.glob("*.png"))
    assert 3 <= len(written) < 40, len(written)  # killed in the middle
    for path in written:  # whole or absent: atomic temp file + rename
        with Image.open(path) as image:
            image.load()
    result = invoke("translate", inputs, "--checkpoint", tiny_translator, "--out-dir", out, "--skip-existing",
                    "--quiet")
    assert result.exit_code == 0, result.output
    assert f"translated {40 - len(written)} image(s)" in result.output
    assert len(list(out.glob("*.png"))) == 40 and not list(out.glob(".*.tmp"))


def test_eval_results_go_to_the_run_folder(tiny_translator, aligned_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the current folder must stay clean
    latest = tiny_translator / "checkpoints" / "latest.pt"
    result = invoke("eval", latest, "--data", aligned_dir)
    assert result.exit_code == 0, result.output
    assert (tiny_translator / "eval.json").is_file() and (tiny_translator / "eval.jsonl").is_file()
    detailed = invoke("eval", "pix2pix", "--checkpoint", latest, "--data", aligned_dir)
    assert detailed.exit_code == 0, detailed.output
    assert (tiny_translator / "eval_pix2pix.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("eval", "memorisation"))]
    report = invoke("report", tiny_translator)
    assert report.exit_code == 0, report.output
    page = (tiny_translator / "report" / "report.html").read_text()
    assert "<h3>eval.json</h3>" in page and "<h3>eval_pix2pix.json</h3>" in page
    assert json.loads((tiny_translator / "eval.json").read_text())
