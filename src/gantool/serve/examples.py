"""Example inputs for the Translate tab: a few images from the data a model was trained on
(its validation folder first), when that data is on this machine. Files are listed, not decoded,
so a large dataset does not slow the page's start; side-by-side pairs are cut to the input half.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gantool.data.images import list_images
from gantool.errors import GantoolError
from gantool.serve.models import ServedModel


def example_inputs(model: ServedModel, folder: Path, limit: int = 2) -> list[tuple[Path, str]]:
    """(image in `folder`, direction) for up to `limit` inputs per direction of `model`; [] when
    its data is not here."""
    if not model.translators:
        return []
    cfg = next(iter(model.translators.values())).config
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if cfg.recipe == "pix2pix":
            return [(path, "a2b") for path in _paired_inputs(cfg.data, folder, limit, model.name)]
        found = []
        for direction, source in _unpaired_folders(cfg.data).items():
            if direction in model.translators:
                found += [(_copy(path, folder, f"{model.name}-{direction}"), direction)
                          for path in list_images(source)[:limit]]
        return found
    except (GantoolError, OSError, ValueError):  # data moved, unreadable, or not in a layout we know
        return []


def _paired_inputs(data: Any, folder: Path, limit: int, name: str) -> list[Path]:
    from PIL import Image

    root = Path(data.val or data.root or "").expanduser()
    side = "B" if data.direction == "BtoA" else "A"
    if (root / side).is_dir():
        return [_copy(path, folder, name) for path in list_images(root / side)[:limit]]
    inputs = []
    for path in list_images(root)[:limit]:
        with Image.open(path) as image:
            half = image.width // 2
            crop = image.crop((half, 0, 2 * half, image.height) if side == "B" else (0, 0, half, image.height))
            target = folder / f"{_safe(name)}-{path.stem}.png"
            crop.save(target)
        inputs.append(target)
    return inputs


def _unpaired_folders(data: Any) -> dict[str, Path]:
    from gantool.data.unpaired import domain_folders

    if data.root and data.root_b:
        return {"a2b": Path(data.root).expanduser(), "b2a": Path(data.root_b).expanduser()}
    roots = [data.val, data.root] if data.val else [data.root]
    for root in filter(None, roots):
        for split in ("test", "train"):
            try:
                folder_a, folder_b = domain_folders(root, split)
            except GantoolError:
                continue
            return {"a2b": folder_a, "b2a": folder_b}
    return {}


def _copy(path: Path, folder: Path, name: str) -> Path:
    """A copy beside the page's files (Gradio serves files from its own folders only)."""
    target = folder / f"{_safe(name)}-{path.name}"
    target.write_bytes(path.read_bytes())
    return target


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
