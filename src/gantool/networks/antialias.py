"""Anti-aliased resampling (Zhang 2019, "Making Convolutional Networks Shift-Invariant Again"),
as CUT's reference networks use it: a fixed binomial blur around every stride-2 step.

`BlurDownsample`: reflection pad 1, blur with the 3x3 filter [1, 2, 1]^T [1, 2, 1] / 16, keep
every second pixel (a stride-1 convolution before it does the learning). `BlurUpsample`:
replication pad 1, a stride-2 transposed convolution with the 4x4 filter [1, 3, 3, 1]^T
[1, 3, 3, 1] / 64 x 4, cropped to exactly twice the input size (a stride-1 convolution after it
does the learning). The filters are constants, kept out of state dicts, and run in fp32 under
autocast too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def binomial_filter(size: int) -> Tensor:
    """The normalised 2-D binomial filter of side `size` (outer product of a row of Pascal's triangle)."""
    row = [1.0]
    for _ in range(size - 1):
        row = [a + b for a, b in zip([0.0] + row, row + [0.0])]
    kernel = torch.tensor(row)[:, None] * torch.tensor(row)[None, :]
    return kernel / kernel.sum()


def _in_fp32(x: Tensor) -> torch.autocast:
    """No autocast: CPU kernels for these depthwise (transposed) convolutions are slow in bf16 (the
    4x4 upsampling 40x slower than in fp32 on AMX), and in fp32 they cost next to nothing."""
    return torch.autocast(x.device.type, enabled=False)


class BlurDownsample(nn.Module):
    """Halves the sides (rounding up) of a (N, channels, H, W) input after a 3x3 binomial blur."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.register_buffer("kernel", binomial_filter(3)[None, None].repeat(channels, 1, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        with _in_fp32(x):
            out = F.conv2d(F.pad(x.float(), (1, 1, 1, 1), mode="reflect"), self.kernel, stride=2, groups=self.channels)
        return out.to(x.dtype)


class BlurUpsample(nn.Module):
    """Doubles the sides of a (N, channels, H, W) input with a 4x4 binomial interpolation filter."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        # x 4: each output pixel gets a quarter of the filter's taps, which must still sum to 1
        self.register_buffer("kernel", (binomial_filter(4) * 4)[None, None].repeat(channels, 1, 1, 1),
                             persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        with _in_fp32(x):
            out = F.conv_transpose2d(F.pad(x.float(), (1, 1, 1, 1), mode="replicate"), self.kernel, stride=2,
                                     padding=2, groups=self.channels)
        return out[:, :, 1:-1, 1:-1].to(x.dtype)
