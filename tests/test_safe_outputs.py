"""Issue 30, items 3, 6, 16 and 17: outputs stay inside the folder the user gave whatever names a
file carries, written files get the umask's mode, and inputs that are not what they seem (a FIFO,
a symlinked folder, square "pairs", an output folder inside the input folder) get the right word.

The hostile inputs are built here as an attacker would: a cgan checkpoint whose class names are
paths, a run folder whose report folder is a link, an export whose JSON lost its `meta`."""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from gantool.checkpoint import save_checkpoint
from gantool.config import apply_overrides, default_config
from gantool.errors import GantoolError
from gantool.recipes import RECIPES
from gantool.safe_paths import inside, safe_filename, what_is
from gantool_cli.main import cli


def invoke(*args, **kwargs):
    return CliRunner().invoke(cli, [str(a) for a in args], **kwargs)


def _checkpoint(path: Path, recipe: str, overrides: list[str], meta: dict | None = None) -> Path:
    cfg = apply_overrides(default_config(recipe), overrides + ["model.ngf=8", "model.ndf=8"])
    torch.manual_seed(0)
    model = RECIPES.get(recipe)(cfg, meta or {})
    state = {"recipe": recipe, "config": cfg.to_dict(), "meta": meta or {}, "step": 0, "d_updates": 0,
             "generators": model.generators.state_dict(), "discriminators": {}, "ema": None}
    save_checkpoint(state, path)
    return path


def _pix2pix(tmp_path: Path) -> Path:
    return _checkpoint(tmp_path / "p2p.pt", "pix2pix", ["model.generator=unet_64", "data.image_size=64"])


def _images(folder: Path, n: int, height: int = 32, width: int = 32) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


# ---- item 3: names from files become safe file names; outputs stay inside the folder given ----

def test_safe_filename_keeps_any_name_to_one_plain_file_name():
    assert safe_filename("../../x") == "_.._x"
    assert safe_filename("/abs/path/y") == "_abs_path_y"
    assert safe_filename("..") == "unnamed" and safe_filename("", "class") == "class"
    assert safe_filename(".hidden") == "hidden" and safe_filename("a\\b\x00c\nd") == "a_b_c_d"
    assert safe_filename("cat") == "cat" and safe_filename("猫 7") == "猫 7" and safe_filename(3) == "3"
    assert safe_filename("CON") == "_CON" and safe_filename("x" * 300).encode() == b"x" * 100
    assert len(safe_filename("é" * 300).encode()) <= 100  # cut between characters, never inside one
    for name in ("../../x", "/abs/y", "a/../../b", "..\\..\\c", "\u202e/etc"):
        cleaned = safe_filename(name)
        assert "/" not in cleaned and "\\" not in cleaned and not cleaned.startswith(".")


def test_generate_writes_only_inside_out_dir_whatever_the_class_names(tmp_path):
    """A stranger's cgan checkpoint names its classes "../../x" and an absolute path: each sample
    still lands in --out-dir, under a cleaned name."""
    absolute = tmp_path / "abs" / "path" / "y"
    checkpoint = _checkpoint(tmp_path / "ck.pt", "cgan", ["model.z_dim=8"],
                             {"class_names": ["../../x", str(absolute)]})
    out_dir = tmp_path / "a" / "b" / "D"
    before = _files(tmp_path)
    result = invoke("generate", checkpoint, "--label", "all", "--n", 2, "--out-dir", out_dir, "--device", "cpu")
    assert result.exit_code == 0, result.output
    written = _files(tmp_path) - before
    assert len(written) == 4 and all(out_dir in p.parents for p in written), sorted(map(str, written))
    names = sorted(p.name for p in written)
    assert names[:2] == ["_.._x_00000.png", "_.._x_00001.png"]
    assert all(n.startswith(safe_filename(str(absolute))) for n in names[2:])
    assert not (tmp_path / "a" / "x_00000.png").exists() and not absolute.parent.exists()


def test_inside_follows_links_and_dotdot(tmp_path):
    folder, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    (folder / "sub").symlink_to(elsewhere)
    assert inside(folder, folder / "a" / "b.png") == folder / "a" / "b.png"
    for path in (folder / "sub" / "a.png", folder / ".." / "x.png", Path("/etc/passwd")):
        with pytest.raises(GantoolError, match="refusing to write .* it leads outside --out-dir"):
            inside(folder, path)


