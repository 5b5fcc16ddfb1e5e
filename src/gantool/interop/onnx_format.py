"""ONNX export of a generator, and running an exported file with ONNX Runtime.

The export goes through `torch.export` (torch.onnx's dynamo exporter), with batch, height and
width left free; height and width are declared as multiples of the network's size multiple,
which is what lets the size checks in the networks' `forward` pass export instead of pinning the
example's size. The file's metadata (`metadata_props`) holds the whole description under the
key "gantool" as JSON, and its main facts (channels, value range, size multiple, direction,
batch-norm statistics) as keys of their own, readable with any ONNX tool.

`OnnxNetwork` is the runtime side: called with torch tensors like the module it came from, so
`gantool translate` runs a file through the very same padding and tiling as a checkpoint.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gantool.errors import GantoolError
from gantool.interop.deploy import Deployable

OPSET = 18
METADATA_KEY = "gantool"
SHOWN_KEYS = ("recipe", "task", "direction", "in_channels", "out_channels", "channels", "image_size", "z_dim",
              "num_classes", "size_multiple", "value_range", "bn_stats", "dropout", "gantool_version")


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise GantoolError(f"ONNX needs the {module} package: pip install 'gantool[onnx]'") from None


def onnx_bytes(deployable: Deployable, opset: int = OPSET) -> bytes:
    """The serialized ONNX model of `deployable`, its description in the metadata."""
    _require("onnx")
    _require("onnxscript")  # torch's ONNX exporter is written with it
    from torch.export import Dim

    dims: dict[str, Any] = {}

    def dim(name: str, multiple: int) -> Any:
        if name not in dims:  # one Dim object per name: every input shares the batch
            dims[name] = Dim(name, min=1) if multiple == 1 else multiple * Dim(f"{name}_in_{multiple}s", min=1)
        return dims[name]

    shapes = tuple({axis: dim(name, multiple) for axis, (name, multiple) in free.items()}
                   for free in deployable.free_dims)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's notes on its own internals
            program = torch.onnx.export(deployable.module, deployable.example_inputs, dynamo=True, verbose=False,
                                        input_names=deployable.input_names, output_names=[deployable.output_name],
                                        dynamic_shapes=shapes, opset_version=opset)
    except Exception as err:  # noqa: BLE001  (the exporter's errors run to pages)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise GantoolError(f"the ONNX export failed: {first[:300]} (run with --debug for the whole report)") from err
    model = program.model_proto
    info = deployable.info
    model.doc_string = _summary(info)
    props = {METADATA_KEY: json.dumps(info)}
    props.update({key: json.dumps(info[key]) if not isinstance(info[key], str) else info[key]
                  for key in SHOWN_KEYS if info.get(key) is not None})
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model.SerializeToString()


def _summary(info: dict[str, Any]) -> str:
    if info.get("task") == "translation":
        return (f"gantool {info.get('recipe')} generator ({info.get('direction', 'a2b')}): image "
                f"(batch, {info['in_channels']}, H, W) in [-1, 1], H and W multiples of {info['size_multiple']} -> "
                f"(batch, {info['out_channels']}, H, W) in [-1, 1]; batch norm: {info['bn_stats']}, dropout off")
    return (f"gantool {info.get('recipe')} generator: {', '.join(info['inputs'])} -> image "
            f"(batch, {info.get('channels')}, {info.get('image_size')}, {info.get('image_size')}) in [-1, 1]")


def write_onnx(deployable: Deployable, path: str | Path, opset: int = OPSET) -> Path:
    """Write `deployable` as an ONNX file, atomically."""
    from gantool.checkpoint import atomic_write

    data = onnx_bytes(deployable, opset)
    path = Path(path)
    atomic_write(path, lambda f: f.write(data), size_hint=len(data))
    return path


def read_info(session: Any, path: str | Path) -> dict[str, Any]:
    """The gantool description stored in an ONNX Runtime session's model."""
    found = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    if found is None:
        raise GantoolError(f"{path} was not exported by gantool (no '{METADATA_KEY}' metadata); export it with "
                           "gantool export CKPT --format onnx")
    try:
        return json.loads(found)
    except ValueError:
        raise GantoolError(f"{path}: its '{METADATA_KEY}' metadata is not JSON (the file was changed)") from None


