"""Auxiliary modules of a recipe (trained, checkpointed, never averaged or exported), tested on a
dummy recipe (tests/dummy_recipe.py) so that the mechanism is tested apart from CUT."""

import json
import os
import subprocess
import sys

import pytest
import torch

from gantool.checkpoint import export_generator, load_checkpoint
from gantool.config import apply_overrides, default_config
from gantool.recipes import RECIPES
from gantool.run import train
from gantool.runlog import read_records
from gantool.trainer import Trainer
from tests.conftest import REPO, straight_and_resumed
from tests.dummy_recipe import NAME, NoiseImages, critic_head_loss


def _cfg(*overrides):
    return apply_overrides(default_config(NAME), list(overrides))


def test_auxiliaries_have_their_own_optimizers_and_rates_on_the_schedule(tmp_path):
    result = train(_cfg("train.steps=4", "optim.lr_decay_steps=2", "optim.lr_g=1e-4", "optim.lr_d=3e-4"),
                   out=tmp_path / "run", quiet=True)
    state = load_checkpoint(result.checkpoint)
    # the last step ran at half the base rates (1 - (3 - 2) / 2)
    lrs = {name: opt["param_groups"][0]["lr"] for name, opt in state["optim_auxiliaries"].items()}
    assert lrs == pytest.approx({"head": 0.5e-3, "critic_head": 0.25e-3})
    assert state["optim_g"]["param_groups"][0]["lr"] == pytest.approx(0.5e-4)
    assert state["optim_d"]["param_groups"][0]["lr"] == pytest.approx(1.5e-4)
    # each optimizer holds exactly its module's parameters
    assert [len(state["optim_auxiliaries"][k]["param_groups"][0]["params"]) for k in ("head", "critic_head")] == [2, 2]
    assert len(state["optim_g"]["param_groups"][0]["params"]) == 2
    assert sorted(state["auxiliaries"]) == ["critic_head.bias", "critic_head.weight", "head.bias", "head.weight"]
    # trained: still moving between the checkpoints of steps 3 and 4
    earlier = load_checkpoint(result.run_dir / "checkpoints" / "step_0000003.pt")["auxiliaries"]
    for key, value in earlier.items():
        assert not torch.equal(value, state["auxiliaries"][key]), key
    # neither the EMA nor exports hold them
    assert sorted(state["ema"]) == sorted(state["generators"]) == ["G.0.bias", "G.0.weight"]
    exported = export_generator(result.checkpoint, tmp_path / "export")
    info = json.loads((exported / "generator.json").read_text())
    from safetensors.torch import load_file

    assert sorted(load_file(str(exported / "generator.safetensors"))) == ["G.0.bias", "G.0.weight"]
    assert info["recipe"] == NAME


def test_d_phase_auxiliary_is_trained_by_d_loss_only(tmp_path):
    """critic_head also runs in G's loss (with a large weight); its gradient must be D's alone."""
    cfg = _cfg("train.steps=1")
    torch.manual_seed(0)
    recipe = RECIPES.get(NAME)(cfg, {})
    trainer = Trainer(cfg, recipe, NoiseImages(), tmp_path / "run", quiet=True)
    head = recipe.auxiliaries["critic_head"]
    before = {k: v.clone() for k, v in head.state_dict().items()}
    trainer.train_step(want_norms=False)
    copy = torch.nn.Conv2d(1, 1, 1)
    copy.load_state_dict(before)
    critic_head_loss(copy, recipe.last_batch["x"]).backward()
    torch.testing.assert_close(head.weight.grad, copy.weight.grad)
    torch.testing.assert_close(head.bias.grad, copy.bias.grad)
    assert head.weight.requires_grad  # unfrozen again after the G phase
    assert recipe.auxiliaries["head"].weight.grad is not None  # the G-phase head was trained


def _all_tensors(path):
    state = load_checkpoint(path)
    tensors = {}
    for section in ("generators", "discriminators", "auxiliaries", "ema"):
        tensors.update({f"{section}.{k}": v for k, v in state[section].items()})
    for name, opt in state["optim_auxiliaries"].items():
        for index, slots in opt["state"].items():
            tensors.update({f"optim.{name}.{index}.{slot}": v for slot, v in slots.items() if torch.is_tensor(v)})
    return tensors


def test_resume_restores_auxiliaries_and_their_optimizers_exactly(tmp_path):
    cfg = _cfg("train.steps=6", "optim.lr_decay_steps=3")
    straight, resumed = straight_and_resumed(cfg, tmp_path)
    a, b = _all_tensors(straight.checkpoint), _all_tensors(resumed.checkpoint)
    assert a.keys() == b.keys() and any(k.startswith("optim.head.") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    records = lambda run: [(r["loss_head"], r["loss_critic_head"]) for r in read_records(run, "training")]  # noqa
    assert records(straight.run_dir) == records(resumed.run_dir)


def test_a_checkpoint_without_the_auxiliaries_is_refused(tmp_path):
    from gantool.errors import GantoolError

    result = train(_cfg("train.steps=2"), out=tmp_path / "run", quiet=True, stop_at=1)
    state = load_checkpoint(result.checkpoint)
    del state["auxiliaries"]["head.weight"]
    torch.save(state, result.checkpoint)
    with pytest.raises(GantoolError, match=r"1 tensor does not fit the saved config \(e.g. head.weight"):
        train(_cfg(), resume=result.run_dir, quiet=True)


def test_two_processes_train_the_auxiliaries_as_one(tmp_path):
    """Under torchrun the auxiliaries are DDP-wrapped like G and D: 2 processes with the same
    global batch compute what 1 does (to float summation order)."""
    one = train(_cfg("train.steps=3"), out=tmp_path / "one", quiet=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "tests.dummy_recipe", str(tmp_path / "two"), "3"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    a, b = _all_tensors(one.checkpoint), _all_tensors(tmp_path / "two")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-6, msg=key)
