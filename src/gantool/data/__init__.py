"""Datasets and the batch stream the trainer consumes."""

from __future__ import annotations

from torch.utils.data import Dataset

from gantool.config import DataConfig
from gantool.data.digits import load_builtin_digits, load_mnist
from gantool.data.labelled import ClassFolders, TensorClassDataset
from gantool.data.stream import BatchStream
from gantool.errors import GantoolError

DIGIT_NAMES = [str(d) for d in range(10)]
LABELLED_SOURCES = ("digits", "mnist", "folder")


def build_labelled_dataset(cfg: DataConfig, train: bool = True) -> Dataset:
    """The dataset named by `cfg.dataset`; each has `class_names`."""
    if cfg.dataset == "digits":
        images, labels = load_builtin_digits()
        return TensorClassDataset(images, labels, DIGIT_NAMES, cfg.image_size, cfg.channels, cfg.hflip)
    if cfg.dataset == "mnist":
        root = cfg.root or "~/.cache/gantool/mnist"
        images, labels = load_mnist(root, train=train, download=cfg.download)
        return TensorClassDataset(images, labels, DIGIT_NAMES, cfg.image_size, cfg.channels, cfg.hflip)
    if cfg.dataset == "folder":
        if not cfg.root:
            raise GantoolError("data.dataset is 'folder' but no folder was given: pass --data DIR")
        return ClassFolders(cfg.root, cfg.image_size, cfg.channels, cfg.hflip, strict=cfg.strict)
    raise GantoolError(f"unknown dataset {cfg.dataset!r}; valid: {', '.join(LABELLED_SOURCES)}")


__all__ = ["BatchStream", "build_labelled_dataset", "load_builtin_digits", "load_mnist"]
