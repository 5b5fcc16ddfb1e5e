"""Unpaired images for CycleGAN: two folders of images from two domains, in any numbers.

An epoch walks through every image of the larger domain; each A image (index modulo the size of
A) meets a B partner drawn at random from the sample seed, so partners change every epoch and a
resumed run draws the same ones. The two domains are augmented independently (their own crops
and flips), with the pix2pix preprocessing options.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor
from torch.utils.data import Dataset

from gantool.data.images import load_image, readable_images, to_tensor
from gantool.data.paired import require_crop_fits, view_transform
from gantool.errors import GantoolError
from gantool.safe_paths import what_is

# subfolder names of the CycleGAN layout, in the order they are looked for
DOMAIN_LAYOUTS = {
    "train": (("trainA", "trainB"), ("A", "B")),
    "test": (("testA", "testB"), ("valA", "valB"), ("A", "B")),
}


def domain_folders(root: str | Path, split: str = "train") -> tuple[Path, Path]:
    """(folder A, folder B) of a dataset in the CycleGAN layout below `root`: trainA/ + trainB/
    (or A/ + B/) for training; testA/ + testB/, valA/ + valB/ (or A/ + B/) for validation."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise GantoolError(f"data folder {root} {what_is(root)}; give a folder of images")
    layouts = DOMAIN_LAYOUTS[split]
    for name_a, name_b in layouts:
        if (root / name_a).is_dir() and (root / name_b).is_dir():
            return root / name_a, root / name_b
    names = " or ".join(f"{a}/ + {b}/" for a, b in layouts)
    raise GantoolError(f"{root} is not in the unpaired layout: for {split} data it needs subfolders {names}; "
                       "or pass the two folders with --a and --b")


def domain_images(folder: str | Path, domain: str, strict: bool = False) -> list[Path]:
    """Every readable image below `folder` (recursively); a missing or imageless folder is an error."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise GantoolError(f"domain {domain} folder {folder} {what_is(folder)}")
    return readable_images(folder, f"domain {domain} folder", strict)


class UnpairedImages(Dataset):
    """Yields {"A": (Ca, S, S), "B": (Cb, S, S)} in [-1, 1]; keys are (index, sample seed)."""

    def __init__(self, files_a: list[Path], files_b: list[Path], size: int, channels_a: int = 3,
                 channels_b: int = 3, preprocess: str = "resize_and_crop", load_size: int = 0,
                 flip: bool = True, train: bool = True) -> None:
        if not files_a or not files_b:
            raise GantoolError("unpaired training needs images in both domains")
        self.files_a, self.files_b = files_a, files_b
        self.channels_a, self.channels_b, self.train = channels_a, channels_b, train
        self.preprocess, self.size = (preprocess if train else "", size)
        self.transform_a = view_transform(preprocess, size, load_size, flip, train)
        self.transform_b = view_transform(preprocess, size, load_size, flip, train)

    def __len__(self) -> int:
        return max(len(self.files_a), len(self.files_b))

    def partner(self, index: int, seed: int) -> int:
        """The B image that meets A image `index`: random per sample seed in training, fixed otherwise."""
        if not self.train:
            return index % len(self.files_b)
        return int(np.random.default_rng(seed).integers(len(self.files_b)))

    def __getitem__(self, key: tuple[int, int] | int) -> dict[str, Tensor]:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        path_a, path_b = self.files_a[index % len(self.files_a)], self.files_b[self.partner(index, seed)]
        a, b = load_image(path_a, self.channels_a), load_image(path_b, self.channels_b)
        require_crop_fits(a, path_a, self.preprocess, self.size)
        require_crop_fits(b, path_b, self.preprocess, self.size)
        # independent augmentation per domain: their own seeds, derived from the sample's
        self.transform_a.set_random_seed(seed)
        self.transform_b.set_random_seed((seed * 2654435761 + 1) % 2**31)
        return {"A": to_tensor(self.transform_a(image=a)["image"]),
                "B": to_tensor(self.transform_b(image=b)["image"])}
