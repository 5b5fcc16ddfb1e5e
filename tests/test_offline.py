"""Issue 30, item 14: nothing reaches the network unless the user asks.

Importing albumentations used to ask PyPI for its newest version on every run. The test runs a
training, a translation and an evaluation in a fresh interpreter (so albumentations is imported
anew), with an audit hook that records and refuses every name lookup and every connection to an
internet address.
"""

import json
import os
import subprocess
import sys

from tests.conftest import REPO, write_random_pairs

DRIVER = r"""
import json, socket, sys

reached = []

def refuse_network(event, args):
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr"):
        reached.append(f"{event} {args[0]!r}")
        raise OSError(f"this test allows no network ({event} {args[0]!r})")
    if event in ("socket.connect", "socket.sendto") and args[0].family in (socket.AF_INET, socket.AF_INET6):
        reached.append(f"{event} {args[1]!r}")
        raise OSError(f"this test allows no network ({event} {args[1]!r})")

sys.addaudithook(refuse_network)
from gantool_cli.main import cli

for argv in json.loads(sys.argv[1]):
    try:
        cli(argv, prog_name="gantool", standalone_mode=False)
    except SystemExit as stop:
        if stop.code:
            raise
print("NETWORK:" + json.dumps(reached))
"""


def test_training_translation_and_evaluation_open_no_connection(tmp_path):
    pairs = write_random_pairs(tmp_path / "pairs", 3)
    run = tmp_path / "run"
    commands = [
        ["train", "pix2pix", "--data", str(pairs), "--steps", "2", "--size", "64", "--generator", "unet_64",
         "--out", str(run), "--device", "cpu", "--quiet", "--set", "model.ngf=4", "--set", "model.ndf=4",
         "--set", "train.log_every=1"],
        ["translate", str(pairs / "0.png"), "--checkpoint", str(run), "--out-dir", str(tmp_path / "out"),
         "--device", "cpu", "--quiet"],
        ["eval", "pix2pix", "--checkpoint", str(run), "--data", str(pairs), "--out", str(tmp_path / "eval.json"),
         "--device", "cpu"],
    ]
    env = {key: value for key, value in os.environ.items() if key != "NO_ALBUMENTATIONS_UPDATE"}
    env["PYTHONWARNINGS"] = "default"  # albumentations' failed check would show as a UserWarning
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(commands)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "out" / "0.png").is_file() and (tmp_path / "eval.json").is_file()
    [report] = [line for line in done.stdout.splitlines() if line.startswith("NETWORK:")]
    assert json.loads(report.removeprefix("NETWORK:")) == [], done.stderr
    assert "update" not in done.stderr.lower(), done.stderr  # no "Failed to check for updates" warning


def test_a_users_own_choice_is_kept():
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "0"}
    done = subprocess.run([sys.executable, "-c", "import os, gantool; print(os.environ['NO_ALBUMENTATIONS_UPDATE'])"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "0"
