"""Exponential moving average of the generators' weights, used for samples and exports."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Exponential moving average of generator weights (buffers such as BN statistics are copied)."""

    def __init__(self, modules: nn.Module, decay: float, start: int) -> None:
        self.decay, self.start = decay, start
        self.modules = copy.deepcopy(modules).eval().requires_grad_(False)

    def decay_at(self, step: int) -> float:
        # warm-up: early on the average would be dominated by the random initial weights
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, source: nn.Module, step: int) -> None:
        weight = 1.0 if step < self.start else 1.0 - self.decay_at(step)
        ema_params = list(self.modules.parameters())
        torch._foreach_lerp_(ema_params, [p.detach() for p in source.parameters()], weight)
        for ema_buffer, buffer in zip(self.modules.buffers(), source.buffers()):
            ema_buffer.copy_(buffer)
