"""Differentiable augmentation of discriminator inputs (DiffAugment, Zhao et al. 2020) with kornia.

The same policy is applied to real and fake images (each image gets its own random draw), and
every operation is differentiable, so the generator is trained through it.
"""

from __future__ import annotations

from torch import Tensor, nn

from gantool.errors import GantoolError

POLICIES = ("translation", "color", "cutout")


def parse_policy(policy: str) -> list[str]:
    names = [p.strip() for p in policy.split(",") if p.strip()]
    for name in names:
        if name not in POLICIES:
            raise GantoolError(
                f"unknown augmentation {name!r} in policy {policy!r}; valid: {', '.join(POLICIES)}"
            )
    return names


class DiffAugment(nn.Module):
    """Augments images in [-1, 1]; an empty policy is the identity."""

    def __init__(self, policy: str, channels: int) -> None:
        super().__init__()
        ops: list[nn.Module] = []
        names = parse_policy(policy)
        if names:
            import kornia.augmentation as K  # only runs with augmentation pay for importing kornia
        for name in names:
            if name == "translation":
                ops.append(K.RandomAffine(degrees=0.0, translate=(0.125, 0.125), p=1.0))
            elif name == "color":
                saturation = 0.5 if channels == 3 else 0.0  # saturation needs RGB
                ops.append(K.ColorJiggle(brightness=0.3, contrast=0.3, saturation=saturation, p=1.0))
            elif name == "cutout":
                ops.append(K.RandomErasing(scale=(0.0625, 0.25), ratio=(1.0, 1.0), value=0.5, p=1.0))
        self.ops = nn.Sequential(*ops)

    @property
    def enabled(self) -> bool:
        return len(self.ops) > 0

    def forward(self, images: Tensor) -> Tensor:
        if not self.enabled:
            return images
        unit = (images.float() + 1.0) / 2.0  # kornia's colour ops expect [0, 1]
        return (self.ops(unit) * 2.0 - 1.0).to(images.dtype)
