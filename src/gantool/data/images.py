"""Reading image files into arrays: EXIF orientation, mode conversion, clear errors."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from gantool.errors import GantoolError

log = logging.getLogger("gantool")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm")


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def files_below(folder: Path, recursive: bool = True, skip: str | Path | None = None) -> list[Path]:
    """Regular files under `folder` (and in its subfolders when `recursive`), sorted, hidden files
    and folders left out. Symbolic links to folders are followed, as a user who links a folder
    of images in expects; each real folder is read once, so a link back up the tree ends the
    walk instead of looping. A subfolder that is `skip` is not searched (the folder itself is)."""
    folder = Path(folder)
    if not recursive:
        return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.is_file())
    skipped = os.path.realpath(skip) if skip is not None else None
    root = os.path.realpath(folder)
    seen: set[str] = set()
    found: list[Path] = []
    for top, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(top)
        # a link to a folder above the root holds the root again: the walk would cover all of it
        above = top != str(folder) and root.startswith(real.rstrip(os.sep) + os.sep)
        if real in seen or above or (real == skipped and top != str(folder)):
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(top) / name for name in files if not name.startswith(".")]
    return sorted(p for p in found if p.is_file())


def list_images(folder: Path, recursive: bool = True) -> list[Path]:
    """Image files under `folder`, sorted; hidden files and folders are skipped, symbolic links
    to folders followed (see `files_below`)."""
    return [p for p in files_below(folder, recursive) if p.suffix.lower() in IMAGE_SUFFIXES]


def _upright(img: Image.Image) -> Image.Image:
    """The decoded image turned upright per its EXIF orientation. A broken EXIF block (cameras and
    editors write them) is ignored: the pixels are fine, so the image is used as stored."""
    try:
        img.getexif()
    except (SyntaxError, ValueError, TypeError, IndexError, OSError):
        img.load()
        return img
    return ImageOps.exif_transpose(img)


def unreadable_reason(path: Path) -> str | None:
    """Why `path` cannot be used as an image (empty, truncated, not an image), or None when it
    decodes completely."""
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        with Image.open(path) as img:
            _upright(img)  # a full decode, as in load_image: a truncated file fails here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        return str(err) or type(err).__name__
    return None


@dataclass
class FolderScan:
    """What a folder holds: usable images, image files that cannot be decoded, other files."""

    folder: Path
    images: list[Path] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)

    def problems(self) -> str:
        """One line on what would be skipped, or "" when nothing."""
        parts = []
        if self.unreadable:
            path, reason = self.unreadable[0]
            parts.append(f"{len(self.unreadable)} unreadable image file(s) skipped (e.g. {path}: {reason})")
        if self.ignored:
            parts.append(f"{len(self.ignored)} non-image file(s) ignored (e.g. {self.ignored[0].name})")
        return "; ".join(parts)


def scan_folder(folder: Path, recursive: bool = True, decode: bool = True, skip: str | Path | None = None
                ) -> FolderScan:
    """Sort the files below `folder` into readable images, unreadable ones and non-images (hidden
    files and folders are left out, see `files_below` for links and `skip`). `decode` fully
    decodes each image, in threads."""
    folder = Path(folder)
    files = files_below(folder, recursive, skip)
    scan = FolderScan(folder)
    candidates = []
    for path in files:
        (candidates if path.suffix.lower() in IMAGE_SUFFIXES else scan.ignored).append(path)
    if decode:
        with ThreadPoolExecutor(max_workers=4) as pool:  # PIL releases the GIL while decoding
            reasons = list(pool.map(unreadable_reason, candidates))
    else:
        reasons = [None] * len(candidates)
    for path, reason in zip(candidates, reasons):
        if reason is None:
            scan.images.append(path)
        else:
            scan.unreadable.append((path, reason))
    return scan


def readable_images(folder: Path, what: str, strict: bool = False, recursive: bool = True,
                    skip: str | Path | None = None) -> list[Path]:
    """The decodable images below `folder` ("what" names it in messages; a subfolder `skip` is
    not searched). Unreadable files are skipped with a warning, or are an error when `strict`;
    none left is an error."""
    scan = scan_folder(folder, recursive=recursive, skip=skip)
    if scan.unreadable and strict:
        path, reason = scan.unreadable[0]
        raise GantoolError(f"{what} {folder}: {len(scan.unreadable)} unreadable image file(s), e.g. {path}: "
                           f"{reason}. Remove or re-save them, or train without --strict to skip them")
    if not scan.images:
        found = f" ({scan.problems()})" if scan.problems() else ""
        where = " (subfolders are searched)" if recursive else ""
        raise GantoolError(f"{what} {folder} holds no readable images{found}; images are "
                           f"{', '.join(IMAGE_SUFFIXES[:4])}, ... files{where}")
    if scan.problems():
        log.warning("%s %s: %s", what, folder, scan.problems())
    return scan.images


def load_image(path: Path, channels: int) -> np.ndarray:
    """HxWxC uint8 array with `channels` (1 or 3), upright per EXIF, alpha composited on white."""
    try:
        with Image.open(path) as img:
            img = _upright(img)
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grayscale: 0..65535 -> 0..255
                array = np.asarray(img, dtype=np.float64)
                img = Image.fromarray(np.clip(np.rint(array / 257.0), 0, 255).astype(np.uint8))
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(white, rgba)
            img = img.convert("L" if channels == 1 else "RGB")
            array = np.array(img, dtype=np.uint8)  # a writable copy
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
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
