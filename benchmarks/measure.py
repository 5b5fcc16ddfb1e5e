"""One workload in one mode, in its own process (peak RSS is per process): prints one JSON line.

    python -m benchmarks.measure --workload pix2pix256 --mode optimised --iters 20 --warmup 3
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time

import torch

from benchmarks.workloads import WORKLOADS, SyntheticImages


def mode_overrides(mode: str, workload, device: torch.device) -> list[str]:
    """baseline: our plain fp32 eager path; optimised: bf16 where the hardware has it, the
    workload's memory layout, fused optimizers (both use no-sync logging and reused G outputs)."""
    if mode == "baseline":
        return ["train.precision=fp32", "optim.implementation=foreach", "train.channels_last=false"]
    from gantool.trainer import has_fast_bf16

    return [f"train.precision={'bf16' if has_fast_bf16(device) else 'fp32'}", "optim.implementation=fused",
            f"train.channels_last={str(workload.channels_last).lower()}"]


def peak_memory_gb(device: torch.device) -> dict[str, float]:
    # ru_maxrss is in KiB on Linux
    result = {"peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    if device.type == "cuda":
        result["cuda_max_allocated_gb"] = torch.cuda.max_memory_allocated() / 2**30
    return result


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure_training(name: str, mode: str, iters: int, warmup: int, batch_size: int, device: str,
                     compile_networks: bool) -> dict:
    from gantool.config import apply_overrides, default_config
    from gantool.recipes import RECIPES  # (also registers the recipes' configs)
    from gantool.trainer import Trainer, resolve_device, seed_everything

    workload = WORKLOADS[name]
    dev = resolve_device(device)
    cfg = apply_overrides(default_config(workload.recipe), workload.overrides + [
        f"data.batch_size={batch_size}", f"train.device={dev}", "data.num_workers=0",
        f"train.compile={str(compile_networks).lower()}"] + mode_overrides(mode, workload, dev))
    if workload.recipe in ("pix2pix", "cyclegan"):
        # a real run's data pipeline loads albumentations and OpenCV (their memory counts), even
        # though the benchmark feeds synthetic tensors instead of decoded images
        from gantool.data.paired import view_transform

        view_transform("resize_and_crop", cfg.data.image_size, 0, True, True)
    seed_everything(0)
    dataset = SyntheticImages(workload.recipe, cfg.data.image_size, cfg.data.channels)
    recipe = RECIPES.get(workload.recipe)(cfg, workload.meta)
    trainer = Trainer(cfg, recipe, dataset, run_dir="/nonexistent-benchmark-run", quiet=True)
    times = []
    for i in range(warmup + iters):
        sync(dev)
        start = time.perf_counter()
        trainer.train_step(want_norms=False)
        sync(dev)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"workload": name, "mode": mode, "what": "train", "precision": cfg.train.precision,
            "channels_last": cfg.train.channels_last, "compile": compile_networks, "batch_size": batch_size,
            "s_per_it": median, "images_per_s": batch_size / median, "iters": iters, "warmup": warmup,
            "spread_s": [min(times), max(times)], "device": str(dev), **peak_memory_gb(dev)}


def measure_translate(name: str, mode: str, iters: int, warmup: int, device: str, height: int, width: int,
                      batch_size: int) -> dict:
    """Images per second of `Translator` (the network part of `gantool translate`) at H x W."""
    import gantool.recipes  # noqa: F401  (registers the recipes' configs)
    from gantool.config import apply_overrides, default_config
    from gantool.networks import GENERATORS
    from gantool.trainer import autocast_dtype, resolve_device
    from gantool.translate import Translator

    workload = WORKLOADS[name]
    dev = resolve_device(device)
    cfg = apply_overrides(default_config(workload.recipe), workload.overrides)
    m = cfg.model
    kwargs = {"norm": m.norm, "dropout": m.dropout} if workload.recipe == "pix2pix" else {}
    torch.manual_seed(0)
    generator = GENERATORS.get(m.generator)(in_channels=3, out_channels=3, ngf=m.ngf, **kwargs).to(dev).eval()
    optimised = mode == "optimised"
    overrides = mode_overrides(mode, workload, dev)
    precision = next(o.split("=")[1] for o in overrides if o.startswith("train.precision="))
    if optimised and workload.channels_last:
        generator = generator.to(memory_format=torch.channels_last)
    translator = Translator(generator, 3, 3, generator.size_multiple, dev, cfg,
                            amp_dtype=autocast_dtype(precision, dev),
                            channels_last=optimised and workload.channels_last)
    images = torch.rand(batch_size, 3, height, width) * 2 - 1
    times = []
    for i in range(warmup + iters):
        sync(dev)
        start = time.perf_counter()
        if optimised:
            translator(images)
        else:  # the plain path: fp32, autograd bookkeeping off but not inference mode
            with torch.no_grad():
                generator(images.to(dev))
        sync(dev)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"workload": name, "mode": mode, "what": f"translate {width}x{height}", "precision": precision,
            "batch_size": batch_size, "s_per_batch": median, "images_per_s": batch_size / median,
            "iters": iters, "device": str(dev), **peak_memory_gb(dev)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), required=True)
    parser.add_argument("--mode", choices=["baseline", "optimised"], required=True)
    parser.add_argument("--what", default="train", help="train, or translate:HxW")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args(argv)
    if args.what == "train":
        result = measure_training(args.workload, args.mode, args.iters, args.warmup, args.batch_size, args.device,
                                  args.compile)
    else:
        height, width = (int(v) for v in args.what.split(":")[1].split("x"))
        result = measure_translate(args.workload, args.mode, args.iters, args.warmup, args.device, height, width,
                                   args.batch_size)
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
