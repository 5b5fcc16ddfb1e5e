"""The yardstick: a minimal hand-written PyTorch training loop over the same networks (issue 21).

Forward, backward, optimizer step, on tensors already in memory, nothing else: no data loading,
no logging, no EMA, no statistics, fp32, torch's default Adam. It is what the reference
pytorch-CycleGAN-and-pix2pix code does per iteration (its order of D and G updates, its losses),
so it stands in for the reference on any machine, and gantool's time per iteration divided by
this loop's, measured in the same run, is gantool's overhead.

The networks are the workload's own (built by the gantool recipe from the workload's config, so
architecture and initialisation are identical); everything around them is written out here.
"""

from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.workloads import SyntheticImages


BARE_RECIPES = ("pix2pix", "cyclegan", "cgan")  # the recipes with a hand-written loop here

# torch's default Adam (on a CPU: one parameter at a time), as the reference uses it; "fused": the
# implementation gantool uses, so that the loops differ only in what surrounds the arithmetic
ADAM = {"default": {}, "fused": {"fused": True}}


def _adam(params, lr: float, betas: tuple[float, float], implementation: str) -> torch.optim.Optimizer:
    return torch.optim.Adam(list(params), lr=lr, betas=betas, **ADAM[implementation])


def _bce(logits: Tensor, real: bool) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(real)))


def _mse(logits: Tensor, real: bool) -> Tensor:
    return F.mse_loss(logits, torch.full_like(logits, float(real)))


def pix2pix_step(G: nn.Module, D: nn.Module, lambda_l1: float, adam: str,
                 autocast: Callable[[], ContextManager] = contextlib.nullcontext) -> Callable[[dict[str, Tensor]], None]:
    """The reference's pix2pix iteration: D on (input, output) pairs with its loss halved, then G on
    the non-saturating BCE plus lambda * L1. `autocast` wraps the forward passes (bf16 runs); the
    returned step keeps its optimizers as `step.optimizers` (G's, D's) for a learning-rate schedule."""
    opt_g, opt_d = _adam(G.parameters(), 2e-4, (0.5, 0.999), adam), _adam(D.parameters(), 2e-4, (0.5, 0.999), adam)

    def step(batch: dict[str, Tensor]) -> None:
        a, b = batch["A"], batch["B"]
        with autocast():
            fake = G(a)
            D.requires_grad_(True)
            opt_d.zero_grad()
            loss_d = 0.5 * (_bce(D(torch.cat([a, fake.detach()], 1)).float(), False)
                            + _bce(D(torch.cat([a, b], 1)).float(), True))
        loss_d.backward()
        opt_d.step()
        D.requires_grad_(False)
        opt_g.zero_grad()
        with autocast():
            loss_g = _bce(D(torch.cat([a, fake], 1)).float(), True) + lambda_l1 * (fake.float() - b).abs().mean()
        loss_g.backward()
        opt_g.step()

    step.optimizers = (opt_g, opt_d)
    return step


class _Pool:
    """The reference's image pool (50 images; past the fill, half the queries swap in an old one)."""

    def __init__(self, size: int = 50) -> None:
        self.size, self.images = size, []

    def query(self, image: Tensor) -> Tensor:
        image = image.detach()
        if len(self.images) < self.size:
            self.images.append(image)
            return image
        if torch.rand(()) < 0.5:
            i = int(torch.randint(len(self.images), ()))
            old, self.images[i] = self.images[i], image
            return old
        return image


def cyclegan_step(G: nn.Module, F_: nn.Module, D_a: nn.Module, D_b: nn.Module, lambda_cycle: float,
                  lambda_identity: float, adam: str) -> Callable[[dict[str, Tensor]], None]:
    """The reference's CycleGAN iteration: both generators on LSGAN + cycle + identity losses in one
    backward (discriminators frozen), then each discriminator on real against a pooled fake, halved."""
    opt_g = _adam([*G.parameters(), *F_.parameters()], 2e-4, (0.5, 0.999), adam)
    opt_d = _adam([*D_a.parameters(), *D_b.parameters()], 2e-4, (0.5, 0.999), adam)
    pool_a, pool_b = _Pool(), _Pool()

    def step(batch: dict[str, Tensor]) -> None:
        a, b = batch["A"], batch["B"]
        fake_b, fake_a = G(a), F_(b)
        rec_a, rec_b = F_(fake_b), G(fake_a)
        D_a.requires_grad_(False)
        D_b.requires_grad_(False)
        opt_g.zero_grad()
        identity = lambda_cycle * lambda_identity * ((G(b) - b).abs().mean() + (F_(a) - a).abs().mean())
        loss_g = (_mse(D_b(fake_b), True) + _mse(D_a(fake_a), True)
                  + lambda_cycle * ((rec_a - a).abs().mean() + (rec_b - b).abs().mean()) + identity)
        loss_g.backward()
        opt_g.step()
        D_a.requires_grad_(True)
        D_b.requires_grad_(True)
        opt_d.zero_grad()
        for D, real, fake in ((D_b, b, pool_b.query(fake_b)), (D_a, a, pool_a.query(fake_a))):
            (0.5 * (_mse(D(real), True) + _mse(D(fake.detach()), False))).backward()
        opt_d.step()

    return step


def cgan_step(G: nn.Module, D: nn.Module, z_dim: int, lr_g: float, lr_d: float, betas: tuple[float, float],
              adam: str) -> Callable[[dict[str, Tensor]], None]:
    """A class-conditional hinge-loss iteration (the cgan default): D on real and G(z, y), then G."""
    opt_g, opt_d = _adam(G.parameters(), lr_g, betas, adam), _adam(D.parameters(), lr_d, betas, adam)

    def step(batch: dict[str, Tensor]) -> None:
        images, labels = batch["images"], batch["labels"]
        fake = G(torch.randn(len(labels), z_dim), labels)
        D.requires_grad_(True)
        opt_d.zero_grad()
        loss_d = F.relu(1 - D(images, labels)).mean() + F.relu(1 + D(fake.detach(), labels)).mean()
        loss_d.backward()
        opt_d.step()
        D.requires_grad_(False)
        opt_g.zero_grad()
        (-D(fake, labels).mean()).backward()
        opt_g.step()

    return step


def bare_step(recipe, cfg, adam: str = "default") -> Callable[[dict[str, Tensor]], None]:
    """The hand-written iteration for a recipe's networks, with torch's default or the fused Adam."""
    G, D = recipe.generators, recipe.discriminators
    if recipe.name == "pix2pix":
        return pix2pix_step(G["G"], D["D"], cfg.model.lambda_l1, adam)
    if recipe.name == "cyclegan":
        return cyclegan_step(G["G"], G["F"], D["D_A"], D["D_B"], cfg.model.lambda_a, cfg.model.lambda_identity, adam)
    if recipe.name == "cgan":
        return cgan_step(G["G"], D["D"], cfg.model.z_dim, cfg.optim.lr_g, cfg.optim.lr_d, tuple(cfg.optim.betas), adam)
    raise ValueError(f"no bare loop for the {recipe.name} recipe")


def batches_in_memory(recipe: str, size: int, channels: int, batch_size: int, count: int = 8) -> Iterator[dict]:
    """`count` batches made up front and cycled: the loop never waits for data."""
    dataset = SyntheticImages(recipe, size, channels)
    made = []
    for start in range(0, count * batch_size, batch_size):
        items = [dataset[i % len(dataset)] for i in range(start, start + batch_size)]
        made.append({k: torch.stack([item[k] for item in items]) for k in items[0]})
    while True:
        yield from made
