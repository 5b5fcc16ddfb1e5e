"""Paired images for pix2pix: the aligned A|B format, or two folders A/ and B/ matched by name.

Both images of a pair go through one albumentations pipeline (`additional_targets`), so a crop
or flip moves them together and they stay aligned. Each sample's random choices come from the
seed the batch stream hands it, so runs resume exactly. albumentations and OpenCV are imported
where they are used: they cost 0.75 s and about 0.2 GB that translate, generate and eval never need.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

if TYPE_CHECKING:
    import albumentations as A

from gantool.data.images import FolderScan, list_images, load_image, log, readable_images, scan_folder, to_tensor
from gantool.errors import GantoolError
from gantool.safe_paths import what_is

T = TypeVar("T")

PREPROCESS = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
# width / height of a plausible side-by-side A|B image: halves from 3:4 (portrait) to 16:9 and a bit
# wider. A square or portrait photo falls outside: split in half, it would give two unrelated strips.
PAIR_RATIO = (1.5, 3.6)


@dataclass(frozen=True)
class PairSource:
    """Where one pair lives: one side-by-side file, or two files."""

    a: Path
    b: Path | None = None  # None: `a` holds A | B side by side


def find_pairs(root: str | Path, strict: bool = False) -> list[PairSource]:
    """`root/A` + `root/B` matched by file stem, else every image in `root` as an A|B pair."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise GantoolError(f"paired data folder {root} {what_is(root)}; give a folder of images")
    folder_a, folder_b = root / "A", root / "B"
    if folder_a.is_dir() and folder_b.is_dir():
        return [PairSource(a, b) for a, b in match_by_name(folder_a, folder_b, strict)]
    if not list_images(root):
        raise GantoolError(
            f"{root} holds no images: give side-by-side A|B images, or subfolders A/ and B/ with matching names"
        )
    top_level = bool(list_images(root, recursive=False))
    images = readable_images(root, "paired data folder", strict, recursive=not top_level)
    doubt = side_by_side_doubt(root, {path: _loaded_size(path) for path in images})
    if doubt:
        log.warning("%s", doubt)
    return [PairSource(p) for p in images]


def _loaded_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of an image as load_image turns it (EXIF quarter turns swap the sides), from
    its header; None when the header cannot be read now."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            width, height = img.size
            if int(img.getexif().get(0x0112, 1) or 1) in (5, 6, 7, 8):
                width, height = height, width
    except (OSError, SyntaxError, ValueError, TypeError):
        return None
    return width, height


def side_by_side_doubt(root: Path, sizes: dict[Path, tuple[int, int] | None]) -> str:
    """A warning when images read as side-by-side A|B pairs are not about twice as wide as tall
    (`sizes`: path -> (width, height)), "" when all look like pairs. Not an error: the split is
    still done, since a user may really have pairs of unusual shape."""
    doubtful = [(path, size) for path, size in sizes.items()
                if size and not PAIR_RATIO[0] <= size[0] / max(size[1], 1) <= PAIR_RATIO[1]]
    if not doubtful:
        return ""
    path, (width, height) = doubtful[0]
    return (f"{len(doubtful)} of {len(sizes)} image(s) in {root} are not about twice as wide as tall (e.g. {path}: "
            f"{width}x{height} px), yet each is split at half width into A (left half) and B (right half); if they "
            f"are not side-by-side A|B pairs, put the inputs in {root / 'A'} and the targets in {root / 'B'} "
            "with matching names")


def pair_key(scan: FolderScan, path: Path) -> Path:
    """What pairs files of two folders: the path below the folder without its suffix (suffixes may differ)."""
    return path.relative_to(scan.folder).with_suffix("")


def files_by_name(scan_a: FolderScan, scan_b: FolderScan) -> tuple[dict[Path, Path], dict[Path, Path], set[Path]]:
    """(readable A files by pair key, readable B files by pair key, keys dropped because a side is
    unreadable): the pairing rule that training and `gantool data check` share."""
    broken = {pair_key(scan, path) for scan in (scan_a, scan_b) for path, _ in scan.unreadable}
    files_a, files_b = ({pair_key(scan, p): p for p in scan.images if pair_key(scan, p) not in broken}
                        for scan in (scan_a, scan_b))
    return files_a, files_b, broken


