"""TorchScript export of a generator: `torch.jit.trace`, loadable by `torch.jit.load` in Python
and by LibTorch in C++ without gantool.

Tracing records the tensor operations; the networks' shapes are read as traced sizes, so the
result takes any batch and any height and width (multiples of the size multiple): the tests
check outputs at sizes other than the traced one. The Python-side size checks in `forward` are
not recorded (torch warns about that; the description in the file says what sizes work). The
description travels inside the archive as the extra file `gantool.json`.

(torch.jit is deprecated in favour of torch.export, whose archives need Python torch to load;
TorchScript remains what C++ deployments read, so this format stays TorchScript.)
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gantool.errors import GantoolError
from gantool.interop.deploy import Deployable

EXTRA_FILE = "gantool.json"


def trace(deployable: Deployable) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings of the size checks; torch.jit's deprecation notice
        return torch.jit.trace(deployable.module, deployable.example_inputs, check_trace=False)


def write_torchscript(deployable: Deployable, path: str | Path) -> Path:
    """Write `deployable` as a TorchScript archive with its description, atomically."""
    from gantool.checkpoint import atomic_write
    from gantool.storage import tensor_bytes

    traced = trace(deployable)
    extra = {EXTRA_FILE: json.dumps(deployable.info)}
    path = Path(path)

    def write(f: Any) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.jit.save(traced, f, _extra_files=extra)

    atomic_write(path, write, size_hint=tensor_bytes(deployable.module.state_dict()))
    return path


def load_torchscript(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """(the traced module, its gantool description) of an exported TorchScript file."""
    extra = {EXTRA_FILE: ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    except Exception as err:  # noqa: BLE001  (not a zip, not TorchScript, truncated: one line for all)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise GantoolError(f"{path} is not a readable TorchScript file: {first[:200]}") from None
    if not extra[EXTRA_FILE]:
        raise GantoolError(f"{path} was not exported by gantool (no {EXTRA_FILE} inside)")
    return module, json.loads(extra[EXTRA_FILE])
