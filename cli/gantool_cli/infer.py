"""`gantool generate`, `gantool interpolate`, `gantool export`: use a trained generator."""

from __future__ import annotations

from pathlib import Path

import click

from gantool_cli.options import CHECKPOINT, DEVICE_HELP


def _check_writable(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise click.ClickException(f"{path} exists; pass --overwrite to replace it or choose another --out")


@click.command()
@click.argument("checkpoint", type=CHECKPOINT)
@click.option("--label", help="cgan: class to draw (name such as 7 or cat, or index), or 'all' for one row per "
                             "class [default: all]. An unconditional (gan) model has no classes: leave it out.")
@click.option("--n", "count", type=click.IntRange(min=1), default=16, show_default=True,
              help="Samples (with --label all: samples per class).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Grid PNG to write [default: samples.png].")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), help="Write one PNG per sample here instead.")
@click.option("--seed", type=int, default=0, show_default=True, help="Noise seed (same seed, same images).")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
def generate(checkpoint, label, count, out, out_dir, seed, device, overwrite) -> None:
    """Draw samples from a CHECKPOINT (a .pt file, run folder or export): of a class from a
    class-conditional (cgan) model, or from an unconditional (gan) one.

    \b
    Examples:
      gantool generate runs/gan --n 64 --out samples.png
      gantool generate runs/cgan --label 7 --n 16 --out sevens.png
      gantool generate runs/cgan --label all --n 10 --out grid.png
      gantool generate runs/cgan --label 3 --n 100 --out-dir threes/
    """
    from gantool.inference import grid_labels, load_sampler
    from gantool.safe_paths import inside, safe_filename
    from gantool.training.device import resolve_device
    from gantool.utils import save_image_grid, save_png, to_uint8

    if out is not None and out_dir is not None:
        raise click.UsageError("give --out (one grid) or --out-dir (one file per sample), not both")
    sampler = load_sampler(checkpoint, resolve_device(device))
    if sampler.num_classes == 0 and label is not None:
        raise click.UsageError(f"{checkpoint} is an unconditional (gan) model: it has no classes, leave out --label")
    labels, per_row = grid_labels(sampler, label or "all", count)
    if sampler.num_classes == 0:
        names = [f"sample_{i:05d}.png" for i in range(count)]
    else:
        # class names come from the checkpoint, which may be a stranger's: "../../x" must stay a file name
        names = [f"{safe_filename(sampler.class_names[int(c)], 'class')}_{i:05d}.png" for i, c in enumerate(labels)]

    def draw():  # noqa: ANN202
        return sampler.sample(labels, seed=seed)

    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            _check_writable(inside(out_dir, out_dir / name), overwrite)
        for image, name in zip(to_uint8(draw()), names):
            save_png(image, out_dir / name)
        click.echo(f"wrote {len(names)} images to {out_dir}")
        return
    out = out or Path("samples.png")
    _check_writable(out, overwrite)
    save_image_grid(draw(), out, per_row)
    click.echo(f"wrote {out} ({len(names)} samples)")


@click.command()
@click.argument("checkpoint", type=CHECKPOINT)
@click.option("--label", help="cgan: the class to draw (name or index; required). Leave it out for a gan model.")
@click.option("--steps", type=click.IntRange(min=2), default=10, show_default=True, help="Images along each walk.")
@click.option("--pairs", type=click.IntRange(min=1), default=4, show_default=True, help="Walks between random code pairs.")
@click.option("--mode", type=click.Choice(["both", "linear", "slerp"]), default="both", show_default=True,
              help="Interpolation in latent space; 'both' shows a linear row then a slerp row per pair.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("interp.png"), show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def interpolate(checkpoint, label, steps, pairs, mode, out, seed, device, overwrite) -> None:
    """Walk between latent codes (Figure 3 of Goodfellow et al. 2014), of one class for a cgan model.

    Each row morphs one random code into another (while the class stays fixed).

    \b
    Examples:
      gantool interpolate runs/gan --mode linear --pairs 6 --out walks.png
      gantool interpolate runs/cgan --label 3 --out threes.png
    """
    from gantool.inference import interpolation_walks, load_sampler
    from gantool.training.device import resolve_device
    from gantool.utils import save_image_grid

    _check_writable(out, overwrite)
    sampler = load_sampler(checkpoint, resolve_device(device))
    if sampler.num_classes == 0 and label is not None:
        raise click.UsageError(f"{checkpoint} is an unconditional (gan) model: it has no classes, leave out --label")
    if sampler.num_classes > 0 and label is None:
        raise click.UsageError("Missing option '--label': a class-conditional model walks within one class")
    codes, labels, modes = interpolation_walks(sampler, label, steps, pairs, mode, seed)
    save_image_grid(sampler.sample(labels, z=codes), out, steps)
    click.echo(f"wrote {out} ({pairs * len(modes)} rows of {steps}: {', '.join(modes)})")


@click.command()
@click.argument("checkpoint", type=CHECKPOINT)
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="safetensors, reference: the folder to write; onnx: the .onnx file; torchscript: the file "
                   "(e.g. generator.pt).")
