"""What the benchmarks run: the reference architectures at the reference sizes, and our defaults.

Data are synthetic tensors of the right shapes (decoding is measured apart, in translate), so a
benchmark needs no dataset on disk and measures the training step itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import Dataset

@dataclass(frozen=True)
class Workload:
    recipe: str
    overrides: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    # the optimised path's memory layout: NHWC helps the U-Net under bf16, slows the ResNet
    # generators (reflection padding and instance norm have no fast NHWC kernels on CPUs)
    channels_last: bool = False
    translate: bool = True
    batch_size: int = 1
    iters: int = 20  # timed iterations (medians); the slow CycleGAN 256 gets fewer
    # compared with this workload when both run in one benchmark run (time and memory ratios), and
    # the time ratio that its paper leads one to expect (at most)
    yardstick: str | None = None
    expected_time_ratio: float | None = None


WORKLOADS = {
    "cyclegan256": Workload("cyclegan", ["model.generator=resnet_9blocks", "data.image_size=256"], iters=10),
    "cyclegan128": Workload("cyclegan", ["model.generator=resnet_9blocks", "data.image_size=128"]),
    "pix2pix256": Workload("pix2pix", ["model.generator=unet_256", "data.image_size=256"], channels_last=True,
                           iters=30),
    "cgan": Workload("cgan", [], meta={"class_names": [str(c) for c in range(10)]}, translate=False,
                     batch_size=64, iters=40),
    # CUT / FastCUT against our CycleGAN (Park et al. 2020, on their GPU: 0.24 and 0.15 against 0.40 s/it)
    "cut256": Workload("cut", ["model.generator=resnet_9blocks", "data.image_size=256", "model.mode=cut"],
                       translate=False, iters=10, yardstick="cyclegan256", expected_time_ratio=0.65),
    "fastcut256": Workload("cut", ["model.generator=resnet_9blocks", "data.image_size=256", "model.mode=fastcut"],
                           translate=False, iters=10, yardstick="cyclegan256", expected_time_ratio=0.45),
    # the step budgets of the equal-time facades comparison (README, "CUT against CycleGAN")
    "cut128": Workload("cut", ["model.generator=resnet_9blocks", "data.image_size=128", "model.mode=cut"],
                       translate=False, yardstick="cyclegan128", expected_time_ratio=0.65),
}


class SyntheticImages(Dataset):
    """Random images (and labels) of a recipe's batch layout, the same for the same index."""

    def __init__(self, recipe: str, size: int, channels: int, length: int = 64) -> None:
        self.recipe, self.size, self.channels, self.length = recipe, size, channels, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        index = key[0] if isinstance(key, tuple) else key
        generator = torch.Generator().manual_seed(index)
        image = lambda: torch.rand(self.channels, self.size, self.size, generator=generator) * 2 - 1  # noqa: E731
        if self.recipe == "cgan":
            return {"images": image(), "labels": torch.tensor(index % 10)}
        return {"A": image(), "B": image()}
