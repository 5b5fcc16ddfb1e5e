"""One workload in one mode, in its own process (peak RSS is per process): prints one JSON line.

    python -m benchmarks.measure --workload pix2pix256 --mode optimised --iters 20 --warmup 3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import statistics
import sys
import time

from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.workloads import WORKLOADS


def mode_overrides(mode: str, workload, device: torch.device) -> list[str]:
    """baseline: gantool at its defaults in fp32 (what `gantool train` runs); optimised: bf16 where
    the hardware has it and the workload's memory layout. (The bare loop takes no options.)"""
    if mode in ("baseline", "bare", "bare-fused"):
        return ["train.precision=fp32"]
    from gantool.trainer import has_fast_bf16

    return [f"train.precision={'bf16' if has_fast_bf16(device) else 'fp32'}",
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


def write_image_folder(recipe: str, size: int, folder: Path, count: int = 16) -> list[str]:
    """Smooth random images on disk in the recipe's layout (JPEG, as photos come), so the gantool rows
    decode, resize, crop and flip every batch as a real run does; the config overrides that read them."""
    from PIL import Image

    generator = torch.Generator().manual_seed(0)

    def picture(width: int) -> Image.Image:
        coarse = torch.rand(1, 3, size // 8, width // 8, generator=generator)
        image = F.interpolate(coarse, size=(size, width), mode="bilinear", align_corners=False)[0]
        return Image.fromarray((image.permute(1, 2, 0) * 255).byte().numpy())

    # pix2pix: A|B side by side in one folder; unpaired recipes: trainA/ and trainB/
    layout = {folder: 2 * size} if recipe == "pix2pix" else {folder / "trainA": size, folder / "trainB": size}
    for target, width in layout.items():
        target.mkdir(exist_ok=True)
        for i in range(count):
            picture(width).save(target / f"{i}.jpg", quality=95)
    return [f"data.root={folder}"]


def training_config(name: str, mode: str, batch_size: int, dev: torch.device, compile_networks: bool, extra=()):
    from gantool.config import apply_overrides, default_config

    workload = WORKLOADS[name]
    return apply_overrides(default_config(workload.recipe), workload.overrides + [
        f"data.batch_size={batch_size}", f"train.device={dev}", f"train.compile={str(compile_networks).lower()}",
        *extra] + mode_overrides(mode, workload, dev))


def time_bare_loop(name: str, adam: str, iters: int, warmup: int, batch_size: int,
                   dev: torch.device) -> tuple[list[float], object]:
    from benchmarks.bare_loop import bare_step, batches_in_memory
    from gantool.recipes import RECIPES
    from gantool.trainer import seed_everything

    workload = WORKLOADS[name]
    cfg = training_config(name, "bare", batch_size, dev, False)
    seed_everything(0)
    recipe = RECIPES.get(workload.recipe)(cfg, workload.meta).to(dev)
    recipe.train()
    step = bare_step(recipe, cfg, adam)
    batches = batches_in_memory(workload.recipe, cfg.data.image_size, cfg.data.channels, batch_size)
    batches = ({k: v.to(dev) for k, v in batch.items()} for batch in batches)
    stamps = []
    for _ in range(warmup + iters + 1):
        sync(dev)
        stamps.append(time.perf_counter())
        step(next(batches))
    return stamps, cfg


def time_gantool_loop(name: str, mode: str, iters: int, warmup: int, batch_size: int, dev: torch.device,
                      compile_networks: bool) -> tuple[list[float], object]:
    """`Trainer.fit` as `gantool train` runs it (data decoded from disk, logging, statistics, EMA and
    every cadence at the recipe's defaults), timed at the start of each iteration."""
    import tempfile

    from gantool.recipes import RECIPES
    from gantool.trainer import Trainer, seed_everything

    workload = WORKLOADS[name]
    with tempfile.TemporaryDirectory(prefix="gantool-bench-") as folder:
        data = [] if workload.recipe == "cgan" else write_image_folder(
            workload.recipe, _image_size(name), Path(folder))
        cfg = training_config(name, mode, batch_size, dev, compile_networks,
                              [*data, f"train.steps={warmup + iters + 1}"])
        seed_everything(0)
        recipe_cls = RECIPES.get(workload.recipe)
        dataset, val_dataset, meta = recipe_cls.build_data(cfg)
        recipe = recipe_cls(cfg, {**meta, **workload.meta})
        (Path(folder) / "run").mkdir()
        trainer = Trainer(cfg, recipe, dataset, run_dir=Path(folder) / "run", quiet=True, val_dataset=val_dataset)
        stamps: list[float] = []
        train_step = trainer.train_step

        def stamped(want_norms: bool):
            sync(dev)
            stamps.append(time.perf_counter())
            return train_step(want_norms)

        trainer.train_step = stamped
        trainer.fit()
    return stamps, cfg


def _image_size(name: str) -> int:
    size = next(o for o in WORKLOADS[name].overrides if o.startswith("data.image_size=")).split("=")[1]
    return int(size)


def measure_training(name: str, mode: str, iters: int, warmup: int, batch_size: int, device: str,
                     compile_networks: bool) -> dict:
    """Seconds per iteration: the time from the start of iteration `warmup` to the start of
    iteration `warmup + iters`, divided by `iters` (everything the loop does in between counts),
    and the median of the single iterations."""
    from gantool.trainer import resolve_device

    dev = resolve_device(device)
    if mode.startswith("bare"):
        stamps, cfg = time_bare_loop(name, "fused" if mode == "bare-fused" else "default", iters, warmup,
                                     batch_size, dev)
    else:
        stamps, cfg = time_gantool_loop(name, mode, iters, warmup, batch_size, dev, compile_networks)
    window = stamps[warmup:warmup + iters + 1]
    singles = [b - a for a, b in zip(window, window[1:])]
    per_it = (window[-1] - window[0]) / iters
    return {"workload": name, "mode": mode, "what": "train", "precision": cfg.train.precision,
            "channels_last": cfg.train.channels_last, "compile": compile_networks, "batch_size": batch_size,
            "s_per_it": per_it, "median_s_per_it": statistics.median(singles), "images_per_s": batch_size / per_it,
            "iters": iters, "warmup": warmup, "spread_s": [min(singles), max(singles)], "device": str(dev),
            **peak_memory_gb(dev)}


def translate_generator(name: str):
    """The workload's generator at its real size, with the same random weights in every process."""
    import gantool.recipes  # noqa: F401  (registers the recipes' configs)
    from gantool.config import apply_overrides, default_config
    from gantool.networks import GENERATORS

    workload = WORKLOADS[name]
    cfg = apply_overrides(default_config(workload.recipe), workload.overrides)
    m = cfg.model
    kwargs = {"norm": m.norm, "dropout": m.dropout} if workload.recipe == "pix2pix" else {}
    torch.manual_seed(0)
    return cfg, GENERATORS.get(m.generator)(in_channels=3, out_channels=3, ngf=m.ngf, **kwargs).eval()


def export_onnx(name: str, path: str) -> None:
    """The workload's generator as an ONNX file (run in a child process: the export's memory is
    not the runtime's)."""
    from gantool.interop.deploy import translation_deployable
    from gantool.interop.onnx_format import write_onnx

    _, generator = translate_generator(name)
    write_onnx(translation_deployable(generator, "running"), path)


def measure_translate(name: str, mode: str, iters: int, warmup: int, device: str, height: int, width: int,
                      batch_size: int) -> dict:
    """Images per second of `Translator` (the network part of `gantool translate`) at H x W.

    Modes: baseline (the bare generator under no_grad), optimised (bf16 where fast, inference
    mode), torch (`gantool translate`'s default: fp32 Translator), onnxruntime (the same
    Translator running the generator exported to ONNX: `translate --checkpoint model.onnx`)."""
    import os
    import subprocess
    import tempfile

    from gantool.trainer import autocast_dtype, resolve_device
    from gantool.translate import Translator

    workload = WORKLOADS[name]
    dev = resolve_device(device)
    cfg, generator = translate_generator(name)
    generator = generator.to(dev)
    optimised = mode == "optimised"
    overrides = mode_overrides("baseline" if mode in ("torch", "onnxruntime") else mode, workload, dev)
    precision = next(o.split("=")[1] for o in overrides if o.startswith("train.precision="))
    if mode == "onnxruntime":
        from gantool.interop.onnx_format import OnnxNetwork

        folder = tempfile.mkdtemp(prefix="gantool-bench-")
        path = os.path.join(folder, f"{name}.onnx")
        subprocess.run([sys.executable, "-m", "benchmarks.measure", "--workload", name, "--export-onnx", path],
                       check=True)
        del generator  # the process holds what `translate --checkpoint model.onnx` holds: no torch weights
        network = OnnxNetwork(path, dev)
        translator = Translator(network, 3, 3, network.info["size_multiple"], network.device, cfg)
        os.unlink(path)
        os.rmdir(folder)
    else:
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
        if mode == "baseline":  # the plain path: fp32, autograd bookkeeping off but not inference mode
            with torch.no_grad():
                generator(images.to(dev))
        else:
            translator(images)
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
    parser.add_argument("--mode", choices=["bare", "bare-fused", "baseline", "optimised", "torch", "onnxruntime"])
    parser.add_argument("--what", default="train", help="train, or translate:HxW")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--channels-last", choices=["workload", "on", "off"], default="workload",
                        help="optimised mode's memory layout: the workload's choice (default), or forced")
    parser.add_argument("--export-onnx", metavar="PATH", help="Only write the workload's generator as ONNX to PATH.")
    args = parser.parse_args(argv)
    if args.export_onnx:
        export_onnx(args.workload, args.export_onnx)
        return
    if args.mode is None:
        parser.error("--mode is required")
    if args.channels_last != "workload":
        WORKLOADS[args.workload] = dataclasses.replace(WORKLOADS[args.workload], channels_last=args.channels_last == "on")
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
