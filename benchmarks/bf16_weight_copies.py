"""Would bf16 copies of the weights speed up the optimised pix2pix step? (issue 21)

The optimised path runs under autocast, which casts every fp32 weight to bf16 in every forward and
the bf16 weight gradients back to fp32. The alternative measured here keeps bf16 copies of both
networks for the forward and backward, steps the optimizer, and refreshes the copies from the fp32
masters after each step. It times a stand-in for that scheme, never a trainer: the bare pix2pix
iteration (benchmarks/bare_loop.py) on the bf16 copies, whose Adam steps the copies themselves,
plus the refresh. It does at least the work of the real scheme, minus the gradient casts to fp32.
Both variants use channels_last, and they alternate in one process so that machine noise hits
both alike.

    python -m benchmarks.bf16_weight_copies [--rounds 2] [--iters 4]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from typing import Callable

import torch

from benchmarks.bare_loop import batches_in_memory, pix2pix_step
from benchmarks.measure import training_config


def _networks() -> tuple[torch.nn.Module, torch.nn.Module, float]:
    from gantool.recipes import RECIPES

    cfg = training_config("pix2pix256", "bare", 1, torch.device("cpu"), False)
    torch.manual_seed(0)
    recipe = RECIPES.get("pix2pix")(cfg, {})
    recipe.train()
    G, D = recipe.generators["G"], recipe.discriminators["D"]
    return G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last), cfg.model.lambda_l1


def autocast_step() -> Callable[[dict], None]:
    G, D, lambda_l1 = _networks()
    inner = pix2pix_step(G, D, lambda_l1, "fused")

    def step(batch: dict) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            inner({k: v.contiguous(memory_format=torch.channels_last) for k, v in batch.items()})
    return step


def weight_copies_step() -> Callable[[dict], None]:
    G, D, lambda_l1 = _networks()
    masters = [*G.parameters(), *D.parameters()]
    G16, D16 = copy.deepcopy(G).to(torch.bfloat16), copy.deepcopy(D).to(torch.bfloat16)
    copies = [*G16.parameters(), *D16.parameters()]
    inner = pix2pix_step(G16, D16, lambda_l1, "fused")

    def step(batch: dict) -> None:
        inner({k: v.to(torch.bfloat16).contiguous(memory_format=torch.channels_last) for k, v in batch.items()})
        with torch.no_grad():
            torch._foreach_copy_(copies, masters)  # the refresh after the optimizer step
    return step


def seconds_per_step(step: Callable[[dict], None], batches, iters: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        step(next(batches))
    start = time.perf_counter()
    for _ in range(iters):
        step(next(batches))
    return (time.perf_counter() - start) / iters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--iters", type=int, default=4)
    args = parser.parse_args()
    batches = batches_in_memory("pix2pix", 256, 3, 1)
    steps = {"autocast": autocast_step(), "bf16 weight copies": weight_copies_step()}
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            times[name].append(seconds_per_step(step, batches, args.iters))
    for name, values in times.items():
        print(f"{name:20} {statistics.median(values):.3f} s/it (rounds: {', '.join(f'{v:.3f}' for v in values)})")


if __name__ == "__main__":
    main()
