"""Issue 14: a full disk is one plain line, on a real small tmpfs where the tests run as root (CI
does), and nothing half-written is left: training checkpoints, translated images, exports."""

import contextlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import gantool.checkpoint as ckpt
import gantool.storage as storage
from gantool.checkpoint import load_checkpoint, save_checkpoint
from gantool.config import apply_overrides, default_config
from gantool.errors import GantoolError
from gantool.run import train
from gantool.storage import DiskFullError, is_disk_full
from gantool_cli.main import cli
from tests.conftest import write_random_pairs

P2P = ["model.ngf=8", "model.ndf=8", "model.generator=unet_64", "data.image_size=64", "train.log_every=1",
       "train.sample_every=1000", "train.checkpoint_every=2", "train.val_every=1000", "train.samples_per_class=1",
       "train.device=cpu"]


@pytest.fixture
def pairs(tmp_path):
    return write_random_pairs(tmp_path / "pairs", 4)


@contextlib.contextmanager
def real_tmpfs(folder: Path, size_bytes: int):
    """A tmpfs of `size_bytes` mounted at `folder`, always unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    folder.mkdir(parents=True, exist_ok=True)
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(folder)],
                           capture_output=True, text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def one_checkpoint_bytes(pairs, tmp_path) -> int:
    cfg = apply_overrides(default_config("pix2pix"), P2P + [f"data.root={pairs}", "train.steps=2",
                                                           "train.keep_checkpoints=0"])
    result = train(cfg, out=tmp_path / "measure", quiet=True)
    return result.checkpoint.stat().st_size


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("Error:")]


def _train_on(run: Path, pairs: Path, steps: int) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "gantool_cli", "train", "pix2pix", "--data", str(pairs), "--out", str(run),
               "--steps", str(steps), "--quiet", *[a for item in P2P + ["train.keep_checkpoints=1"]
                                                   for a in ("--set", item)]]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_training_on_a_full_tmpfs_says_so_and_keeps_the_last_checkpoint(pairs, tmp_path):
    size = one_checkpoint_bytes(pairs, tmp_path)
    # room for one checkpoint and most of a second: the write of step 4 (beside step 2's) runs out
    with real_tmpfs(tmp_path / "small", int(1.6 * size)) as disk:
        result = _train_on(disk / "run", pairs, steps=8)
        assert result.returncode == 1, result.stdout + result.stderr
        [line] = error_lines(result.stderr)
        assert "Traceback" not in result.stderr and "looks like a bug" not in line
        assert line.startswith(f"Error: no space left on tmpfs at {disk} while writing {disk / 'run' / 'checkpoints'}")
        assert "MB free)" in line and "needs about" in line
        latest = disk / "run" / "checkpoints" / "latest.pt"
        assert f"the last complete checkpoint is {latest}" in line
        assert "free space or set --set train.keep_checkpoints=0" in line
        assert load_checkpoint(latest)["step"] == 2
        assert not list((disk / "run" / "checkpoints").glob(".*.tmp"))


def test_a_disk_clearly_too_small_is_refused_before_writing(pairs, tmp_path):
    size = one_checkpoint_bytes(pairs, tmp_path)
    with real_tmpfs(tmp_path / "tiny", int(0.5 * size)) as disk:
        result = _train_on(disk / "run", pairs, steps=2)
        assert result.returncode == 1
        [line] = error_lines(result.stderr)
        assert "no space left on tmpfs" in line and "the last complete checkpoint is none yet" in line
        assert not list((disk / "run" / "checkpoints").glob("*")), "nothing is written when it cannot fit"


def test_torchs_own_error_on_a_real_full_disk_is_recognised(tmp_path, monkeypatch):
    """The pre-write check passes (the estimate is made too low), then torch's zip writer hits the
    real end of the tmpfs and raises its RuntimeError: that must still read as a full disk."""
    state = {"recipe": "pix2pix", "weights": torch.randn(3_000_000)}  # 12 MB
    with real_tmpfs(tmp_path / "disk", 8 << 20) as disk:
        save_checkpoint({"recipe": "pix2pix", "step": 1}, disk / "checkpoints" / "latest.pt")
        monkeypatch.setattr(storage, "tensor_bytes", lambda value: 1000)
        with pytest.raises(DiskFullError) as caught:
            save_checkpoint(state, disk / "checkpoints" / "step_0000002.pt", keep_hint=3)
        assert f"the last complete checkpoint is {disk / 'checkpoints' / 'latest.pt'}" in str(caught.value)
        assert "--set train.keep_checkpoints=2" in str(caught.value)
        assert sorted(p.name for p in (disk / "checkpoints").iterdir()) == ["latest.pt"]


def test_translate_into_a_filling_tmpfs_leaves_only_whole_images(pairs, tmp_path):
    cfg = apply_overrides(default_config("pix2pix"), P2P + [f"data.root={pairs}", "train.steps=2"])
    run = train(cfg, out=tmp_path / "p2p", quiet=True).run_dir
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(1)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(inputs / f"{i}.png")
    with real_tmpfs(tmp_path / "out", 600_000) as out:  # outputs of noise are ~150 KB each: 3 or 4 fit
        result = CliRunner().invoke(cli, ["translate", str(inputs), "--checkpoint", str(run), "--out-dir", str(out),
                                          "--quiet", "--device", "cpu"])
        assert result.exit_code == 1
        [line] = error_lines(result.output)
        assert line.startswith(f"Error: no space left on tmpfs at {out} while writing {out}/")
        assert "rerun the same command with --skip-existing" in line
        written = sorted(out.glob("*.png"))
        assert 1 <= len(written) < 12 and f"{len(written)} of 12 outputs are in {out}" in line
        for path in written:
            with Image.open(path) as image:
                image.load()  # every output there is complete
        assert not list(out.glob(".*.tmp"))


def test_export_onto_a_too_small_disk_is_one_line_and_writes_nothing(pairs, tmp_path):
    cfg = apply_overrides(default_config("pix2pix"), P2P + [f"data.root={pairs}", "train.steps=2"])
    run = train(cfg, out=tmp_path / "p2p", quiet=True).run_dir
    with real_tmpfs(tmp_path / "export", 200_000) as disk:
        result = CliRunner().invoke(cli, ["export", str(run), "--out", str(disk / "g")])
        assert result.exit_code == 1
        [line] = error_lines(result.output)
        assert line.startswith(f"Error: no space left on tmpfs at {disk} while writing {disk / 'g' / 'generator.safetensors'}")
        assert not [p for p in (disk / "g").iterdir()]


# ------------------------------------------------------------------ everywhere (no root needed)
def test_torch_writer_runtime_error_with_little_space_left_is_a_full_disk(tmp_path, monkeypatch):
    path = tmp_path / "checkpoints" / "latest.pt"
    save_checkpoint({"recipe": "cgan", "step": 1}, path)

    def short_write(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 1 vs 2")

    monkeypatch.setattr(ckpt.torch, "save", short_write)
    monkeypatch.setattr(storage, "free_bytes", lambda folder: 10)
    monkeypatch.setattr(storage, "check_space", lambda *args, **kwargs: None)
    with pytest.raises(DiskFullError, match=r"^no space left on .* the last complete checkpoint is .*latest\.pt"):
        save_checkpoint({"recipe": "cgan", "step": 2, "w": torch.zeros(10)}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["latest.pt"]


def test_other_runtime_errors_are_not_called_a_full_disk(tmp_path, monkeypatch):
    assert not is_disk_full(RuntimeError("mat1 and mat2 shapes cannot be multiplied"), tmp_path, 10)
    # torch's short-write message with plenty of room left is not a full disk either
    assert not is_disk_full(RuntimeError("unexpected pos 1 vs 2"), tmp_path, 10)

    def broken(obj, f, *args, **kwargs):
        raise RuntimeError(f"something else {uuid.uuid4()}")

    monkeypatch.setattr(ckpt.torch, "save", broken)
    with pytest.raises(RuntimeError, match="something else"):
        save_checkpoint({"recipe": "cgan"}, tmp_path / "x.pt")
    assert not isinstance(GantoolError, type(None))
