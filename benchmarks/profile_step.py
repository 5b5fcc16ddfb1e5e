"""Where a training iteration's time goes: torch.profiler over a few iterations, self CPU time
grouped into what the iteration does (issue 21).

    python -m benchmarks.profile_step --workload pix2pix256 --mode optimised
    python -m benchmarks.profile_step --workload cyclegan128 --mode bare --iters 2 --top 15

Modes as in `python -m benchmarks`: bare / bare-fused (the hand-written loop), baseline (gantool
fp32) and optimised. The gantool modes profile `Trainer.train_step` on batches in memory (the data
path is timed by `python -m benchmarks`, which decodes files), so the groups compare like with like.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch

from benchmarks.workloads import WORKLOADS, SyntheticImages

# aten operator names (without "aten::") by what they do; torch's default CPU Adam runs one
# parameter at a time through lerp_/mul_/addcmul_/sqrt/div_/addcdiv_, the fused one in _fused_adam_
GROUPS = {
    "convolution backward": {"convolution_backward"},
    "convolution forward": {"mkldnn_convolution", "_slow_conv2d_forward", "slow_conv_transpose2d",
                            "reflection_pad2d", "_convolution", "convolution"},
    "dtype / layout copies (casts)": {"copy_", "_to_copy", "contiguous", "clone"},
    "optimizer": {"_fused_adam_", "lerp_", "addcmul_", "addcdiv_", "sqrt", "div_", "mul_"},
    "normalisation": {"native_batch_norm", "native_batch_norm_backward", "_batch_norm_with_update",
                      "batch_norm_backward", "_native_batch_norm_legit", "native_group_norm",
                      "native_group_norm_backward", "instance_norm"},
}


def group_of(name: str) -> str:
    op = name.split("::", 1)[-1]
    if op.startswith("_foreach_"):
        return "optimizer"
    return next((group for group, ops in GROUPS.items() if op in ops), "everything else")


def build_step(name: str, mode: str):
    from benchmarks.bare_loop import bare_step, batches_in_memory
    from benchmarks.measure import training_config
    from gantool.recipes import RECIPES
    from gantool.trainer import Trainer, seed_everything

    workload = WORKLOADS[name]
    dev = torch.device("cpu")
    cfg = training_config(name, mode, workload.batch_size, dev, False, ["data.num_workers=0"])
    seed_everything(0)
    recipe = RECIPES.get(workload.recipe)(cfg, workload.meta)
    if mode.startswith("bare"):
        recipe.train()
        step = bare_step(recipe, cfg, "fused" if mode == "bare-fused" else "default")
        batches = batches_in_memory(workload.recipe, cfg.data.image_size, cfg.data.channels, workload.batch_size)
        return lambda: step(next(batches))
    dataset = SyntheticImages(workload.recipe, cfg.data.image_size, cfg.data.channels)
    trainer = Trainer(cfg, recipe, dataset, run_dir="/nonexistent-profile-run", quiet=True)
    return lambda: trainer.train_step(want_norms=False)


def profile(name: str, mode: str, iters: int, warmup: int) -> tuple[dict[str, float], list[tuple[str, float]], float]:
    """(ms per iteration by group, top operators by ms per iteration, wall s per iteration)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    step = build_step(name, mode)
    for _ in range(warmup):
        step()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(iters):
            step()
        wall = (time.perf_counter() - start) / iters
    groups: dict[str, float] = defaultdict(float)
    ops = []
    for event in prof.key_averages():
        ms = event.self_cpu_time_total / 1e3 / iters
        if not event.key.startswith("aten::"):
            groups["everything else"] += ms
            continue
        groups[group_of(event.key)] += ms
        ops.append((event.key, ms))
    return dict(groups), sorted(ops, key=lambda o: -o[1]), wall


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), required=True)
    parser.add_argument("--mode", choices=["bare", "bare-fused", "baseline", "optimised"], default="optimised")
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--top", type=int, default=10, help="Operators listed by self time.")
    args = parser.parse_args(argv)
    groups, ops, wall = profile(args.workload, args.mode, args.iters, args.warmup)
    total = sum(groups.values())
    print(f"{args.workload} {args.mode}: {wall:.3f} s per iteration under the profiler "
          f"({total:.0f} ms of self CPU time on the main thread per iteration)")
    print("| group | ms / iteration | share |\n|---|---|---|")
    for group, ms in sorted(groups.items(), key=lambda g: -g[1]):
        print(f"| {group} | {ms:.1f} | {ms / total:.0%} |")
    print("\n| operator | ms / iteration |\n|---|---|")
    for op, ms in ops[:args.top]:
        print(f"| {op} | {ms:.1f} |")


if __name__ == "__main__":
    main()