def test_translate_refuses_an_output_folder_whose_subfolder_links_outside(tmp_path):
    """Outputs mirror the input folder's structure: a link planted at that place in --out-dir would
    aim them elsewhere, so the plan is refused before anything is written."""
    from gantool.utils import plan_outputs

    inputs = _images(tmp_path / "in" / "sub", 2).parent
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "sub").symlink_to(elsewhere)
    found = [(p, p.relative_to(inputs)) for p in sorted(inputs.rglob("*.png"))]
    with pytest.raises(GantoolError, match=r"refusing to write .*out/sub/0\.png: it leads outside --out-dir"):
        plan_outputs(found, out_dir, overwrite=False)
    assert not list(elsewhere.iterdir())


def _run_folder(path: Path) -> Path:
    path.mkdir()
    lines = [{"step": s, "loss_g": 1.0 / s, "loss_d": 0.5, "elapsed_s": float(s)} for s in (1, 2, 3)]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


def test_report_does_not_follow_links_planted_in_a_shared_run_folder(tmp_path):
    from gantool.report import write_report

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run = _run_folder(tmp_path / "run")
    (run / "report").mkdir()
    (run / "report" / "report.html").symlink_to(victim)
    with pytest.raises(GantoolError, match="refusing to write .*report.html: it leads outside --out"):
        write_report(run)
    assert victim.read_text() == "precious"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run2 = _run_folder(tmp_path / "run2")
    (run2 / "report").symlink_to(elsewhere)
    with pytest.raises(GantoolError, match="leads outside the run folder .*remove the link or give --out"):
        write_report(run2)
    assert not list(elsewhere.iterdir())
    assert write_report(run2, tmp_path / "given").html.is_file()  # --out: the user's choice is honoured


def test_serve_names_from_the_checkpoint_stay_in_the_page_folder(tmp_path):
    from gantool.serve.actions import Outputs, generate_grid, interpolation_strip
    from gantool.serve.models import load_model

    checkpoint = _checkpoint(tmp_path / "ck.pt", "cgan", ["model.z_dim=8"], {"class_names": ["../../../../x", "ok"]})
    model = load_model("ck", checkpoint, torch.device("cpu"))
    outputs = Outputs(tmp_path / "page")
    outputs.root.mkdir()
    before = _files(tmp_path)
    grid = generate_grid(model, "../../../../x", 2, 0, outputs)
    strip = interpolation_strip(model, "../../../../x", 2, 1, "linear", 0, outputs)
    assert _files(tmp_path) - before == {grid, strip}
    assert all(outputs.root in p.parents for p in (grid, strip))
    assert grid.name == "samples__.._.._.._x_seed0.png" and strip.name == "interp__.._.._.._x_seed0.png"


# ---- item 6: written files get the mode a plain open() gets under the umask ----

@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_outputs_get_the_umask_mode_not_mkstemps_0600(tmp_path, umask_022):
    from gantool.interop.export import export_model
    from gantool.utils import save_png

    save_png(torch.zeros(4, 4, 3, dtype=torch.uint8), tmp_path / "image.png")
    checkpoint = _pix2pix(tmp_path)
    files = export_model(checkpoint, tmp_path / "exported")
    (tmp_path / "plain").write_text("")
    assert _mode(tmp_path / "plain") == 0o644
    for path in [tmp_path / "image.png", checkpoint, *files]:
        assert _mode(path) == 0o644, f"{path.name}: {oct(_mode(path))}"
    os.umask(0o077)  # a private umask stays private
    save_png(torch.zeros(4, 4, 3, dtype=torch.uint8), tmp_path / "private.png")
    assert _mode(tmp_path / "private.png") == 0o600


# ---- item 17: translate twice into a folder inside the input; FIFOs; symlinked folders; square pairs ----

def test_translate_into_a_folder_inside_the_input_runs_again_with_skip_existing(tmp_path):
    checkpoint = _pix2pix(tmp_path)
    folder = _images(tmp_path / "dir", 3)
    out_dir = folder / "out"
    args = ["translate", folder, "--checkpoint", checkpoint, "--out-dir", out_dir, "--device", "cpu", "--quiet"]
    first = invoke(*args)
    assert first.exit_code == 0 and "translated 3 image(s)" in first.output, first.output
    made = {p: p.stat().st_mtime_ns for p in out_dir.iterdir()}
    second = invoke(*args, "--skip-existing")
    assert second.exit_code == 0, second.output
    assert "translated 0 image(s)" in second.output and "(3 already there and complete, kept)" in second.output
    assert {p: p.stat().st_mtime_ns for p in out_dir.iterdir()} == made and not (out_dir / "out").exists()


