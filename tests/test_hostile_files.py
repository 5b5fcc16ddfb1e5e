"""Issue 30 items 5, 7 and 15: files made by an attacker, as an attacker would make them.

- A checkpoint whose pickle memo makes a few kilobytes stand for millions of values (item 5).
- Pickles that would run code when loaded, in torch's zip format and as bare pickles, given to
  every loader (item 7): refused, no code run, and said once in our words.
- A checkpoint whose config asks for a network far larger than its tensors (item 15): refused by
  comparing shapes before anything real is built.
"""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch.nn.modules.module import register_module_parameter_registration_hook

from gantool.checkpoint import load_checkpoint, load_generator_state
from gantool.config import apply_overrides, default_config
from gantool.errors import GantoolError
from gantool.interop.reference import import_reference
from gantool.run import train
from gantool_cli.main import cli
from tests.conftest import write_random_pairs

UNSAFE = "holds Python objects other than tensors, which could run code when loaded, so it was refused and not opened"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def error_line(output: str) -> str:
    [line] = [line for line in output.splitlines() if line.startswith("Error:")]
    return line


@pytest.fixture(scope="module")
def pix2pix_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    pairs = write_random_pairs(root / "pairs", 2, height=128, width=256)
    cfg = apply_overrides(default_config("pix2pix"), [  # unet_128: one the reference has, for its export
        f"data.root={pairs}", "data.image_size=128", "model.generator=unet_128", "model.ngf=4", "model.ndf=4",
        "train.steps=1", "train.device=cpu"])
    return train(cfg, out=root / "run", quiet=True).checkpoint


def _edited(checkpoint: Path, path: Path, edit) -> Path:
    """A copy of `checkpoint` with `edit(state)` applied: what anyone can do to a shared file."""
    state = torch.load(checkpoint, weights_only=True)
    edit(state)
    torch.save(state, path)
    return path


def _laughs(levels: int = 7) -> list:
    """Nine references to a list of nine references to ...: 9**levels strings once followed,
    a few hundred bytes in a pickle, whose memo stores each list once."""
    value: list = ["x"] * 9
    for _ in range(levels - 1):
        value = [value] * 9
    return value


# ---------------------------------------------------------------------------- item 5
@pytest.mark.parametrize("where", ["config", "meta"])
def test_pickle_memo_bomb_is_refused_quickly_in_a_short_line(where, pix2pix_run, tmp_path):
    def plant(state):
        if where == "config":
            state["config"]["optim"]["lr_g"] = _laughs()
        else:
            state["meta"]["directions"] = _laughs()

    bomb = _edited(pix2pix_run, tmp_path / "bomb.pt", plant)
    images = write_random_pairs(tmp_path / "images", 1, 64, 64)
    assert bomb.stat().st_size < pix2pix_run.stat().st_size + 4096  # 4.8 million strings in a few hundred bytes
    started = time.perf_counter()
    with pytest.raises(GantoolError) as caught:
        load_checkpoint(bomb)
    assert time.perf_counter() - started < 2
    message = str(caught.value)
    assert len(message) < 1000 and str(bomb) in message and "holds more than" in message
    result = invoke("translate", images, "--checkpoint", bomb, "--out-dir", tmp_path / "out")
    assert result.exit_code == 1 and len(result.output) < 1000, result.output[:2000]
    assert "holds more than" in error_line(result.output)


# ---------------------------------------------------------------------------- item 7
class _Payload:
    """Unpickling it would run a shell command that leaves a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _malicious_files(folder: Path) -> dict[str, Path]:
    marker = folder / "PWNED"
    payload = _Payload(marker)
    files = {
        # what torch.save writes: a zip holding the pickle
        "zip checkpoint": ({"format": "gantool-checkpoint", "recipe": "pix2pix", "payload": payload}, "zip"),
        "zip state dict": ({"model.1.weight": torch.zeros(2), "model.2.weight": payload}, "zip"),
        "old-format state dict": ({"model.1.weight": payload}, "legacy"),
        "bare pickle": (payload, "pickle"),
    }
    paths = {}
    for name, (content, kind) in files.items():
        path = folder / f"{name.replace(' ', '_')}.pth"
        if kind == "pickle":
            path.write_bytes(pickle.dumps(content))  # protocol 5: opcodes torch's safe loader does not take
        else:
            torch.save(content, path, _use_new_zipfile_serialization=kind == "zip")
        paths[name] = path
    return paths


@pytest.mark.parametrize("loader", ["load_checkpoint", "load_generator_state", "import_reference"])
def test_every_loader_refuses_code_in_our_words(loader, tmp_path):
    load = {"load_checkpoint": load_checkpoint, "load_generator_state": load_generator_state,
            "import_reference": lambda path: import_reference([path])}[loader]
    for name, path in _malicious_files(tmp_path).items():
        with pytest.raises(GantoolError) as caught:
            load(path)
        message = str(caught.value)
        assert message.startswith(f"{path} {UNSAFE}; "), (name, message)
        assert "weights_only" not in message and "truncated" not in message and "damaged" not in message, message
        assert message.count("could run code") == 1
        assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("command", ["import", "translate", "export"])
def test_commands_refuse_code_in_one_line(command, tmp_path):
    images = write_random_pairs(tmp_path / "images", 1, 64, 64)
    for path in _malicious_files(tmp_path).values():
        args = {"import": ["import", path, "--out", tmp_path / "out.pt"],
                "translate": ["translate", images, "--checkpoint", path, "--out-dir", tmp_path / "out"],
                "export": ["export", path, "--out", tmp_path / "exported"]}[command]
        result = invoke(*args)
        assert result.exit_code == 1, result.output
        line = error_line(result.output)
        assert UNSAFE in line and "weights_only" not in line, line
        assert "use a checkpoint from a source you trust" in line or "use one from a source you trust" in line
        assert not (tmp_path / "PWNED").exists() and not (tmp_path / "out.pt").exists()


def test_damaged_files_are_still_called_damaged(pix2pix_run, tmp_path):
    """The new message is for code only: a cut-off checkpoint or random bytes keep theirs, and
    neither repeats torch's advice to load unsafely."""
    cut = tmp_path / "cut.pt"
    cut.write_bytes(pix2pix_run.read_bytes()[:2000])
    noise = tmp_path / "noise.pt"
    noise.write_bytes(bytes(range(256)) * 4)
    for path in (cut, noise):
        with pytest.raises(GantoolError) as caught:
            load_checkpoint(path)
        assert "not a loadable gantool checkpoint" in str(caught.value) and UNSAFE not in str(caught.value)
        assert "weights_only" not in str(caught.value)