@click.option("--format", "format_", type=click.Choice(["safetensors", "onnx", "torchscript", "reference"]),
              default="safetensors", show_default=True,
              help="safetensors: generator.safetensors + generator.json (every direction; gantool reads it back); "
                   "onnx: one network for ONNX Runtime and other runtimes (opset 18, free batch, height and width; "
                   "gantool translate --checkpoint runs it); torchscript: the same network for torch.jit.load / "
                   "LibTorch; reference: latest_net_G*.pth (and latest_net_D*.pth) that pytorch-CycleGAN-and-"
                   "pix2pix's test.py loads, with the flags it needs in test_options.txt.")
@click.option("--direction", type=click.Choice(["a2b", "b2a"]),
              help="onnx/torchscript of a CycleGAN: the generator to export [default: a2b].")
@click.option("--bn-stats", type=click.Choice(["auto", "running", "batch"]),
              help="onnx/torchscript: batch-norm statistics baked in, as gantool translate's --bn-stats (dropout is "
                   "always off) [default: auto: batch when trained with batch size 1, else running].")
@click.option("--no-ema", is_flag=True, help="Export the raw generator weights instead of their EMA.")
@click.option("--overwrite", is_flag=True, help="onnx/torchscript: replace an existing --out file.")
def export(checkpoint, out, format_, direction, bn_stats, no_ema, overwrite) -> None:
    """Export the generator of CHECKPOINT (no optimizer state, no pickle).

    An onnx or torchscript file says what it expects in its metadata (gantool's config, channels,
    value range [-1, 1], the size multiple of height and width, direction, batch-norm statistics).

    \b
    Examples:
      gantool export runs/pix2pix --out exported/
      gantool export runs/pix2pix --format onnx --out facades.onnx
      gantool export runs/day2night --format onnx --direction b2a --out night2day.onnx
      gantool export runs/cgan --format torchscript --out digits.pt
      gantool translate photos/ --checkpoint facades.onnx --out-dir out/
    """
    from gantool.interop.export import export_model

    files = export_model(checkpoint, out, format_, use_ema=not no_ema, direction=direction, bn_stats=bn_stats,
                         overwrite=overwrite)
    if format_ == "reference":
        click.echo(f"exported for the reference implementation to {out}: {', '.join(f.name for f in files)}")
    elif format_ == "safetensors":
        click.echo(f"exported generator to {out}")
    else:
        click.echo(f"exported {format_} to {files[0]}")


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--checkpoint", type=CHECKPOINT,
              help="A translation checkpoint (.pt, run folder, export, or pretrained:NAME from `gantool pretrained "
                   "get`), or a .onnx file from `gantool export --format onnx`, run with ONNX Runtime (on our 2-core "
                   "CPU 1.2-2.9x faster than the fp32 torch path, with more memory; see the README); it says what "
                   "the model is [default: the newest pix2pix/cyclegan/cut run under ./runs].")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("translated"),
              show_default=True, help="Where outputs go, as <input name>.png (folder structure kept).")
@click.option("--size", default="auto", show_default=True,
              help="auto: translate at each image's own resolution; N: resize to NxN for the network.")
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True,
              help="Images of one size translated together.")
@click.option("--tile", type=click.IntRange(min=64), default=1024, show_default=True,
              help="Images larger than this on a side are translated in overlapping tiles.")
