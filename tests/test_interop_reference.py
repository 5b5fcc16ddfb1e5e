"""Issue 15: the reference implementation's models, imported bit-exactly and exported back.

Ground truth: ../shared/reference-models (state dicts saved by the reference's own code, and its
float outputs on fixed inputs in its two test-time modes)."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from gantool.checkpoint import save_checkpoint
from gantool.errors import GantoolError
from gantool.interop.reference import export_reference, import_reference
from gantool.translate import load_translator, read_for
from gantool_cli.main import cli
from tests.conftest import REPO


def shared_reference_models() -> Path:
    path = Path(os.environ.get("GANTOOL_REFERENCE_MODELS", REPO.parent / "shared" / "reference-models"))
    if not (path / "manifest.json").is_file():
        pytest.skip(f"reference models not found at {path} (set GANTOOL_REFERENCE_MODELS)")
    return path


def _cases() -> list[str]:
    path = Path(os.environ.get("GANTOOL_REFERENCE_MODELS", REPO.parent / "shared" / "reference-models"))
    return sorted(json.loads((path / "manifest.json").read_text())) if (path / "manifest.json").is_file() else ["none"]


CASES = _cases()
OUTPUTS_OF = {"cyclegan_resnet9_instance_legacy": "cyclegan_resnet9_instance"}  # same weights, old keys


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def error_lines(output):
    return [line for line in output.splitlines() if line.startswith("Error:")]


@pytest.fixture
def imported(tmp_path):
    def make(case: str) -> Path:
        state, _ = import_reference([shared_reference_models() / case / "latest_net_G.pth"])
        path = tmp_path / f"{case}.pt"
        save_checkpoint(state, path)
        return path

    return make


@pytest.mark.parametrize("mode, expected", [("running", "expected_eval.npy"), ("batch", "expected_batch.npy")])
@pytest.mark.parametrize("case", CASES)
def test_imported_models_match_the_reference_outputs_in_fp32(case, mode, expected, imported):
    root = shared_reference_models()
    outputs = root / OUTPUTS_OF.get(case, case)
    reference = np.load(outputs / expected)
    translator = load_translator(imported(case), "cpu", bn_stats=mode, dropout=False)
    ours = np.stack([translator(read_for(translator, outputs / f"input_{i}.png")).numpy()[0]
                     for i in range(len(reference))])
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() <= 1e-5, np.abs(ours - reference).max()


@pytest.mark.parametrize("case", CASES)
def test_the_png_path_of_gantool_translate_is_within_one_8_bit_level(case, imported, tmp_path):
    root = shared_reference_models()
    outputs = root / OUTPUTS_OF.get(case, case)
    reference = np.load(outputs / "expected_batch.npy")
    inputs = [outputs / f"input_{i}.png" for i in range(len(reference))]
    result = invoke("translate", *inputs, "--checkpoint", imported(case), "--out-dir", tmp_path / "out",
                    "--bn-stats", "batch", "--batch-size", 1, "--device", "cpu", "--quiet")
    assert result.exit_code == 0, result.output
    for i, expected in enumerate(reference):
        ours = np.asarray(Image.open(tmp_path / "out" / f"input_{i}.png").convert("RGB"), dtype=np.int16)
        levels = np.round((np.clip(expected, -1, 1) + 1) * 127.5).astype(np.int16).transpose(1, 2, 0)
        if levels.shape[2] == 1:
            levels = np.repeat(levels, 3, axis=2)
        assert np.abs(ours - levels).max() <= 1


@pytest.mark.parametrize("case", CASES)
def test_import_then_export_gives_back_the_same_tensors(case, imported, tmp_path):
    root = shared_reference_models()
    original = torch.load(root / case / "latest_net_G.pth", weights_only=True)
    if case.endswith("_legacy"):  # what the reference itself keeps of a pre-0.4 file
        original = {k: v for k, v in original.items() if "running_" not in k}
    files = export_reference(imported(case), tmp_path / "ref")
    name = "latest_net_G.pth" if case.startswith("pix2pix") else "latest_net_G_A.pth"
    exported = torch.load(tmp_path / "ref" / name, weights_only=True)
    assert set(exported) == set(original)
    for key, tensor in original.items():
        assert exported[key].shape == tensor.shape and torch.equal(exported[key], tensor), key
    assert (tmp_path / "ref" / "test_options.txt") in files


def test_a_reference_folder_round_trip_with_discriminator_and_options(tmp_path):
    root = shared_reference_models()
    folder = tmp_path / "checkpoints" / "facades_pix2pix"
    folder.mkdir(parents=True)
    for name in ("latest_net_G.pth", "latest_net_D.pth"):
        shutil.copy(root / "pix2pix_unet128_batch" / name, folder / name)
    (folder / "train_opt.txt").write_text(
        "----------------- Options ---------------\n"
        "               batch_size: 1                             \n"
        "                crop_size: 128                           \t[default: 256]\n"
        "                direction: BtoA                          \t[default: AtoB]\n"
        "                    model: pix2pix                       \t[default: cycle_gan]\n"
        "               no_dropout: False                         \n"
        "----------------- End -------------------\n")
    result = invoke("import", folder, "--out", tmp_path / "facades.pt")
    assert result.exit_code == 0, result.output
    assert "from train_opt.txt: recipe pix2pix, dropout 0.5, direction BtoA, crop size 128" in result.output
    assert "PatchGAN D (3 layers, ndf 8)" in result.output
    state = torch.load(tmp_path / "facades.pt", weights_only=True)
    assert state["config"]["data"]["direction"] == "BtoA" and state["config"]["data"]["image_size"] == 128
    assert state["optim_g"] is None and state["discriminators"]
    exported = invoke("export", tmp_path / "facades.pt", "--format", "reference", "--out", tmp_path / "back")
    assert exported.exit_code == 0, exported.output
    for name in ("latest_net_G.pth", "latest_net_D.pth"):
        original = torch.load(folder / name, weights_only=True)
        back = torch.load(tmp_path / "back" / name, weights_only=True)
        assert set(back) == set(original) and all(torch.equal(back[k], original[k]) for k in original), name
    options = (tmp_path / "back" / "test_options.txt").read_text()
    assert "--model pix2pix --netG unet_128 --norm batch --ngf 8" in options and "--direction BtoA" in options
    assert "--no_dropout" not in options


def test_a_cyclegan_pair_gives_both_directions(tmp_path):
    root = shared_reference_models()
    folder = tmp_path / "horse2zebra"
    folder.mkdir()
    shutil.copy(root / "cyclegan_resnet9_instance" / "latest_net_G.pth", folder / "latest_net_G_A.pth")
    shutil.copy(root / "cyclegan_resnet9_instance_legacy" / "latest_net_G.pth", folder / "latest_net_G_B.pth")
    shutil.copy(root / "cyclegan_resnet9_instance" / "latest_net_D.pth", folder / "latest_net_D_A.pth")
    result = invoke("import", folder, "--out", tmp_path / "pair.pt")
    assert result.exit_code == 0, result.output
    assert "(cyclegan, a2b and b2a)" in result.output
    inputs = root / "cyclegan_resnet9_instance"
    reference = np.load(inputs / "expected_eval.npy")
    for direction in ("a2b", "b2a"):  # both generators hold the same weights here
        translator = load_translator(tmp_path / "pair.pt", "cpu", direction=direction)
        ours = translator(read_for(translator, inputs / "input_0.png")).numpy()[0]
        assert np.abs(ours - reference[0]).max() <= 1e-5
    state = torch.load(tmp_path / "pair.pt", weights_only=True)
    assert any(k.startswith("D_B.") for k in state["discriminators"])  # the reference's D_A judges domain B
    files = export_reference(tmp_path / "pair.pt", tmp_path / "back")
    assert {f.name for f in files} == {"latest_net_G_A.pth", "latest_net_G_B.pth", "latest_net_D_A.pth",
                                       "test_options.txt"}


def test_a_single_cyclegan_generator_translates_one_way_only(imported, tmp_path):
    path = imported("cyclegan_resnet6_instance")
    load_translator(path, "cpu", direction="a2b")
    with pytest.raises(GantoolError, match="holds one direction only .*cannot translate b2a"):
        load_translator(path, "cpu", direction="b2a")


def test_an_imported_model_exports_and_evaluates_like_any_checkpoint(imported, tmp_path):
    path = imported("pix2pix_unet128_batch")
    result = invoke("export", path, "--out", tmp_path / "exported")
    assert result.exit_code == 0, result.output
    translator = load_translator(tmp_path / "exported", "cpu")
    assert translator.in_channels == 3
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (128, 256, 3), dtype=np.uint8)).save(pairs / f"{i}.png")
    evaluated = invoke("eval", "pix2pix", "--checkpoint", path, "--data", pairs, "--out", tmp_path / "e.json",
                       "--device", "cpu")
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads((tmp_path / "e.json").read_text())["n"] == 2


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    import os as _os
    import pickle

    root = shared_reference_models()
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes((root / "cyclegan_resnet6_instance" / "latest_net_G.pth").read_bytes()[:50_000])

    class Payload:
        def __reduce__(self):
            return (_os.system, (f"touch {tmp_path / 'pwned'}",))

    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps({"model.1.weight": Payload()}))
    disguised = tmp_path / "generator.pth"
    shutil.copy(root / "cyclegan_resnet6_instance" / "latest_net_D.pth", disguised)
    other = tmp_path / "classifier.pth"
    torch.save(torch.nn.Linear(4, 2).state_dict(), other)
    empty = tmp_path / "empty_run"
    empty.mkdir()
    return {
        "D given as G": (root / "cyclegan_resnet6_instance" / "latest_net_D.pth", "looks like a discriminator"),
        "D renamed as G": (disguised, "looks like a PatchGAN discriminator, not a generator"),
        "truncated file": (truncated, "truncated or damaged"),
        "pickle with code": (evil, "could run code when loaded, so it was refused and not opened"),
        "another network": (other, "not a state dict of a reference generator"),
        "folder without generators": (empty, "holds no latest_net_G*.pth"),
        "not a file of torch": (REPO / "README.md", "is not a PyTorch file"),
    }


@pytest.mark.parametrize("case", ["D given as G", "D renamed as G", "truncated file", "pickle with code",
                                  "another network", "folder without generators", "not a file of torch"])
def test_bad_inputs_are_one_line_and_write_nothing(case, tmp_path):
    path, message = _bad_inputs(tmp_path)[case]
    out = tmp_path / "out.pt"
    result = invoke("import", path, "--out", out)
    assert result.exit_code == 1, result.output
    [line] = error_lines(result.output)
    assert message in line, line
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists() and not (tmp_path / "pwned").exists()


def test_an_epoch_that_is_not_there_lists_the_ones_that_are(tmp_path):
    root = shared_reference_models()
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(root / "cyclegan_resnet6_instance" / "latest_net_G.pth", folder / "5_net_G.pth")
    shutil.copy(root / "cyclegan_resnet6_instance" / "latest_net_G.pth", folder / "10_net_G.pth")
    result = invoke("import", folder, "--epoch", 7, "--out", tmp_path / "x.pt")
    assert result.exit_code == 1 and "holds no 7_net_G*.pth" in result.output and "epochs there: 10, 5" in result.output
    assert invoke("import", folder, "--epoch", 5, "--out", tmp_path / "x.pt").exit_code == 0
    existing = invoke("import", folder, "--epoch", 5, "--out", tmp_path / "x.pt")
    assert existing.exit_code == 1 and "--overwrite" in existing.output
