"""Distributed training under torchrun (gloo, 2 CPU processes, tiny sizes).

A 2-process run with the same global batch as a 1-process run does the same arithmetic: each
process takes every second sample of each global batch (DistributedSampler), DDP averages the
gradients, synchronised batch norm uses the global batch's statistics, and per-sample noise comes
from per-sample seeds. What can differ is the order of floating-point sums (all-reduce, threads),
so losses must agree to a relative 1e-4 (measured: agreement to 5-6 significant digits).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gantool.config import apply_overrides, default_config
from gantool.data.stream import BatchStream, epoch_keys, epoch_plan
from gantool.errors import GantoolError
from gantool.networks.layers import SyncBatchNorm2d, norm_layer
from gantool.run import train
from gantool_cli.options import torchrun_command

RTOL = 1e-4
TINY = ["train.log_every=1", "train.sample_every=2", "train.checkpoint_every=2", "train.val_every=1000",
        "train.device=cpu", "train.samples_per_class=2"]
RECIPE_OPTIONS = {
    "cgan": ["data.batch_size=8", "model.norm=syncbatch", "model.ngf=8", "model.ndf=8"],
    "gan": ["data.batch_size=8", "model.norm=syncbatch", "model.ngf=8", "model.ndf=8", "data.image_size=32",
            "data.channels=3"],
    "pix2pix": ["data.batch_size=4", "model.norm=syncbatch", "model.dropout=0", "model.ngf=4", "model.ndf=4",
                "data.image_size=64", "model.generator=unet_64"],
    "cyclegan": ["data.batch_size=2", "model.generator=resnet_6blocks", "model.ngf=4", "model.ndf=4",
                 "data.image_size=32", "model.pool_size=50"],
    # patch locations (and FastCUT's flips) come from each image's seed. SGD, not Adam: Adam's first
    # steps move every weight by about +-lr whatever its gradient's size, so the conv biases before
    # instance norm (true gradient 0, computed as rounding noise) move by a random sign, and the
    # 2-process losses left 1-process ones by 3e-4 at step 2 and 7e-3 at step 3 (same code, same data);
    # with SGD they agree to 1e-5
    "cut": ["data.batch_size=2", "model.generator=resnet_6blocks", "model.ngf=4", "model.ndf=4", "data.image_size=32",
            "model.nce_patches=16", "model.head_width=8", "optim.optimizer=sgd", "optim.lr_g=1e-5"],
}


@pytest.fixture
def noise_images(tmp_path) -> Path:
    """Distinct random images: pairs side by side (pairs/) and two unpaired domains (trainA/,
    trainB/), so that each process's share of a batch really differs from the other's."""
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for folder, count, width in (("pairs", 8, 128), ("trainA", 6, 40), ("trainB", 4, 40)):
        (root / folder).mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 256, (8, width // 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).resize((width, 64 if folder == "pairs" else 40)).save(root / folder / f"{i}.png")
    return root


def torchrun(args: list[str], cwd: Path, nproc: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    result = subprocess.run(torchrun_command(args, nproc), cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def train_args(recipe: str, overrides: list[str], out: Path, steps: int) -> list[str]:
    data = [o.split("=", 1)[1] for o in overrides if o.startswith("data.root=")]
    return ["train", recipe, "--quiet", "--steps", str(steps), "--out", str(out), *(["--data", *data] if data else []),
            *[arg for override in overrides for arg in ("--set", override)]]


def losses(run: Path) -> dict[int, dict[str, float]]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: {k: r[k] for k in ("loss_d", "loss_g")} for r in records if "loss_d" in r}


def assert_same_losses(one: dict, two: dict, steps) -> None:
    for step in steps:
        for key in ("loss_d", "loss_g"):
            assert two[step][key] == pytest.approx(one[step][key], rel=RTOL, abs=1e-6), (step, key)


def recipe_overrides(recipe: str, images: Path) -> list[str]:
    data = {"pix2pix": [f"data.root={images / 'pairs'}"], "cyclegan": [f"data.root={images}"],
            "gan": [f"data.root={images / 'pairs'}", "data.dataset=folder"],
            "cut": [f"data.root={images}"]}.get(recipe, [])
    return TINY + RECIPE_OPTIONS[recipe] + data


@pytest.mark.parametrize("recipe, extra", [("cgan", []), ("gan", []), ("pix2pix", []), ("cyclegan", []), ("cut", []),
                                           ("cut", ["model.mode=fastcut"])],
                         ids=["cgan", "gan", "pix2pix", "cyclegan", "cut", "fastcut"])
def test_two_processes_match_one_with_the_same_global_batch(recipe, extra, noise_images, tmp_path):
    overrides = recipe_overrides(recipe, noise_images) + extra
    one = train(apply_overrides(default_config(recipe), overrides + ["train.steps=3"]), out=tmp_path / "one",
                quiet=True)
    runs = tmp_path / "runs"
    runs.mkdir()
    result = torchrun(train_args(recipe, overrides, runs / "two", steps=3), cwd=tmp_path)
    assert_same_losses(losses(one.run_dir), losses(runs / "two"), steps=(1, 2, 3))
    # rank 0 alone writes: one run folder, one metrics file with one record per step, one report
    assert [p.name for p in runs.iterdir()] == ["two"]
    assert [r for r in losses(runs / "two")] == [1, 2, 3]
    assert sorted(p.name for p in (runs / "two" / "checkpoints").iterdir()) == \
        ["latest.pt", "step_0000002.pt", "step_0000003.pt"]
    assert result.stdout.count("trained 3 steps") == 1


def test_resume_under_two_processes_continues_and_checkpoints_move_between_world_sizes(tmp_path):
    overrides = recipe_overrides("cgan", tmp_path)
    uninterrupted = train(apply_overrides(default_config("cgan"), overrides + ["train.steps=8"]),
                          out=tmp_path / "one", quiet=True)
    torchrun(train_args("cgan", overrides, tmp_path / "two", steps=4), cwd=tmp_path)
    torchrun(["train", "cgan", "--quiet", "--resume", str(tmp_path / "two"), "--steps", "6"], cwd=tmp_path)
    records = losses(tmp_path / "two")
    assert list(records) == [1, 2, 3, 4, 5, 6]  # the step count continues; nothing repeated or lost
    # ... and a checkpoint written by 2 processes resumes in 1
    resumed = train(default_config("cgan"), resume=tmp_path / "two", steps=8, quiet=True)
    assert resumed.step == 8
    assert_same_losses(losses(uninterrupted.run_dir), losses(tmp_path / "two"), steps=range(1, 9))


def test_nproc_option_reruns_the_command_under_torchrun():
    command = torchrun_command(["train", "cgan", "--nproc", "2", "--steps", "5", "--nproc=2"], 2)
    assert command[:5] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    assert command[5:] == ["-m", "gantool_cli", "train", "cgan", "--steps", "5"]


def test_process_shares_of_a_global_batch_are_its_samples():
    order, seeds = epoch_plan(10, 4, seed=3, epoch=1)
    whole, whole_seeds = epoch_keys(10, seed=3, epoch=1)
    assert torch.equal(whole, order) and torch.equal(whole_seeds, seeds)  # one process: unchanged order
    shares = [epoch_keys(10, seed=3, epoch=1, rank=r, world_size=2)[0] for r in (0, 1)]
    for b in range(2):
        together = torch.cat([share[b * 2:(b + 1) * 2] for share in shares])
        assert sorted(together.tolist()) == sorted(order[b * 4:(b + 1) * 4].tolist())


def test_global_batch_must_split_evenly_over_processes():
    with pytest.raises(GantoolError, match="multiple of their number; use --batch-size 4"):
        BatchStream(list(range(10)), batch_size=5, seed=0, world_size=2)


def test_sync_batch_norm_is_batch_norm_in_one_process():
    torch.manual_seed(0)
    sync, plain = norm_layer("syncbatch", 3), torch.nn.BatchNorm2d(3)
    assert isinstance(sync, SyncBatchNorm2d)
    plain.load_state_dict(sync.state_dict())  # same parameters and buffers: checkpoints load either way
    x = torch.randn(4, 3, 5, 5)
    assert torch.allclose(sync(x), plain(x))
    assert torch.allclose(sync.running_var, plain.running_var)


def test_sigterm_to_torchrun_stops_every_process_at_one_step_and_rank_0_saves(tmp_path):
    import signal
    import time

    out = tmp_path / "run"
    args = train_args("cgan", recipe_overrides("cgan", tmp_path) + ["train.checkpoint_every=100000"], out,
                      steps=100000)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    proc = subprocess.Popen(torchrun_command(args, 2), cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not (out / "metrics.jsonl").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)  # torchrun passes it on to both processes
    output, _ = proc.communicate(timeout=120)
    from gantool.checkpoint import load_checkpoint

    step = load_checkpoint(out)["step"]
    assert 0 < step < 100000
    assert output.count(f"interrupted at step {step}; checkpoint saved") == 1  # rank 0 alone reports
