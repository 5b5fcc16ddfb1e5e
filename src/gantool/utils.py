"""Small helpers shared by training and inference."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Iterable

import torch
from torch import Tensor

from gantool.checkpoint import atomic_write
from gantool.errors import GantoolError
from gantool.safe_paths import inside


def to_uint8(images: Tensor) -> Tensor:
    """[-1, 1] float (B, C, H, W) -> uint8 (B, H, W, C) on the CPU."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu()


def save_png(image_hwc: Tensor, path: Path) -> None:
    from PIL import Image

    array = image_hwc.numpy()
    pil = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    data = buffer.getvalue()
    atomic_write(Path(path), lambda f: f.write(data), size_hint=len(data))


def image_grid(images: Tensor, per_row: int, padding: int = 2) -> Tensor:
    """Images in [-1, 1] (B, C, H, W) as one (C, H', W') grid with `per_row` images per row."""
    from torchvision.utils import make_grid  # on use: importing torchvision takes 1.4 s

    grid = make_grid(images.detach().float().cpu(), nrow=per_row, padding=padding, pad_value=1.0)
    return grid[:1] if images.shape[1] == 1 else grid


def save_image_grid(images: Tensor, path: Path, per_row: int, padding: int = 2) -> None:
    """Write images in [-1, 1] as one PNG grid with `per_row` images per row."""
    save_png(to_uint8(image_grid(images, per_row, padding).unsqueeze(0))[0], path)


def require_writable_folder(folder: Path, option: str) -> None:
    """An error now, before any work, when `folder` cannot be created or written to."""
    existing = Path(folder).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    problem = "is not a folder" if not existing.is_dir() else (
        "is not writable" if not os.access(existing, os.W_OK | os.X_OK) else "")
    if problem:
        raise GantoolError(f"cannot write to {option} {folder}: {existing} {problem}; choose another {option}")


def decodes(path: Path) -> bool:
    """Whether `path` is a complete image file (fully decoded, not just its header)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
        return True
    except Exception:  # noqa: BLE001  (truncated, corrupt, not an image: all mean "redo it")
        return False


def plan_outputs(inputs: list[tuple[Path, Path]], out_dir: Path, overwrite: bool, option: str = "--out-dir",
                 protected: Iterable[Path] = (), skip_existing: bool | None = None) -> list[tuple[Path, Path]]:
    """(input, output .png) for (input, path relative to `out_dir`) items. Refuses, before anything
    is written, to overwrite any input (or a `protected` file), to write two inputs to one output,
    or (without `overwrite` or `skip_existing`) to replace an existing file; `option` names the flag
    to change. With `skip_existing`, items whose output exists and decodes are left out (an output
    that does not decode is made again); None: the caller has no such option. Once the plan stands,
    temp files that writes cut short by a kill left beside the outputs are removed."""
    if overwrite and skip_existing:
        raise GantoolError("give --overwrite (replace existing outputs) or --skip-existing (keep them), not both")
    require_writable_folder(out_dir, option)
    sources = {p.resolve() for p, _ in inputs} | {Path(p).resolve() for p in protected}
    plan, seen, targets = [], {}, []
    for source, relative in inputs:
        target = inside(out_dir, out_dir / relative.with_suffix(".png"), option)  # no link may lead it elsewhere
        resolved = target.resolve()
        if resolved in sources:
            raise GantoolError(f"output {target} would overwrite the input {source}; choose another {option}")
        if resolved in seen:
            raise GantoolError(f"{source} and {seen[resolved]} would both be written to {target}; rename one")
        seen[resolved] = source
        targets.append(target)
        if target.exists() and not overwrite:
            if skip_existing is None:
                raise GantoolError(f"{target} exists; pass --overwrite to replace it or choose another {option}")
            if not skip_existing:
                raise GantoolError(f"{target} exists; pass --skip-existing to keep the outputs already there and "
                                   f"translate the rest, --overwrite to replace them, or choose another {option}")
            if decodes(target):
                continue
        plan.append((source, target))
    for target in targets:
        for stale in target.parent.glob(f".{target.name}.*.tmp"):  # atomic_write's temp-file names
            stale.unlink(missing_ok=True)
    return plan
