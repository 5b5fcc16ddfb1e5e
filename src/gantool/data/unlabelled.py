"""Images without labels, for unconditional training (the `gan` recipe).

A folder is searched recursively, so class subfolders simply pool their images. Each image is
resized so its shorter side is the training size, then centre-cropped to a square: any sizes and
aspect ratios train together. Images smaller than the training size would have to be enlarged
(blurred), so they are skipped with a warning, or are an error with `strict`. MNIST and the
built-in digits are used with their labels dropped. `blur` smooths the training images only
(a Gaussian of that sigma in pixels); held-out images stay as they are.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from gantool.config import DataConfig
from gantool.data.digits import load_builtin_digits, load_mnist
from gantool.data.images import load_image, readable_images, to_tensor
from gantool.data.labelled import TensorClassDataset
from gantool.errors import GantoolError
from gantool.safe_paths import what_is

log = logging.getLogger("gantool")

SOURCES = ("digits", "mnist", "folder")


def large_enough(files: list[Path], size: int, folder: Path, strict: bool) -> list[Path]:
    """The files whose shorter side is at least `size` (read from the headers). Smaller ones are
    skipped with a warning, or are an error when `strict`; none left is an error."""
    sizes = []
    for path in files:
        with Image.open(path) as img:
            sizes.append(img.size)
    kept = [path for path, (w, h) in zip(files, sizes) if min(w, h) >= size]
    small = [(path, w, h) for path, (w, h) in zip(files, sizes) if min(w, h) < size]
    if small and (strict or not kept):
        path, w, h = small[0]
        largest = max(min(w, h) for w, h in sizes)
        what = "all" if not kept else f"{len(small)} of"
        raise GantoolError(f"{folder}: {what} {len(files)} images are smaller than --size {size} (e.g. {path}: "
                           f"{w}x{h} px), and would have to be enlarged; use --size {largest} or less, or remove them"
                           + ("" if not kept else " (or train without --strict to skip them)"))
    if small:
        log.warning("%s: %d image(s) smaller than --size %d skipped (e.g. %s: %dx%d px)", folder, len(small), size,
                    small[0][0], small[0][1], small[0][2])
    return kept


def gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """(N, C, H, W) images blurred by a Gaussian of `sigma` pixels (kernel out to 3 sigma,
    reflected borders); uint8 in, uint8 out (rounded), float in, float out."""
    if sigma <= 0:
        return images
    from kornia.filters import gaussian_blur2d

    size = 2 * max(1, math.ceil(3 * sigma)) + 1
    blurred = gaussian_blur2d(images.float(), (size, size), (sigma, sigma), border_type="reflect")
    return blurred.round().clamp(0, 255).to(torch.uint8) if images.dtype == torch.uint8 else blurred


class ImageFolder(Dataset):
    """Every readable image below `root`, as {"images": (C, S, S) in [-1, 1]}; keys are (index, seed)."""

    def __init__(self, root: str | Path, size: int, channels: int, hflip: bool = False, strict: bool = False,
                 max_images: int = 0, blur: float = 0.0) -> None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise GantoolError(f"data folder {root} {what_is(root)}; give a folder of images")
        files = large_enough(readable_images(root, "image folder", strict), size, root, strict)
        self.files = files[:max_images] if max_images else files
        self.channels, self.hflip, self.blur = channels, hflip, blur
        import albumentations as A  # imported on use: generate and translate never need it
        import cv2

        self.transform = A.Compose([A.SmallestMaxSize(max_size=size, interpolation=cv2.INTER_AREA),
                                    A.CenterCrop(size, size)])

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Tensor]:
        index, seed = key
        array = self.transform(image=load_image(self.files[index], self.channels))["image"]
        if self.hflip and seed % 2 == 1:
            array = array[:, ::-1]
        return {"images": gaussian_blur(to_tensor(array)[None], self.blur)[0]}


def _digit_images(cfg: DataConfig) -> Tensor:
    if cfg.dataset == "digits":
        return load_builtin_digits()[0]
    return load_mnist(cfg.root or "~/.cache/gantool/mnist", train=True, download=cfg.download)[0]


def build_unlabelled_datasets(cfg: DataConfig) -> tuple[Dataset, Dataset | None]:
    """(training images, held-out images or None): with `max_images` N, digits train on the
    first N and the rest are held out; folders train on their first N files (sorted by path)."""
    if cfg.dataset == "folder":
        if not cfg.root:
            raise GantoolError("data.dataset is 'folder' but no folder was given: pass --data DIR")
        return ImageFolder(cfg.root, cfg.image_size, cfg.channels, cfg.hflip, cfg.strict, cfg.max_images,
                            cfg.blur), None
    if cfg.dataset not in SOURCES:
        raise GantoolError(f"unknown dataset {cfg.dataset!r} for the gan recipe; valid: {', '.join(SOURCES)}")
    images = _digit_images(cfg)
    n = min(cfg.max_images or len(images), len(images))

    def part(chosen: Tensor) -> TensorClassDataset:
        labels = torch.zeros(len(chosen), dtype=torch.long)  # unconditional: one class
        return TensorClassDataset(chosen, labels, ["image"], cfg.image_size, cfg.channels, cfg.hflip)

    return part(gaussian_blur(images[:n], cfg.blur)), (part(images[n:]) if n < len(images) else None)
