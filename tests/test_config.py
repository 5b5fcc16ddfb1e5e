from pathlib import Path

import pytest
import yaml

from gantool.config import Config, apply_overrides, default_config, load_config, save_config
from gantool.errors import GantoolError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_yaml_round_trip(tmp_path):
    cfg = apply_overrides(default_config("cgan"), ["optim.betas=[0.0, 0.99]", "loss.objective=hinge"])
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_preset_loads(path):
    load_config(path)


def test_digits_preset_spells_out_the_defaults():
    assert load_config(CONFIGS / "cgan_digits.yaml") == default_config("cgan", "cgan_digits")


def test_unknown_key_names_key_and_valid_keys():
    with pytest.raises(GantoolError, match=r"unknown config key 'optim.lrg'.*valid keys in optim: optimizer, lr_g"):
        Config.from_dict({"optim": {"lrg": 1}})


def test_unknown_section():
    with pytest.raises(GantoolError, match="unknown config key 'optimiser'"):
        Config.from_dict({"optimiser": {}})


def test_bad_choice_lists_choices():
    with pytest.raises(GantoolError, match="loss.objective='wgan'.*minimax, nonsaturating, lsgan, hinge, wgan-gp"):
        apply_overrides(default_config("cgan"), ["loss.objective=wgan"])


@pytest.mark.parametrize("override, message", [
    ("train.steps=0", "train.steps"),
    ("train.steps=abc", "train.steps must be an integer"),
    ("data.channels=2", "data.channels"),
    ("optim.lr_d=-1", "optim.lr_d"),
    ("optim.betas=[0.5]", "optim.betas must be a list of 2"),
    ("loss.augment=rotate", "unknown augmentation 'rotate'"),
    ("train.precision=fp8", "fp32, bf16, fp16"),
    ("model.conditioning=film", "cbn, concat"),
    ("recipe=nope", "unknown recipe 'nope'"),
    ("optim.nope=1", "unknown key 'nope' in optim"),
    ("nope.x=1", "'nope' is not a section"),
    ("optim.lr_d", "expected KEY=VALUE"),
])
def test_bad_overrides_are_clear(override, message):
    with pytest.raises(GantoolError, match=message):
        apply_overrides(default_config("cgan"), [override])


def test_override_parses_yaml_scalars():
    cfg = apply_overrides(default_config("cgan"), ["optim.lr_d=1e-4", "data.hflip=true", "train.steps=10"])
    assert cfg.optim.lr_d == 1e-4 and cfg.data.hflip is True and cfg.train.steps == 10


def test_yaml_is_loaded_safely(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("recipe: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(GantoolError, match="not valid YAML"):
        load_config(evil)


def test_missing_config_file():
    with pytest.raises(GantoolError, match="does not exist"):
        load_config("nope.yaml")


def test_config_is_plain_data():
    data = default_config("cgan").to_dict()
    assert yaml.safe_load(yaml.safe_dump(data)) == data


def test_config_does_not_import_the_recipes():
    """The recipes import the config, never the other way round: a recipe registers its model
    config when its module is imported, and a config of an unregistered recipe says what to import."""
    import subprocess
    import sys

    code = ("import sys; import gantool.config as c; assert 'gantool.recipes' not in sys.modules, 'imported'\n"
            "try:\n    c.default_config('cyclegan')\nexcept c.GantoolError as err:\n    print(err)\n"
            "import gantool.recipes; print(c.default_config('cyclegan').model.generator)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == [
        "unknown recipe 'cyclegan': no recipe is registered yet; import gantool.recipes (the built-in ones) "
        "or the module that defines the recipe before building its config", "resnet_9blocks"]
