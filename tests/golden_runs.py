"""Fixed-seed tiny runs of every recipe, whose logged values pin the trainer's behaviour.

`tests/golden_runs.json` holds what these runs logged (every step's losses and statistics, the
validation, diversity and best.pt records) when the trainer was one 505-line module, before it
was split into gantool/training/*. tests/test_golden_runs.py checks that the code of today
reproduces them. Rewrite the file only for a change that is meant to alter the arithmetic:

    PYTHONPATH=src:cli python -m tests.golden_runs --write
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).with_name("golden_runs.json")
TIMING_KEYS = ("it_per_s", "elapsed_s")  # wall-clock: the only values that differ between runs
COMMON = ["train.steps=6", "train.log_every=1", "train.sample_every=3", "train.checkpoint_every=3",
          "train.val_every=2", "train.samples_per_class=2", "train.device=cpu", "train.seed=7"]
RUNS: dict[str, list[str]] = {
    # two D steps per G step, lazy R1, EMA, augmentation and instance noise: most of the loop's paths
    "cgan": ["model.z_dim=16", "model.ngf=8", "model.ndf=8", "data.batch_size=8", "train.d_steps=2",
             "loss.r1_weight=1", "loss.r1_interval=3", "loss.instance_noise=0.1", "loss.augment=translation"],
    "pix2pix": ["model.generator=unet_64", "model.ngf=4", "model.ndf=4", "data.image_size=64",
                "data.val_fraction=0.34", "optim.lr_decay_steps=3", "optim.decay_every=step"],
    "cyclegan": ["model.generator=resnet_6blocks", "model.ngf=4", "model.ndf=4", "data.image_size=32",
                 "model.pool_size=2", "data.val_fraction=0.34", "optim.lr_decay_steps=3"],
}


def write_images(root: Path) -> dict[str, Path]:
    """Deterministic random images: side-by-side pairs, and two unpaired domains."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    folders = {"pairs": (root / "pairs", 6, (64, 128)), "trainA": (root / "unpaired" / "trainA", 6, (40, 40)),
               "trainB": (root / "unpaired" / "trainB", 5, (40, 48))}
    for folder, count, (height, width) in folders.values():
        folder.mkdir(parents=True)
        for i in range(count):
            coarse = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
            Image.fromarray(coarse).resize((width, height), Image.BILINEAR).save(folder / f"{i}.png")
    return {"pix2pix": root / "pairs", "cyclegan": root / "unpaired"}


def run_records(recipe: str, data: Path | None, out: Path) -> list[dict[str, Any]]:
    """The records of `recipe`'s golden run, with the wall-clock values left out."""
    import torch

    import gantool.recipes  # noqa: F401  (registers the recipes' model configs)
    from gantool.config import apply_overrides, default_config
    from gantool.run import train
    from gantool.runlog import read_records

    overrides = COMMON + RUNS[recipe] + ([f"data.root={data}"] if data is not None else [])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the order of floating-point sums then does not depend on the number of cores
    try:
        result = train(apply_overrides(default_config(recipe, "golden"), overrides), out=out, quiet=True)
    finally:
        torch.set_num_threads(threads)
    return [{k: v for k, v in record.items() if k not in TIMING_KEYS} for record in read_records(result.run_dir)]


def all_records(workdir: Path) -> dict[str, list[dict[str, Any]]]:
    data = write_images(workdir / "data")
    return {recipe: run_records(recipe, data.get(recipe), workdir / recipe) for recipe in RUNS}


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.golden_runs --write")
    with tempfile.TemporaryDirectory() as tmp:
        # an empty cache, as the tests have: a cached digit judge would add validation records
        import os

        os.environ["GANTOOL_CACHE"] = str(Path(tmp) / "cache")
        records = all_records(Path(tmp))
    FIXTURE.write_text(json.dumps(records, indent=1) + "\n")
    print(f"wrote {FIXTURE}: " + ", ".join(f"{k} {len(v)} records" for k, v in records.items()))