@click.option("--dropout/--no-dropout", default=False, show_default=True,
              help="Keep dropout active at test time (pix2pix's noise source); off gives deterministic outputs.")
@click.option("--bn-stats", type=click.Choice(["auto", "running", "batch"]), default="auto", show_default=True,
              help="Batch-norm statistics: from training (running), per image (batch), or batch when trained "
                   "with batch size 1 (auto; an ONNX file: as exported).")
@click.option("--direction", type=click.Choice(["a2b", "b2a"]),
              help="CycleGAN: A -> B with G, or B -> A with F. pix2pix and CUT have only their training direction (a2b). "
                   "[default: a2b; an ONNX file: the direction it was exported with]")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16", "auto"]), default="fp32", show_default=True,
              help="bf16: faster on CPUs with AVX512-BF16/AMX and on recent GPUs; fp16: CUDA only; auto: bf16 where "
                   "the hardware has it. "
                   "Outputs differ from fp32 by less than one 8-bit level on most pixels.")
@click.option("--channels-last", is_flag=True, help="NHWC memory layout (faster for U-Nets under bf16).")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (inputs are never overwritten).")
@click.option("--skip-existing", is_flag=True,
              help="Keep outputs that already exist and decode, translate the rest: re-run an interrupted "
                   "translation with this to finish it (outputs are written whole or not at all).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def translate(inputs, checkpoint, out_dir, size, batch_size, tile, dropout, bn_stats, direction, device, precision,
              channels_last, overwrite, skip_existing, quiet) -> None:
    """Translate INPUT images (files and folders, any size) with a trained pix2pix, CycleGAN or CUT model.

    \b
    Examples:
      gantool translate photo.jpg                        # the newest pix2pix/cyclegan/cut run under ./runs
      gantool translate sketch.png --checkpoint pretrained:edges2shoes
      gantool translate photo.jpg --checkpoint runs/pix2pix
      gantool translate maps/val/ --checkpoint runs/maps --out-dir maps_out --batch-size 8
      gantool translate night_photos/ --checkpoint runs/day2night --direction b2a --out-dir as_day
    """
    from gantool.progress import progress
    from gantool.training.device import resolve_device
    from gantool.translate import batches_by_shape, collect_inputs, load_translator
    from gantool.utils import plan_outputs, save_png, to_uint8

    if size != "auto" and (not size.isdigit() or int(size) < 1):
        raise click.BadParameter(f"{size!r}: use auto or a positive number of pixels (e.g. 256)", param_hint="--size")
    work_size = None if size == "auto" else int(size)
    if checkpoint is None:
        from gantool.run import newest_checkpoint
        from gantool.translate import translation_recipes

        checkpoint = newest_checkpoint(translation_recipes())
        click.echo(f"using the newest translation checkpoint under runs/: {checkpoint}", err=True)
    onnx = checkpoint.suffix.lower() == ".onnx"  # ONNX Runtime picks its own device for auto
    translator = load_translator(checkpoint, device if onnx else resolve_device(device), dropout=dropout,
                                 bn_stats=bn_stats, tile=tile, direction=direction, precision=precision,
                                 channels_last=channels_last)
    found = collect_inputs(inputs, skip=out_dir)  # a second run must not take its own outputs for inputs
    plan = plan_outputs(found, out_dir, overwrite, skip_existing=skip_existing)
    kept = len(found) - len(plan)
    from gantool.storage import DiskFullError

    written = 0
    with progress(len(plan), desc="translate", unit="img", disable=quiet) as bar:
        for group, images in batches_by_shape(plan, translator, batch_size):
            outputs = to_uint8(translator(images, size=work_size))
            for (_, target), image in zip(group, outputs):
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    save_png(image, target)
                except DiskFullError as err:
                    raise click.ClickException(
                        f"{err}; {kept + written} of {len(found)} outputs are in {out_dir}, each complete; free "
                        "space, then rerun the same command with --skip-existing to translate the rest") from None
                written += 1
            bar.update(len(group))
    click.echo(f"translated {len(plan)} image(s) into {out_dir}"
               + (f" ({kept} already there and complete, kept)" if kept else ""))