def match_by_name(folder_a: Path, folder_b: Path, strict: bool = False) -> list[tuple[Path, Path]]:
    """Files of two folders paired by relative path without suffix; unmatched names are an error.
    A pair with an unreadable side is skipped with a warning (an error when `strict`)."""
    for folder in (folder_a, folder_b):
        if not folder.is_dir():
            raise GantoolError(f"folder {folder} {what_is(folder)}")
    scans = [scan_folder(folder) for folder in (folder_a, folder_b)]
    broken = [(path, reason) for scan in scans for path, reason in scan.unreadable]
    if broken and strict:
        raise GantoolError(f"{len(broken)} unreadable image file(s), e.g. {broken[0][0]}: {broken[0][1]}. "
                           "Remove or re-save them, or train without --strict to skip their pairs")
    files_a, files_b, broken_names = files_by_name(*scans)
    if broken:
        log.warning("%d pair(s) skipped: unreadable image file(s), e.g. %s: %s", len(broken_names), *broken[0])
    only_a, only_b = sorted(set(files_a) - set(files_b)), sorted(set(files_b) - set(files_a))
    if only_a or only_b:
        shown = lambda names: ", ".join(str(n) for n in names[:10]) + (" ..." if len(names) > 10 else "")  # noqa
        parts = []
        if only_a:
            parts.append(f"{len(only_a)} in {folder_a} without a partner in {folder_b} ({shown(only_a)})")
        if only_b:
            parts.append(f"{len(only_b)} in {folder_b} without a partner in {folder_a} ({shown(only_b)})")
        raise GantoolError("unmatched pairs: " + "; ".join(parts) + ". Files pair up by name.")
    if not files_a:
        raise GantoolError(f"{folder_a} and {folder_b} hold no images")
    return [(files_a[k], files_b[k]) for k in sorted(files_a)]


def split_side_by_side(image: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray]:
    width = image.shape[1]
    if width % 2:
        raise GantoolError(f"{path} is {width} px wide: a side-by-side A|B image needs an even width")
    return image[:, : width // 2], image[:, width // 2:]


def require_crop_fits(image: np.ndarray, path: Path, preprocess: str, size: int) -> None:
    """--preprocess crop takes crops of the images as they are: one smaller than the crop would
    have to be padded with invented content, so it is an error instead."""
    height, width = image.shape[:2]
    if preprocess == "crop" and min(height, width) < size:
        raise GantoolError(f"{path} is {width}x{height} px, smaller than the {size} px crop of --preprocess crop: "
                           "use --preprocess resize_and_crop (resizes first) or a smaller --size")


class PilBicubicResize:
    """Resize an HxWxC uint8 array with PIL's bicubic filter, as the reference code's
    `transforms.Resize(..., BICUBIC)` does on its PIL images. Unlike OpenCV's INTER_CUBIC, PIL
    widens the filter when it shrinks an image, so a 256 -> 143 px facade keeps no aliasing: OpenCV
    left 28% more Laplacian energy in the same photo, texture the generator then learnt to draw
    (issue 22). Either (height, width) or the `longest` side is given. A class, not a closure, so
    DataLoader workers can pickle it."""

    def __init__(self, height: int = 0, width: int = 0, longest: int = 0) -> None:
        self.height, self.width, self.longest = height, width, longest

    def __call__(self, image: np.ndarray, **_: object) -> np.ndarray:
        from PIL import Image

        h, w = image.shape[:2]
        if self.longest:
            scale = self.longest / max(h, w)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
        else:
            size = (self.width, self.height)
        if size == (w, h):
            return image
        resized = np.array(Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image).resize(size, Image.BICUBIC))
        return resized[:, :, None] if resized.ndim == 2 else resized


