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


# issue 30 item 5: YAML aliases let a few hundred bytes stand for billions of values
def _billion_laughs(levels: int = 7) -> str:
    """Nested anchors, each list nine references to the one before: 9**levels strings in all."""
    lists = ["&a0 [x, x, x, x, x, x, x, x, x]"]
    lists += [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "optim:\n  lr_g: [" + ", ".join(lists) + "]\n"


@pytest.mark.parametrize("where", ["config file", "--set"])
def test_billion_laughs_yaml_is_refused_quickly_in_a_short_message(where, tmp_path):
    import time

    text = _billion_laughs()
    assert len(text) < 400  # 9**7 = 4.8 million strings once the aliases are followed
    path = tmp_path / "laughs.yaml"
    path.write_text(text)
    started = time.perf_counter()
    with pytest.raises(GantoolError) as caught:
        if where == "config file":
            load_config(path)
        else:
            apply_overrides(default_config("cgan"), ["optim.lr_g=" + text.split("lr_g: ", 1)[1].strip()])
    assert time.perf_counter() - started < 1
    message = str(caught.value)
    assert len(message) < 1000
    assert "holds more than 10,000 values" in message
    assert (f"config file {path}" if where == "config file" else "--set optim.lr_g") in message


def test_deeply_nested_config_is_refused(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("optim:\n  lr_g: " + "[" * 40 + "]" * 40 + "\n")
    with pytest.raises(GantoolError, match=r"deep\.yaml is nested more than 16 levels deep"):
        load_config(path)


def test_errors_show_a_shortened_value_and_its_type():
    huge = [[list(range(1000))] * 1000] * 1000
    with pytest.raises(GantoolError) as caught:
        Config.from_dict({"optim": {"lr_g": {"a": "x" * 5000}}})
    assert len(str(caught.value)) < 300 and str(caught.value).endswith("(dict)")
    with pytest.raises(GantoolError) as caught:
        Config.from_dict({"data": [1, 2, 3]})
    assert str(caught.value) == "config section 'data' must be a mapping, got [1, 2, 3] (list)"
    with pytest.raises(GantoolError, match="must be an integer, got <int of 33220 bits>"):
        Config.from_dict({"model": {"ngf": 10 ** 10000}})
    with pytest.raises(GantoolError) as caught:
        Config.from_dict({"optim": {"lr_g": huge}})  # a million values, but one shared list: still refused
    assert len(str(caught.value)) < 300


# issue 30 item 8: infinity passed every range check
@pytest.mark.parametrize("override", ["optim.lr_g=inf", "loss.gp_weight=1e400", "optim.lr_d=-inf", "optim.lr_g=nan",
                                      "optim.betas=[0.5, .inf]", "data.blur=.nan", "diagnostics.coverage_kl=inf",
                                      "model.dropout=inf", "loss.r1_weight=Infinity"])
def test_every_float_setting_must_be_finite(override):
    recipe = "pix2pix" if override.startswith("model.") else "cgan"
    key = override.split("=")[0].replace("[", "").split()[0]
    with pytest.raises(GantoolError, match=rf"config value {key}(\[1\])? must be a finite number"):
        apply_overrides(default_config(recipe), [override])


def test_infinite_floats_are_refused_from_every_source(tmp_path):
    import dataclasses
    import math

    from gantool.config import OptimConfig

    path = tmp_path / "inf.yaml"
    path.write_text("recipe: cgan\nloss:\n  gp_weight: .inf\n")
    with pytest.raises(GantoolError, match=r"inf\.yaml: config value loss\.gp_weight must be a finite number"):
        load_config(path)
    data = default_config("cgan").to_dict()
    data["optim"]["lr_g"] = math.inf  # as a checkpoint's config dict holds it
    with pytest.raises(GantoolError, match="optim.lr_g must be a finite number"):
        Config.from_dict(data)
    with pytest.raises(GantoolError, match="optim.lr_g must be a finite number, got inf"):
        dataclasses.replace(default_config("cgan"), optim=OptimConfig(lr_g=math.inf))  # built in Python


# issue 30 item 9: an empty file read as the default cgan config
def test_empty_config_file_says_it_is_empty(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(GantoolError, match=r"config file .*empty\.yaml is empty"):
        load_config(empty)
    comments = tmp_path / "comments.yaml"
    comments.write_text("# nothing but a comment\n")
    with pytest.raises(GantoolError, match="is empty"):
        load_config(comments)
    listed = tmp_path / "list.yaml"
    listed.write_text("- optim\n- lr_g\n")
    with pytest.raises(GantoolError, match=r"list\.yaml holds \['optim', 'lr_g'\] \(list\), not a mapping of sections"):
        load_config(listed)


def test_empty_config_file_on_the_command_line(tmp_path):
    from click.testing import CliRunner

    from gantool_cli.main import cli

    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    result = CliRunner().invoke(cli, ["train", "pix2pix", "--config", str(empty), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "is empty" in result.output and "'cgan' config" not in result.output
