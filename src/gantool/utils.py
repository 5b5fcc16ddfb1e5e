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


def to_uint8(images: Tensor) -> Tensor:
    """[-1, 1] float (B, C, H, W) -> uint8 (B, H, W, C) on the CPU."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu()


def save_png(image_hwc: Tensor, path: Path) -> None:
    from PIL import Image

    array = image_hwc.numpy()
    pil = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    atomic_write(Path(path), lambda f: f.write(buffer.getvalue()))


def save_image_grid(images: Tensor, path: Path, per_row: int, padding: int = 2) -> None:
    """Write images in [-1, 1] as one PNG grid with `per_row` images per row."""
    from torchvision.utils import make_grid  # on use: importing torchvision takes 1.4 s

    grid = make_grid(images.detach().float().cpu(), nrow=per_row, padding=padding, pad_value=1.0)
    if images.shape[1] == 1:
        grid = grid[:1]
    save_png(to_uint8(grid.unsqueeze(0))[0], path)


def require_writable_folder(folder: Path, option: str) -> None:
    """An error now, before any work, when `folder` cannot be created or written to."""
    existing = Path(folder).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    problem = "is not a folder" if not existing.is_dir() else (
        "is not writable" if not os.access(existing, os.W_OK | os.X_OK) else "")
    if problem:
        raise GantoolError(f"cannot write to {option} {folder}: {existing} {problem}; choose another {option}")


def plan_outputs(inputs: list[tuple[Path, Path]], out_dir: Path, overwrite: bool, option: str = "--out-dir",
                 protected: Iterable[Path] = ()) -> list[tuple[Path, Path]]:
    """(input, output .png) for (input, path relative to `out_dir`) items. Refuses, before anything
    is written, to overwrite any input (or a `protected` file), to write two inputs to one output,
    or (without `overwrite`) to replace an existing file; `option` names the flag to change."""
    require_writable_folder(out_dir, option)
    sources = {p.resolve() for p, _ in inputs} | {Path(p).resolve() for p in protected}
    plan, seen = [], {}
    for source, relative in inputs:
        target = out_dir / relative.with_suffix(".png")
        resolved = target.resolve()
        if resolved in sources:
            raise GantoolError(f"output {target} would overwrite the input {source}; choose another {option}")
        if resolved in seen:
            raise GantoolError(f"{source} and {seen[resolved]} would both be written to {target}; rename one")
        if target.exists() and not overwrite:
            raise GantoolError(f"{target} exists; pass --overwrite to replace it or choose another {option}")
        seen[resolved] = source
        plan.append((source, target))
    return plan
