"""Issue 19, part 1: generators exported as ONNX and TorchScript match the eager model, at sizes
other than the one exported from, and `gantool translate` runs an ONNX file like a checkpoint."""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from gantool.checkpoint import save_checkpoint
from gantool.config import apply_overrides, default_config
from gantool.errors import GantoolError
from gantool.interop.deploy import prepare, sampling_deployable, translation_deployable
from gantool.networks import GENERATORS
from gantool.networks.layers import use_batch_statistics
from gantool.recipes import RECIPES
from gantool.translate import load_translator
from gantool_cli.main import cli

ort = pytest.importorskip("onnxruntime", reason="the onnx extra: pip install 'gantool[onnx]'")
onnx = pytest.importorskip("onnx", reason="the onnx extra: pip install 'gantool[onnx]'")
pytest.importorskip("onnxscript", reason="the onnx extra: pip install 'gantool[onnx]'")

from gantool.interop.onnx_format import onnx_bytes  # noqa: E402
from gantool.interop.torchscript_format import load_torchscript, trace, write_torchscript  # noqa: E402

TOLERANCE = 1e-4  # max abs difference in fp32, outputs in [-1, 1]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _vary_batch_norms(module: torch.nn.Module) -> None:
    """Running statistics unlike the init's (0, 1), so that a wrong choice of statistics shows."""
    generator = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=generator) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=generator) + 0.5)


def _tiny(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    small = {"mlp": {"hidden": 16}}.get(name, {"ngf": 8})
    module = GENERATORS.get(name)(**small)
    _vary_batch_norms(module)
    return module.eval()


def _inputs(module: torch.nn.Module, case: int) -> tuple[torch.Tensor, ...]:
    """Two cases of other sizes than the export's example (batch 2, 2 x the size multiple)."""
    generator = torch.Generator().manual_seed(case)
    if hasattr(module, "size_multiple"):
        m = max(module.size_multiple, 4)
        batch, height, width = ((1, 3 * m, m) if case == 0 else (3, m, 4 * m)) if m >= 64 else \
            ((1, 3 * m, 5 * m) if case == 0 else (3, 4 * m, 2 * m))
        return (torch.rand(batch, module.in_channels, height, width, generator=generator) * 2 - 1,)
    batch = 1 if case == 0 else 5
    z = torch.randn(batch, module.z_dim, generator=generator)
    if not hasattr(module, "num_classes"):  # an unconditional generator takes z alone
        return (z,)
    return (z, torch.randint(0, module.num_classes, (batch,), generator=generator))


def _deployable(module: torch.nn.Module):
    if hasattr(module, "size_multiple"):
        return translation_deployable(module, "running")
    return sampling_deployable(module)


def _run_onnx(data: bytes, inputs: tuple[torch.Tensor, ...]) -> np.ndarray:
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {arg.name: t.numpy() for arg, t in zip(session.get_inputs(), inputs)})[0]


@pytest.mark.parametrize("name", GENERATORS.names())
def test_every_generator_exports_to_onnx_and_torchscript_and_matches_eager(name):
    module = _tiny(name)
    deployable = _deployable(module)
    data = onnx_bytes(deployable)
    traced = trace(deployable)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notice
        torch.jit.save(traced, buffer)
        buffer.seek(0)
        loaded = torch.jit.load(buffer)
    shapes = set()
    for case in (0, 1):
        inputs = _inputs(module, case)
        with torch.no_grad():
            expected = module(*inputs)
            scripted = loaded(*inputs)
        shapes.add(tuple(expected.shape))
        onnx_out = _run_onnx(data, inputs)
        assert onnx_out.shape == tuple(expected.shape)
        assert np.abs(onnx_out - expected.numpy()).max() <= TOLERANCE
        assert (scripted - expected).abs().max().item() <= TOLERANCE
    assert len(shapes) == 2  # two different sizes really went through


def test_onnx_file_describes_itself():
    deployable = translation_deployable(_tiny("unet_64"), "running", {"config": {"recipe": "pix2pix"}})
    model = onnx.load_from_string(onnx_bytes(deployable))
    props = {p.key: p.value for p in model.metadata_props}
    assert model.opset_import[0].version >= 17
    assert (props["in_channels"], props["out_channels"], props["size_multiple"]) == ("3", "3", "64")
    assert json.loads(props["value_range"]) == [-1.0, 1.0] and props["bn_stats"] == "running"
    assert json.loads(props["gantool"])["config"] == {"recipe": "pix2pix"}
    dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input]
    assert dims[0][0] == "batch" and dims[0][1] == 3 and all(isinstance(d, str) for d in dims[0][2:])
    assert "multiples of 64" in model.doc_string


def _checkpoint(tmp_path, recipe: str, overrides: list[str], meta: dict | None = None):
    cfg = apply_overrides(default_config(recipe), overrides + ["model.ngf=8", "model.ndf=8"])
    torch.manual_seed(0)
    model = RECIPES.get(recipe)(cfg, meta or {})
    _vary_batch_norms(model.generators)
    state = {"recipe": recipe, "config": cfg.to_dict(), "meta": meta or {}, "step": 0, "d_updates": 0,
             "generators": model.generators.state_dict(), "discriminators": {}, "ema": None}
    path = tmp_path / f"{recipe}.pt"
    save_checkpoint(state, path)
    return path, model


