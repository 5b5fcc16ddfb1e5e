"""Where training runs and in which precision: the device, the autocast dtype, seeds, batch placement."""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch
from torch import Tensor

from gantool.errors import GantoolError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GantoolError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GantoolError(f"device {name!r} was asked for but CUDA is not available here; use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise GantoolError(f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} GPU(s)")
    return device


def has_fast_bf16(device: torch.device) -> bool:
    """bf16 arithmetic in hardware: AVX512-BF16 or AMX on the CPU (elsewhere bf16 is emulated,
    slower than fp32), or a GPU that supports it."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision == "auto":
        precision = "bf16" if has_fast_bf16(device) else "fp32"
    if precision == "fp32":
        return None
    if precision == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise GantoolError("precision bf16 is not supported by this GPU; use fp16 or fp32")
        return torch.bfloat16
    if precision == "fp16":
        if device.type != "cuda":
            raise GantoolError("precision fp16 needs a CUDA device; on the CPU use bf16 or fp32")
        return torch.float16
    raise GantoolError(f"unknown precision {precision!r}; valid: fp32, bf16, fp16, auto")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Placement:
    """The device, autocast dtype (None: fp32) and memory layout that a run computes in."""

    def __init__(self, device_name: str, precision: str, channels_last: bool) -> None:
        self.device = resolve_device(device_name)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input sizes: pick the fastest kernels once
        self.amp_dtype = autocast_dtype(precision, self.device)
        self.memory_format = torch.channels_last if channels_last else torch.preserve_format

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def batch(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """`batch` on the device, images in the run's memory layout."""
        return {k: v.to(self.device, non_blocking=True,
                        memory_format=self.memory_format if v.dim() == 4 else torch.preserve_format)
                for k, v in batch.items()}