def test_a_fifo_is_named_for_what_it_is(tmp_path):
    from gantool.data.check import check_folder
    from gantool.translate import collect_inputs

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert what_is(fifo) == "is a named pipe (FIFO), not a regular file or folder"
    assert what_is(tmp_path / "missing") == "does not exist"
    with pytest.raises(GantoolError, match=r"input .*pipe is a named pipe \(FIFO\), not a regular file or folder; "
                                           "give image files or folders"):
        collect_inputs([fifo])
    with pytest.raises(GantoolError, match=r"data folder .*pipe is a named pipe \(FIFO\)"):
        check_folder(fifo)
    with pytest.raises(GantoolError, match="does not exist"):
        collect_inputs([tmp_path / "missing.png"])


def test_images_in_a_symlinked_subfolder_are_found_and_a_loop_ends(tmp_path):
    from gantool.data.check import check_folder
    from gantool.data.images import list_images, readable_images
    from gantool.data.labelled import ClassFolders

    photos = _images(tmp_path / "elsewhere" / "photos", 3)
    root = tmp_path / "train"
    root.mkdir()
    (root / "linked").symlink_to(photos)
    (root / "linked_again").symlink_to(photos)  # a second link to one folder: its images once
    (photos / "loop").symlink_to(photos.parent)  # a link back up the tree
    (photos / "root").symlink_to(root)
    found = readable_images(root, "data folder")
    assert len(found) == 3 and all(root in p.parents for p in found), found
    assert list_images(root) == found
    classes = tmp_path / "classes"
    classes.mkdir()
    (classes / "cat").symlink_to(photos)
    assert len(ClassFolders(classes, 16, 3)) == 3
    assert check_folder(root).ok


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def gantool_warnings():
    """The library's warnings (the CLI, once run in this process, stops them reaching caplog)."""
    handler, logger = _Collect(), logging.getLogger("gantool")
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def test_square_images_read_as_pairs_get_a_warning(tmp_path, gantool_warnings):
    from gantool.data.check import check_folder
    from gantool.data.paired import find_pairs

    square = _images(tmp_path / "square", 3, 64, 64)
    assert len(find_pairs(square)) == 3  # a warning, not a refusal
    message = r"3 of 3 image\(s\) in .*square are not about twice as wide as tall \(e.g. .*0.png: 64x64 px\)"
    assert any(re.search(message, m) for m in gantool_warnings), gantool_warnings
    report = check_folder(square)
    assert report.ok and any("not about twice as wide as tall" in w for w in report.warnings), report.warnings
    result = invoke("data", "check", square)
    assert "warning: 3 of 3 image(s)" in result.output and "put the inputs in" in result.output, result.output

    gantool_warnings.clear()
    find_pairs(_images(tmp_path / "pairs", 2, 64, 128))
    assert not gantool_warnings and not check_folder(tmp_path / "pairs").warnings


# ---- item 16: internal errors where a message belongs ----

def test_translate_size_zero_is_an_option_error(tmp_path):
    from gantool.translate import load_translator

    checkpoint = _pix2pix(tmp_path)
    folder = _images(tmp_path / "in", 1)
    for size in ("0", "-3", "x"):
        result = invoke("translate", folder, "--checkpoint", checkpoint, "--size", size, "--out-dir", tmp_path / "o")
        assert result.exit_code == 2, result.output
        assert "Invalid value for --size" in result.output and "use auto or a positive number of pixels" in result.output
    with pytest.raises(GantoolError, match="--size 0 does not suit this network: use a positive multiple of 64"):
        load_translator(checkpoint)(torch.zeros(1, 3, 32, 32), size=0)


def test_an_export_whose_json_lacks_meta_says_so(tmp_path):
    from gantool.checkpoint import load_generator_state
    from gantool.interop.export import export_model

    folder = tmp_path / "exported"
    export_model(_pix2pix(tmp_path), folder)
    info = json.loads((folder / "generator.json").read_text())
    del info["meta"]
    (folder / "generator.json").write_text(json.dumps(info))
    with pytest.raises(GantoolError, match=r"generator.json lacks a valid 'meta': it is not a complete gantool export"):
        load_generator_state(folder)
    result = invoke("translate", _images(tmp_path / "in", 1), "--checkpoint", folder, "--out-dir", tmp_path / "o")
    assert result.exit_code == 1 and "lacks a valid 'meta'" in result.output and "bug" not in result.output
    (folder / "generator.json").write_text("[1, 2]")
    with pytest.raises(GantoolError, match="lacks a valid 'recipe', 'config', 'meta'"):
        load_generator_state(folder)
