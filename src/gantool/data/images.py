"""Reading image files into arrays: EXIF orientation, mode conversion, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from gantool.errors import GantoolError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm")


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: Path, recursive: bool = True) -> list[Path]:
    """Image files under `folder`, sorted; hidden files and folders are skipped."""
    pattern = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p for p in pattern
        if is_image_file(p) and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def load_image(path: Path, channels: int) -> np.ndarray:
    """HxWxC uint8 array with `channels` (1 or 3), upright per EXIF, alpha composited on white."""
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                array = np.asarray(img, dtype=np.float64)
                img = Image.fromarray((array / max(array.max(), 1.0) * 255).astype(np.uint8))
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(white, rgba)
            img = img.convert("L" if channels == 1 else "RGB")
            array = np.array(img, dtype=np.uint8)  # a writable copy
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise GantoolError(f"cannot read image {path}: {err}") from None
    return array[:, :, None] if array.ndim == 2 else array


def to_unit_range(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 in [0, 255] -> float in [-1, 1], the range every network here works in."""
    return images_uint8.float().div_(127.5).sub_(1.0)


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """HxW or HxWxC uint8 array -> (C, H, W) float tensor in [-1, 1]."""
    array = array[:, :, None] if array.ndim == 2 else array
    return to_unit_range(torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1))


def load_tensor(path: Path, channels: int) -> torch.Tensor:
    """An image file as a (1, C, H, W) batch in [-1, 1]."""
    return to_tensor(load_image(path, channels))[None]