def providers_for(device: str | torch.device) -> tuple[list[str], torch.device]:
    """ONNX Runtime execution providers for a device name ("auto": CUDA when ONNX Runtime has it)."""
    ort = _require("onnxruntime")
    available = ort.get_available_providers()
    name = str(device)
    if name == "auto":
        name = "cuda" if "CUDAExecutionProvider" in available and torch.cuda.is_available() else "cpu"
    chosen = torch.device(name)
    if chosen.type == "cpu":
        return ["CPUExecutionProvider"], chosen
    if chosen.type == "cuda" and "CUDAExecutionProvider" in available:
        return [("CUDAExecutionProvider", {"device_id": chosen.index or 0}), "CPUExecutionProvider"], chosen
    raise GantoolError(f"ONNX Runtime here cannot run on {name} (its providers: {', '.join(available)}); use --device "
                       "cpu, or install onnxruntime-gpu for CUDA")


class OnnxNetwork:
    """An exported generator in an ONNX Runtime session, called like the torch module."""

    def __init__(self, path: str | Path, device: str | torch.device = "cpu") -> None:
        ort = _require("onnxruntime")
        providers, self.device = providers_for(device)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # the same threads torch would use
        options.log_severity_level = 3  # errors only: its warnings about unused initializers are noise
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as err:  # noqa: BLE001  (InvalidProtobuf, NoSuchFile, ...: one line for all)
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise GantoolError(f"{path} is not a readable ONNX model: {first[:200]}") from None
        self.info = read_info(self.session, path)
        # batch norm from each batch's statistics: one image per call gives per-image results
        self.one_per_batch = self.info.get("bn_stats") == "batch"
        self.input_names = [arg.name for arg in self.session.get_inputs()]

    def __call__(self, *inputs: Tensor) -> Tensor:
        feeds = {name: tensor.detach().cpu().contiguous().numpy() for name, tensor in zip(self.input_names, inputs)}
        output = self.session.run(None, feeds)[0]
        return torch.from_numpy(output).to(self.device)


def load_onnx_translator(path: str | Path, device: str | torch.device = "cpu", dropout: bool = False,
                         bn_stats: str = "auto", tile: int = 1024, direction: str | None = None,
                         precision: str = "fp32", channels_last: bool = False) -> Any:
    """A `translate.Translator` whose network is an ONNX file; options that the export fixed must
    agree with it (or be left at their defaults)."""
    from gantool.config import Config
    from gantool.translate import Translator

    if precision not in ("fp32", "auto"):
        raise GantoolError(f"--precision {precision}: an ONNX file runs in the fp32 it was exported in; use fp32")
    if channels_last:
        raise GantoolError("--channels-last is a torch memory layout; ONNX Runtime chooses its own: leave it out")
    network = OnnxNetwork(path, device)
    info = network.info
    if info.get("task") != "translation":
        raise GantoolError(f"{path} holds a {info.get('recipe')!r} generator that draws images from noise; "
                           "translate needs a pix2pix or cyclegan export")
    if dropout:
        raise GantoolError(f"{path} was exported with dropout off; test-time dropout needs the checkpoint")
    if direction is not None and direction != info["direction"]:
        raise GantoolError(f"{path} translates {info['direction']} only; export the {direction} generator with "
                           f"gantool export CKPT --format onnx --direction {direction}")
    exported = info["bn_stats"]
    if bn_stats not in ("auto", exported) and exported != "none":
        raise GantoolError(f"{path} was exported with --bn-stats {exported}; re-export with --bn-stats {bn_stats} "
                           "for the other choice")
    return Translator(network, int(info["in_channels"]), int(info["out_channels"]), int(info["size_multiple"]),
                      network.device, Config.from_dict(info["config"]), tile=tile)
