"""Small helpers shared by training and inference."""

from __future__ import annotations

import io
from pathlib import Path

import torch
from torch import Tensor
from torchvision.utils import make_grid

from gantool.checkpoint import atomic_write


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
    grid = make_grid(images.detach().float().cpu(), nrow=per_row, padding=padding, pad_value=1.0)
    if images.shape[1] == 1:
        grid = grid[:1]
    save_png(to_uint8(grid.unsqueeze(0))[0], path)
