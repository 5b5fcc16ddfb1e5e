"""Checkpoints: the full training state, written atomically, loaded without running code.

A checkpoint is a `torch.save`d dict of tensors, numbers, strings and lists only, so it loads
with `torch.load(weights_only=True)`: a file from a stranger cannot execute anything. It holds
the networks (and a recipe's auxiliary modules), the EMA generator, optimizers, grad scalers,
step counters, the data position, all RNG states, the resolved config and the gantool version,
so `--resume` continues exactly and inference needs nothing else.

`export_generator` writes just the (EMA) generator as safetensors plus a JSON config.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gantool import __version__
from gantool.errors import GantoolError

FORMAT = "gantool-checkpoint"
FORMAT_VERSION = 1
EXPORT_WEIGHTS = "generator.safetensors"
EXPORT_CONFIG = "generator.json"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Any, size_hint: int | None = None) -> None:
    """Call `write(file_object)` on a temp file beside `path`, fsync, then rename over `path`.

    A crash at any moment leaves either the old file or the new one, never a partial file. With
    `size_hint` (bytes the file will take) a disk that clearly cannot hold it is refused before
    anything is written; a disk that fills during the write is a DiskFullError either way.
    """
    from gantool.storage import DiskFullError, check_space, free_bytes, is_disk_full, new_file_mode

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if size_hint is not None:
        check_space(path, size_hint)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), new_file_mode())  # mkstemp's 0600 survives the rename: use open()'s mode
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        written = os.path.getsize(tmp) if os.path.exists(tmp) else 0
        try:
            os.unlink(tmp)
        except OSError:
            pass
        needed = max(size_hint or 0, written + 1)
        if not isinstance(err, DiskFullError) and isinstance(err, Exception) and is_disk_full(err, path.parent, needed):
            raise DiskFullError(path, needed, free_bytes(path.parent)) from None
        raise
    _fsync_dir(path.parent)


def last_complete_checkpoint(folder: Path) -> Path | None:
    """latest.pt, else the newest step_*.pt, of a checkpoints folder (None when there is none)."""
    if (folder / "latest.pt").is_file():
        return folder / "latest.pt"
    periodic = sorted(folder.glob("step_*.pt"))
    return periodic[-1] if periodic else None


def save_checkpoint(state: dict[str, Any], path: Path, keep_hint: int | None = None) -> None:
    """Write `state` atomically. A disk too small for it (checked first, from the tensors' sizes)
    or filling during the write is one line that names the device, the sizes, the last complete
    checkpoint and what to do (`keep_hint`: how many periodic checkpoints the run keeps now)."""
    from gantool.storage import MARGIN, DiskFullError, tensor_bytes

    state = {"format": FORMAT, "format_version": FORMAT_VERSION, "gantool_version": __version__, **state}
    path = Path(path)
    try:
        atomic_write(path, lambda f: torch.save(state, f), size_hint=tensor_bytes(state) + MARGIN)
    except DiskFullError as err:
        last = last_complete_checkpoint(path.parent)
        keep = f"{max(0, keep_hint - 1)}" if keep_hint else "1"
        if last is None:
            advice = ("the last complete checkpoint is none yet; free space, or put the run on a larger disk "
                      "with --out")
        else:
            advice = (f"the last complete checkpoint is {last}; free space or set --set train.keep_checkpoints={keep} "
                      "(with --resume RUN to continue)")
        raise DiskFullError(err.path, err.needed, err.free, advice) from None
    except OSError as err:
        raise GantoolError(f"could not write checkpoint {path}: {err}; the previous checkpoint is intact") from None


def link_or_copy(source: Path, target: Path) -> None:
    """Make `target` hold the same bytes as `source`, atomically (a hard link when possible)."""
    tmp = target.with_name(f".{target.name}.link.tmp")
    try:
        tmp.unlink(missing_ok=True)
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def resolve_checkpoint_path(path: str | Path) -> Path:
    """A checkpoint file, or a run folder (its checkpoints/latest.pt)."""
    path = Path(path).expanduser()
    if path.is_dir():
        for candidate in (path / "checkpoints" / "latest.pt", path / "latest.pt"):
            if candidate.is_file():
                return candidate
        raise GantoolError(f"{path} is a folder without checkpoints/latest.pt: pass a run folder or a .pt file")
    if not path.is_file():
        from gantool.safe_paths import what_is

        raise GantoolError(f"checkpoint {path} {what_is(path)}")
    return path


def load_checkpoint(path: str | Path, map_location: Any = "cpu", recipe: str | None = None) -> dict[str, Any]:
    """Load and check a checkpoint; never unpickles arbitrary objects."""
    path = resolve_checkpoint_path(path)
    if path.suffix.lower() == ".onnx":
        raise GantoolError(f"{path} is an ONNX export, which only gantool translate runs; give the gantool checkpoint "
                           "it was exported from")
    from gantool.untrusted import (CHECKPOINT_LIMITS, CONFIG_LIMITS, check_size, refused_for_code, torch_load_reason,
                                   unsafe_file_message)

    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, random bytes, pickle with code: the last needs its own advice
        if refused_for_code(err, path):
            raise GantoolError(unsafe_file_message(path, "use a checkpoint from a source you trust; gantool's own "
                                                         "checkpoints hold only tensors and plain data")) from None
        raise GantoolError(
            f"{path} is not a loadable gantool checkpoint (truncated, corrupt, or not made by gantool; "
            f"only tensors and plain data are accepted): {torch_load_reason(err)}"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise GantoolError(f"{path} is not a gantool checkpoint (no '{FORMAT}' marker)")
    # the pickle memo lets a small file hold a structure of any size: measure before anything walks it
    check_size(state, f"checkpoint {path}", **CHECKPOINT_LIMITS)
    check_size(state.get("config"), f"checkpoint {path}: its config", **CONFIG_LIMITS)
    version, written_by = state.get("format_version", 0), state.get("gantool_version")
    if not isinstance(version, int):
        raise GantoolError(f"{path} is not a gantool checkpoint (its format version is not a number)")
    if version > FORMAT_VERSION:
        written_by = written_by if isinstance(written_by, str) and len(written_by) <= 40 else "an unknown version"
        raise GantoolError(
            f"{path} was written by gantool {written_by} in a newer checkpoint format "
            f"({version if version < 1000 else 'unknown'}); upgrade gantool to read it"
        )
    if any(key in state and not isinstance(state[key], kind) for key, kind in (("recipe", str), ("config", dict),
                                                                               ("meta", dict))):
        raise GantoolError(f"{path} is not a gantool checkpoint (its recipe, config or metadata is not of the kind "
                           "gantool writes)")
    if recipe is not None and state.get("recipe") != recipe:
        raise GantoolError(f"{path} is a {str(state.get('recipe'))[:40]!r} checkpoint, not {recipe!r}")
    return state


def capture_rng() -> dict[str, Any]:
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "python": {"version": py_state[0], "state": torch.tensor(py_state[1], dtype=torch.int64),
                   "gauss": py_state[2]},
    }


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss"]))


def export_generator(checkpoint: str | Path, out_dir: str | Path, use_ema: bool = True) -> Path:
    """Write the generator(s) as `generator.safetensors` + `generator.json` (config and metadata)."""
    state = load_checkpoint(checkpoint)
    weights = state["ema"] if use_ema and state.get("ema") is not None else state["generators"]
    return write_generator_folder(out_dir, weights, state["recipe"], state["config"], state["meta"], state["step"],
                                  ema=weights is state.get("ema"))


def write_generator_folder(out_dir: str | Path, weights: dict[str, Any], recipe: str, config: dict[str, Any],
                           meta: dict[str, Any], step: int, ema: bool = False) -> Path:
    """An exported generator folder from generator weights (a state dict of the recipe's generators)
    and the run's config as a plain dict: what `load_generator_state` reads back."""
    from safetensors.torch import save as safetensors_bytes

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = safetensors_bytes({k: v.contiguous() for k, v in weights.items()})
    atomic_write(out_dir / EXPORT_WEIGHTS, lambda f: f.write(data), size_hint=len(data))
    info = {"format": "gantool-generator", "gantool_version": __version__, "recipe": recipe,
            "config": config, "meta": meta, "step": step, "ema": ema}
    text = json.dumps(info, indent=2).encode()
    atomic_write(out_dir / EXPORT_CONFIG, lambda f: f.write(text), size_hint=len(text))
    return out_dir


def load_generator_state(path: str | Path, use_ema: bool = True) -> dict[str, Any]:
    """{"recipe", "config", "meta", "weights"} from a checkpoint or an exported generator folder.

    From a checkpoint, `weights` are the EMA generator weights when the run kept an EMA (and
    `use_ema`); an exported folder holds one set of weights, chosen at export.
    """
    path = Path(path).expanduser()
    if path.is_dir() and (path / EXPORT_CONFIG).is_file():
        from safetensors.torch import load_file

        try:
            info = json.loads((path / EXPORT_CONFIG).read_text())
            weights = load_file(str(path / EXPORT_WEIGHTS))
        except (OSError, ValueError) as err:
            raise GantoolError(f"{path} is not a readable exported generator: {err}") from None
        expected = {"recipe": str, "config": dict, "meta": dict}
        missing = [key for key, kind in expected.items()
                   if not isinstance(info, dict) or not isinstance(info.get(key), kind)]
        if missing:
            raise GantoolError(f"{path / EXPORT_CONFIG} lacks a valid {', '.join(repr(k) for k in missing)}: it is not "
                               "a complete gantool export; export the checkpoint again with gantool export")
        return {"recipe": info["recipe"], "config": info["config"], "meta": info["meta"], "weights": weights}
    state = load_checkpoint(path)
    weights = state["ema"] if use_ema and state.get("ema") is not None else state["generators"]
    return {"recipe": state["recipe"], "config": state["config"], "meta": state["meta"], "weights": weights}
