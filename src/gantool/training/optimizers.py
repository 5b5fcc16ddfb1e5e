"""Optimizers per training phase, the learning-rate schedule, gradient norms.

A phase ("d" or "g") is one backward pass of its loss and one step of every optimizer that the
backward feeds: the discriminators' (or generators') optimizer, plus one optimizer per auxiliary
module that the recipe trains with that phase's loss (e.g. CUT's projection heads with G's). One
gradient scaler serves the whole phase, so fp16 skips a step for all of them together.
"""

from __future__ import annotations

from typing import Any, Iterator

import torch
from torch import Tensor, nn

from gantool.config import OptimConfig


def build_optimizer(params: list[nn.Parameter], cfg: OptimConfig, lr: float) -> torch.optim.Optimizer:
    kind = {cfg.implementation: True}  # fused=True or foreach=True
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=cfg.betas, weight_decay=cfg.weight_decay, **kind)
    return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, **kind)


def lr_factor(step: int, total: int, decay_steps: int, steps_per_epoch: int = 0) -> float:
    """Constant, then linear decay over the last `decay_steps` of `total` steps: to 0, step by
    step; or, given `steps_per_epoch`, once per epoch as the reference code does, epoch e (from 0)
    of C constant and N decay epochs at 1 - max(0, e + 1 - C) / (N + 1)."""
    if decay_steps <= 0:
        return 1.0
    start = total - decay_steps
    if steps_per_epoch > 0:
        constant_epochs, decay_epochs = start / steps_per_epoch, decay_steps / steps_per_epoch
        return 1.0 - max(0.0, step // steps_per_epoch + 1 - constant_epochs) / (decay_epochs + 1)
    return 1.0 if step < start else max(0.0, 1.0 - (step - start) / decay_steps)


def schedule_factor(step: int, total: int, cfg: OptimConfig, steps_per_epoch: int) -> float:
    """The learning-rate factor at `step` under `cfg`'s schedule (`steps_per_epoch`: batches in one
    pass over the training set, used when the rate changes once per epoch)."""
    return lr_factor(step, total, cfg.decay_steps(total), steps_per_epoch if cfg.decay_every == "epoch" else 0)


def grad_norm(parameters: Iterator[nn.Parameter]) -> Tensor:
    norms = [p.grad.detach().float().norm() for p in parameters if p.grad is not None]
    return torch.stack(norms).norm() if norms else torch.zeros(())


class PhaseOptimizer:
    """The optimizers of one phase: `networks` at `lr`, and each auxiliary module at its own rate."""

    def __init__(self, networks: nn.Module, lr: float, auxiliaries: dict[str, tuple[nn.Module, float]],
                 cfg: OptimConfig, fp16: bool) -> None:
        self.networks = networks
        self.optimizer = build_optimizer(list(networks.parameters()), cfg, lr)
        self.auxiliaries = {name: build_optimizer(list(module.parameters()), cfg, aux_lr)
                            for name, (module, aux_lr) in auxiliaries.items()}
        self.base_lrs = {None: lr, **{name: aux_lr for name, (_, aux_lr) in auxiliaries.items()}}
        self.scaler = torch.amp.GradScaler("cuda", enabled=fp16)

    def _optimizers(self) -> Iterator[tuple[str | None, torch.optim.Optimizer]]:
        yield None, self.optimizer
        yield from self.auxiliaries.items()

    def set_lr(self, factor: float, scheduled: dict[str, float] | None = None) -> float:
        """Every learning rate of the phase at `factor` of its base, and the other scheduled
        settings (e.g. sgd momentum on its ramp); returns the networks' rate."""
        for name, optimizer in self._optimizers():
            for group in optimizer.param_groups:
                group.update(lr=self.base_lrs[name] * factor, **(scheduled or {}))
        return self.base_lrs[None] * factor

    def zero_grad(self) -> None:
        for _, optimizer in self._optimizers():
            optimizer.zero_grad(set_to_none=True)

    def backward(self, loss: Tensor) -> None:
        self.scaler.scale(loss).backward()

    def step(self, want_norm: bool) -> Tensor | None:
        """One step of every optimizer of the phase; with `want_norm`, the networks' gradient norm."""
        norm = None
        if want_norm:
            self.scaler.unscale_(self.optimizer)
            norm = grad_norm(self.networks.parameters())
        for _, optimizer in self._optimizers():
            self.scaler.step(optimizer)
        self.scaler.update()
        return norm

    def state_dict(self) -> dict[str, Any]:
        return {"optim": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
                "auxiliaries": {name: opt.state_dict() for name, opt in self.auxiliaries.items()}}

    def load_state_dict(self, optim: dict[str, Any], scaler: dict[str, Any] | None,
                        auxiliaries: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(optim)
        if scaler:
            self.scaler.load_state_dict(scaler)
        for name, optimizer in self.auxiliaries.items():
            optimizer.load_state_dict(auxiliaries[name])