def build_pair_transform(preprocess: str, size: int, load_size: int, flip: bool) -> A.Compose:
    import albumentations as A
    import cv2

    if preprocess not in PREPROCESS:
        raise GantoolError(f"unknown preprocess {preprocess!r}; valid: {', '.join(PREPROCESS)}")
    steps: list = []
    if preprocess == "resize_and_crop":
        steps += [A.Lambda(image=PilBicubicResize(load_size, load_size), name="resize"), A.RandomCrop(size, size)]
    elif preprocess == "crop":
        steps += [A.RandomCrop(size, size)]  # images smaller than the crop: require_crop_fits
    elif preprocess in ("scale_width", "scale_width_and_crop"):
        steps += [A.Lambda(image=PilBicubicResize(longest=size if preprocess == "scale_width" else load_size),
                           name="resize")]
        steps += [A.PadIfNeeded(size, size, border_mode=cv2.BORDER_REFLECT_101)]
        steps += [A.RandomCrop(size, size) if preprocess == "scale_width_and_crop" else A.CenterCrop(size, size)]
    if flip:
        steps.append(A.HorizontalFlip(p=0.5))
    return A.Compose(steps, additional_targets={"target": "image"})


def view_transform(preprocess: str, size: int, load_size: int, flip: bool, train: bool) -> A.Compose:
    """The random augmentation of training samples, or the fixed view (resize, no crop or flip)
    of validation samples. `load_size` 0 means size * 286 / 256, the reference's ratio."""
    load_size = load_size or round(size * 286 / 256)
    if not train:
        preprocess = "resize_and_crop" if preprocess == "resize_and_crop" else "scale_width"
        load_size, flip = size, False
    return build_pair_transform(preprocess, size, load_size, flip)


class PairedImages(Dataset):
    """Yields {"A": (Ca, S, S), "B": (Cb, S, S)} in [-1, 1] and "path" of the pair's first file."""

    def __init__(self, pairs: list[PairSource], size: int, channels_a: int = 3, channels_b: int = 3,
                 preprocess: str = "resize_and_crop", load_size: int = 0, flip: bool = True,
                 train: bool = True) -> None:
        if not pairs:
            raise GantoolError("no image pairs to train on")
        self.pairs, self.channels_a, self.channels_b = pairs, channels_a, channels_b
        self.preprocess, self.size = (preprocess if train else "", size)
        self.transform = view_transform(preprocess, size, load_size, flip, train)

    def __len__(self) -> int:
        return len(self.pairs)

    def load_pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        pair = self.pairs[index]
        if pair.b is None:
            a, b = split_side_by_side(load_image(pair.a, 3), pair.a)
            return _convert(a, self.channels_a), _convert(b, self.channels_b)
        return load_image(pair.a, self.channels_a), load_image(pair.b, self.channels_b)

    def __getitem__(self, key: tuple[int, int] | int) -> dict[str, Tensor]:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        a, b = self.load_pair(index)
        require_crop_fits(a, self.pairs[index].a, self.preprocess, self.size)
        if a.shape[:2] != b.shape[:2]:
            b = PilBicubicResize(a.shape[0], a.shape[1])(b)
        self.transform.set_random_seed(seed)
        out = self.transform(image=a, target=b)
        return {"A": to_tensor(out["image"]), "B": to_tensor(out["target"])}


def _convert(array: np.ndarray, channels: int) -> np.ndarray:
    import cv2

    if channels == 1 and array.shape[2] == 3:
        gray = cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGB2GRAY)
        return gray[:, :, None]
    return array


def holdout_split(items: list[T], fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """A deterministic (train, validation) split of pairs or files; the validation share is `fraction`."""
    if not 0 < fraction < 1:
        raise GantoolError(f"validation fraction must be in (0, 1), got {fraction}")
    order = torch.randperm(len(items), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = max(1, round(len(items) * fraction))
    if n_val >= len(items):
        raise GantoolError(f"a validation fraction of {fraction} leaves no training items out of {len(items)}")
    val = sorted(order[:n_val])
    train = sorted(order[n_val:])
    return [items[i] for i in train], [items[i] for i in val]