@pytest.mark.parametrize("bn_stats", ["running", "batch"])
def test_pix2pix_test_time_choices_are_baked_in(tmp_path, bn_stats):
    path, model = _checkpoint(tmp_path, "pix2pix", ["model.generator=unet_64", "data.image_size=64"])
    deployable = prepare(path, bn_stats=bn_stats)
    assert deployable.info["bn_stats"] == bn_stats and deployable.info["dropout"] == "off"
    assert deployable.info["config"]["model"]["generator"] == "unet_64"
    eager = model.generators["G"].eval()
    if bn_stats == "batch":
        use_batch_statistics(eager)
    data = onnx_bytes(deployable)
    traced = trace(deployable)
    for case in (0, 1):
        image = _inputs(eager, case)[0][:1]  # batch statistics: one image at a time, as translate does
        with torch.no_grad():
            expected = eager(image)
        assert np.abs(_run_onnx(data, (image,)) - expected.numpy()).max() <= TOLERANCE
        assert (traced(image) - expected).abs().max().item() <= TOLERANCE


def test_cyclegan_direction_and_conditional_inputs(tmp_path):
    path, model = _checkpoint(tmp_path, "cyclegan", ["model.generator=resnet_6blocks", "data.image_size=32"])
    deployable = prepare(path, direction="b2a")
    assert deployable.info["direction"] == "b2a" and deployable.info["bn_stats"] == "none"
    image = torch.rand(2, 3, 36, 20) * 2 - 1
    with torch.no_grad():
        expected = model.generators[RECIPES.get("cyclegan").translation_generators["b2a"]].eval()(image)
    assert np.abs(_run_onnx(onnx_bytes(deployable), (image,)) - expected.numpy()).max() <= TOLERANCE
    names = [str(c) for c in range(10)]
    path, model = _checkpoint(tmp_path, "cgan", [], {"class_names": names})
    deployable = prepare(path)
    assert deployable.input_names == ["z", "label"] and deployable.info["class_names"] == names
    out = tmp_path / "cgan.ts"
    write_torchscript(deployable, out)
    loaded, info = load_torchscript(out)
    z, labels = torch.randn(4, info["z_dim"]), torch.tensor([0, 3, 7, 9])
    with torch.no_grad():
        assert (loaded(z, labels) - model.generators["G"].eval()(z, labels)).abs().max().item() <= TOLERANCE
    assert info["config"]["recipe"] == "cgan" and info["value_range"] == [-1.0, 1.0]
    with pytest.raises(GantoolError, match="--direction is for translation models"):
        prepare(path, direction="a2b")


def _images(folder, sizes):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_translate_runs_an_onnx_file_like_its_checkpoint(tmp_path):
    path, _ = _checkpoint(tmp_path, "pix2pix", ["model.generator=unet_64", "data.image_size=64", "data.batch_size=4"])
    exported = tmp_path / "model.onnx"
    result = invoke("export", path, "--format", "onnx", "--out", exported)
    assert result.exit_code == 0, result.output
    inputs = _images(tmp_path / "in", [(64, 64), (70, 100), (150, 90)])
    outputs = {}
    for name, checkpoint in (("torch", path), ("onnx", exported)):
        result = invoke("translate", inputs, "--checkpoint", checkpoint, "--out-dir", tmp_path / name, "--tile", 128,
                        "--device", "cpu", "--quiet")  # --tile 128: the 150 px image goes through the tiling too
        assert result.exit_code == 0, result.output
        outputs[name] = [np.asarray(Image.open(tmp_path / name / f"{i}.png"), dtype=int) for i in range(3)]
    for ours, theirs in zip(outputs["torch"], outputs["onnx"]):
        assert ours.shape == theirs.shape and np.abs(ours - theirs).max() <= 1  # one 8-bit rounding step
    translator = load_translator(exported)
    assert translator.config.model.generator == "unet_64" and translator.multiple == 64
    assert not translator.one_per_batch  # running statistics: batches of any size


def test_export_and_onnx_translate_errors(tmp_path):
    path, _ = _checkpoint(tmp_path, "cyclegan", ["model.generator=resnet_6blocks", "data.image_size=32"])
    cases = [
        (["export", path, "--format", "onnx", "--out", tmp_path / "model.bin"], "name the file \\*.onnx"),
        (["export", path, "--direction", "b2a", "--out", tmp_path / "folder"], "--direction choose the network"),
        (["export", path, "--format", "torchscript", "--out", tmp_path], "is a folder"),
    ]
    for args, message in cases:
        result = invoke(*args)
        assert result.exit_code != 0 and message.replace("\\", "") in result.output, result.output
    exported = tmp_path / "b2a.onnx"
    assert invoke("export", path, "--format", "onnx", "--direction", "b2a", "--out", exported).exit_code == 0
    result = invoke("export", path, "--format", "onnx", "--out", exported)
    assert "exists; pass --overwrite" in result.output
    with pytest.raises(GantoolError, match="translates b2a only"):
        load_translator(exported, direction="a2b")
    with pytest.raises(GantoolError, match="dropout off"):
        load_translator(exported, dropout=True)
    with pytest.raises(GantoolError, match="fp32"):
        load_translator(exported, precision="bf16")
    result = invoke("export", exported, "--out", tmp_path / "again")
    assert "is an ONNX export, which only gantool translate runs" in result.output
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(GantoolError, match="not a readable ONNX model"):
        load_translator(tmp_path / "bad.onnx")
