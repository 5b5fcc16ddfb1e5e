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
@click.option("--label", default="all", show_default=True,
              help="Class to draw (name such as 7 or cat, or index), or 'all' for one row per class.")
@click.option("--n", "count", type=click.IntRange(min=1), default=16, show_default=True,
              help="Samples (with --label all: samples per class).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Grid PNG to write [default: samples.png].")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), help="Write one PNG per sample here instead.")
@click.option("--seed", type=int, default=0, show_default=True, help="Noise seed (same seed, same images).")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
def generate(checkpoint, label, count, out, out_dir, seed, device, overwrite) -> None:
    """Draw samples of a class from a class-conditional CHECKPOINT (a .pt file, run folder or export).

    \b
    Examples:
      gantool generate runs/cgan --label 7 --n 16 --out sevens.png
      gantool generate runs/cgan --label all --n 10 --out grid.png
      gantool generate runs/cgan --label 3 --n 100 --out-dir threes/
    """
    import torch

    from gantool.inference import grid_rows, load_sampler
    from gantool.training.device import resolve_device
    from gantool.utils import save_image_grid, save_png, to_uint8

    if out is not None and out_dir is not None:
        raise click.UsageError("give --out (one grid) or --out-dir (one file per sample), not both")
    sampler = load_sampler(checkpoint, resolve_device(device))
    if label == "all":
        labels = torch.arange(sampler.num_classes).repeat_interleave(count)
        per_row = count
    else:
        labels = torch.full((count,), sampler.label_index(label), dtype=torch.long)
        per_row = grid_rows(count)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        names = [f"{sampler.class_names[int(c)]}_{i:05d}.png" for i, c in enumerate(labels)]
        for name in names:
            _check_writable(out_dir / name, overwrite)
        images = to_uint8(sampler.sample(labels, seed=seed))
        for image, name in zip(images, names):
            save_png(image, out_dir / name)
        click.echo(f"wrote {len(names)} images to {out_dir}")
        return
    out = out or Path("samples.png")
    _check_writable(out, overwrite)
    save_image_grid(sampler.sample(labels, seed=seed), out, per_row)
    click.echo(f"wrote {out} ({len(labels)} samples)")


@click.command()
@click.argument("checkpoint", type=CHECKPOINT)
@click.option("--label", required=True, help="Class to draw (name or index).")
@click.option("--steps", type=click.IntRange(min=2), default=10, show_default=True, help="Images along each walk.")
@click.option("--pairs", type=click.IntRange(min=1), default=4, show_default=True, help="Walks between random code pairs.")
@click.option("--mode", type=click.Choice(["both", "linear", "slerp"]), default="both", show_default=True,
              help="Interpolation in latent space; 'both' shows a linear row then a slerp row per pair.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("interp.png"), show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def interpolate(checkpoint, label, steps, pairs, mode, out, seed, device, overwrite) -> None:
    """Walk between latent codes of one class (Figure 3 of Goodfellow et al. 2014).

    Each row morphs one random code into another while the class stays fixed.
    """
    import torch

    from gantool.inference import interpolation_codes, load_sampler
    from gantool.training.device import resolve_device
    from gantool.utils import save_image_grid

    _check_writable(out, overwrite)
    sampler = load_sampler(checkpoint, resolve_device(device))
    index = sampler.label_index(label)
    ends = sampler.noise(2 * pairs, seed)
    modes = ["linear", "slerp"] if mode == "both" else [mode]
    codes = torch.cat([interpolation_codes(ends[2 * p], ends[2 * p + 1], steps, m) for p in range(pairs) for m in modes])
    labels = torch.full((len(codes),), index, dtype=torch.long)
    save_image_grid(sampler.sample(labels, z=codes), out, steps)
    click.echo(f"wrote {out} ({pairs * len(modes)} rows of {steps}: {', '.join(modes)})")


@click.command()
@click.argument("checkpoint", type=CHECKPOINT)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for generator.safetensors and generator.json.")
@click.option("--no-ema", is_flag=True, help="Export the raw generator weights instead of their EMA.")
@click.option("--format", "format_", type=click.Choice(["safetensors", "reference"]), default="safetensors",
              show_default=True,
              help="safetensors: generator.safetensors + generator.json; reference: latest_net_G*.pth (and "
                   "latest_net_D*.pth) that pytorch-CycleGAN-and-pix2pix's test.py loads, with the flags it "
                   "needs in test_options.txt.")
def export(checkpoint, out_dir, no_ema, format_) -> None:
    """Export the generator of CHECKPOINT (no optimizer state, no pickle)."""
    if format_ == "reference":
        from gantool.interop.reference import export_reference

        files = export_reference(checkpoint, out_dir)
        click.echo(f"exported for the reference implementation to {out_dir}: {', '.join(f.name for f in files)}")
        return
    from gantool.checkpoint import export_generator

    path = export_generator(checkpoint, out_dir, use_ema=not no_ema)
    click.echo(f"exported generator to {path}")


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--checkpoint", type=CHECKPOINT,
              help="A translation checkpoint (.pt, run folder, export, or pretrained:NAME from `gantool pretrained "
                   "get`); it says what the model is [default: the newest pix2pix/cyclegan run under ./runs].")
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
                   "with batch size 1 (auto).")
@click.option("--direction", type=click.Choice(["a2b", "b2a"]), default="a2b", show_default=True,
              help="CycleGAN: A -> B with G, or B -> A with F. pix2pix has only its training direction (a2b).")
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
    """Translate INPUT images (files and folders, any size) with a trained pix2pix or CycleGAN model.

    \b
    Examples:
      gantool translate photo.jpg                        # the newest pix2pix/cyclegan run under ./runs
      gantool translate sketch.png --checkpoint pretrained:edges2shoes
      gantool translate photo.jpg --checkpoint runs/pix2pix
      gantool translate maps/val/ --checkpoint runs/maps --out-dir maps_out --batch-size 8
      gantool translate night_photos/ --checkpoint runs/day2night --direction b2a --out-dir as_day
    """
    from tqdm.auto import tqdm

    from gantool.training.device import resolve_device
    from gantool.translate import batches_by_shape, collect_inputs, load_translator
    from gantool.utils import plan_outputs, save_png, to_uint8

    if size != "auto" and not size.isdigit():
        raise click.BadParameter("use auto or a number of pixels", param_hint="--size")
    work_size = None if size == "auto" else int(size)
    if checkpoint is None:
        from gantool.run import newest_checkpoint
        from gantool.translate import translation_recipes

        checkpoint = newest_checkpoint(translation_recipes())
        click.echo(f"using the newest translation checkpoint under runs/: {checkpoint}", err=True)
    translator = load_translator(checkpoint, resolve_device(device), dropout=dropout, bn_stats=bn_stats, tile=tile,
                                 direction=direction, precision=precision, channels_last=channels_last)
    found = collect_inputs(inputs)
    plan = plan_outputs(found, out_dir, overwrite, skip_existing=skip_existing)
    kept = len(found) - len(plan)
    from gantool.storage import DiskFullError

    written = 0
    with tqdm(total=len(plan), disable=quiet, unit="img", desc="translate") as bar:
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
