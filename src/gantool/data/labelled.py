"""Labelled image datasets for class-conditional training.

Each yields batches as dicts {"images": float tensor in [-1, 1], (B, C, H, W), "labels": int64 (B,)}
and knows its `class_names` (sorted folder names for folders, "0".."9" for digits), which are stored
in checkpoints so `generate --label NAME` works.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from gantool.data.images import load_image, readable_images, to_tensor, to_unit_range
from gantool.errors import GantoolError
from gantool.safe_paths import what_is


class TensorClassDataset(Dataset):
    """Images held in memory as uint8 (N, C, H, W): batches are sliced, not collated one by one."""

    def __init__(self, images: Tensor, labels: Tensor, class_names: list[str], image_size: int,
                 channels: int, hflip: bool = False) -> None:
        if images.shape[-1] != image_size or images.shape[-2] != image_size:
            resized = F.interpolate(images.float(), size=(image_size, image_size), mode="bilinear",
                                    antialias=True, align_corners=False)
            images = resized.round().clamp(0, 255).to(torch.uint8)
        if images.shape[1] != channels:
            images = images.expand(-1, channels, -1, -1).contiguous() if channels == 3 else \
                images.float().mean(1, keepdim=True).round().to(torch.uint8)
        self.images, self.labels, self.class_names = images, labels, class_names
        self.hflip = hflip

    def __len__(self) -> int:
        return len(self.images)

    def get_batch(self, indices: Tensor, seeds: Tensor) -> dict[str, Tensor]:
        images = to_unit_range(self.images[indices])
        flips = seeds % 2 == 1
        if self.hflip and flips.any():
            images[flips] = images[flips].flip(-1)
        return {"images": images, "labels": self.labels[indices]}

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Tensor]:
        """`key` is (index, sample seed): the seed decides the random flip."""
        index, seed = key
        batch = self.get_batch(torch.tensor([index]), torch.tensor([seed]))
        return {k: v[0] for k, v in batch.items()}


class ClassFolders(Dataset):
    """`root/<class>/**/*.png|jpg|...`: labels are the sorted subfolder names."""

    def __init__(self, root: str | Path, image_size: int, channels: int, hflip: bool = False,
                 strict: bool = False) -> None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise GantoolError(f"data folder {root} {what_is(root)}; give a folder of images")
        classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not classes:
            raise GantoolError(f"{root} has no class subfolders: put the images of each class in root/<class>/")
        self.samples: list[tuple[Path, int]] = []
        for label, name in enumerate(classes):
            files = readable_images(root / name, "class folder", strict)
            self.samples += [(path, label) for path in files]
        self.class_names, self.channels, self.hflip = classes, channels, hflip
        import albumentations as A  # imported on use: 0.75 s and 0.2 GB that generate/translate never need

        self.transform = A.Compose([A.SmallestMaxSize(max_size=image_size), A.CenterCrop(image_size, image_size)])

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Tensor]:
        index, seed = key
        path, label = self.samples[index]
        array = self.transform(image=load_image(path, self.channels))["image"]
        if self.hflip and seed % 2 == 1:
            array = array[:, ::-1]
        return {"images": to_tensor(array), "labels": torch.tensor(label)}