# ---------------------------------------------------------------------------- item 15
class _BigRealTensor(Exception):
    pass


@pytest.fixture
def no_big_real_networks():
    """Fails at once (rather than after minutes and gigabytes) when a real parameter of more than
    a million values, or more than 50,000 real parameters, are made: what building a checkpoint's
    inflated config would do."""
    count = [0]

    def check(module, name, param):
        if param is None or param.is_meta:
            return
        count[0] += 1
        if param.numel() > 1_000_000 or count[0] > 50_000:
            raise _BigRealTensor(f"{type(module).__name__}.{name} of {param.numel():,} values was built")

    handle = register_module_parameter_registration_hook(check)
    yield
    handle.remove()


def _inflate(state):
    state["config"]["model"]["ngf"] = 2048
    state["config"]["model"]["ndf"] = 2048


def _loaders(tmp_path: Path):
    from gantool.interop.reference import export_reference
    from gantool.resume import plan_resume
    from gantool.translate import load_translator
    from gantool.warmstart import init_config

    return {
        "translate": lambda path: load_translator(path),
        "resume": lambda path: plan_resume(path, "pix2pix"),
        "init-from": lambda path: init_config(default_config("pix2pix"), path),
        "export to the reference": lambda path: export_reference(path, tmp_path / "reference"),
    }


@pytest.mark.parametrize("loader", ["translate", "resume", "init-from", "export to the reference"])
def test_inflated_config_is_refused_before_anything_is_built(loader, pix2pix_run, tmp_path, no_big_real_networks):
    inflated = _edited(pix2pix_run, tmp_path / "inflated.pt", _inflate)
    started = time.perf_counter()
    with pytest.raises(GantoolError) as caught:
        _loaders(tmp_path)[loader](inflated)
    assert time.perf_counter() - started < 3
    assert str(caught.value).startswith("inflated.pt: ")
    assert "do not fit the saved config" in str(caught.value) and "the config makes [" in str(caught.value)
    assert not (tmp_path / "reference").exists() or not any((tmp_path / "reference").iterdir())


def test_inflated_config_on_the_command_line(pix2pix_run, tmp_path, no_big_real_networks):
    inflated = _edited(pix2pix_run, tmp_path / "inflated.pt", _inflate)
    write_random_pairs(tmp_path / "images", 1, 64, 64)
    result = invoke("translate", tmp_path / "images", "--checkpoint", inflated, "--out-dir", tmp_path / "out")
    assert result.exit_code == 1, result.output
    line = error_line(result.output)
    assert line.startswith("Error: inflated.pt: ") and "tensors do not fit the saved config (e.g. G." in line
    assert "the config makes [" in line and "the file was changed or is damaged" in line


def test_a_config_too_large_to_build_even_as_shapes_is_refused(pix2pix_run, tmp_path, no_big_real_networks):
    def deepen(state):
        state["config"]["model"]["n_layers_d"] = 1_000_000  # a PatchGAN of a million layers

    def widen(state):
        state["config"]["model"]["ngf"] = 10 ** 15  # past what torch can index

    for edit, message in ((deepen, "more than 10,000 layers and tensors"), (widen, "cannot be built")):
        started = time.perf_counter()
        with pytest.raises(GantoolError, match=message):
            _loaders(tmp_path)["resume"](_edited(pix2pix_run, tmp_path / "edited.pt", edit))
        assert time.perf_counter() - started < 5


def test_untouched_checkpoints_still_load(pix2pix_run, tmp_path, no_big_real_networks):
    from gantool.translate import load_translator

    for load in _loaders(tmp_path).values():
        load(pix2pix_run)
    assert load_translator(pix2pix_run).generator is not None


def test_shape_only_builds_match_real_ones_for_every_recipe():
    """The meta-device build that the checks compare against has every tensor of the real
    networks, with the same shapes, for every registered recipe (spectral norm included)."""
    from gantool.config import set_values
    from gantool.recipes import RECIPES
    from gantool.weights import build_shapes_only

    meta = {"class_names": [str(i) for i in range(3)], "images": 4}
    for name in RECIPES.names():
        if name == "encoder":  # it builds a cgan generator read from a file: covered by the cgan row
            continue
        for changes in ({}, {"model.spectral_norm": True}):
            try:
                cfg = set_values(default_config(name), {"model.ngf": 8, "model.ndf": 8, **changes})
            except GantoolError:  # a recipe without spectral norm
                continue
            real = RECIPES.get(name)(cfg, meta).state_dict()
            shapes = build_shapes_only(lambda: RECIPES.get(name)(cfg, meta), "test").state_dict()
            assert {k: tuple(v.shape) for k, v in shapes.items()} == {k: tuple(v.shape) for k, v in real.items()}, name
            assert all(v.is_meta for v in shapes.values() if v.is_floating_point())
