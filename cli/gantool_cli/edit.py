"""`gantool edit` and `gantool invert`: real images back to a class-conditional generator's code."""

from __future__ import annotations

from pathlib import Path

import click

from gantool_cli.options import CHECKPOINT, DEVICE_HELP

CHECKPOINT_HELP = ("An encoder (run folder or .pt of `gantool train encoder`), or the cgan it was trained for: its "
                   "encoder is then found under ./runs or beside the cgan's run folder.")


def _inputs_and_output(images: tuple[Path, ...], out: Path, overwrite: bool) -> list[Path]:
    from gantool.errors import GantoolError
    from gantool.translate import collect_inputs
    from gantool.utils import require_writable_folder

    paths = [path for path, _ in collect_inputs(images)]
    if out.resolve() in {p.resolve() for p in paths}:
        raise GantoolError(f"--out {out} is one of the input images; choose another --out")
    if out.exists() and not overwrite:
        raise GantoolError(f"{out} exists; pass --overwrite to replace it or choose another --out")
    require_writable_folder(out.parent, "--out")
    return paths


def _load(checkpoint: Path, device: str):
    from gantool.editing import load_editor
    from gantool.training.device import resolve_device

    editor = load_editor(checkpoint, resolve_device(device))
    for note in editor.notes:
        click.echo(note, err=True)
    return editor


def _report_inputs(paths: list[Path], notes: list[str], readings: list[str]) -> None:
    for path, note, reading in zip(paths, notes, readings):
        click.echo(f"{path}: {note}; {reading}")


common = [
    click.option("--checkpoint", required=True, type=CHECKPOINT, help=CHECKPOINT_HELP),
    click.option("--label", help="The class of every input (name or index) [default: read by the digit judge]."),
    click.option("--as-is", is_flag=True,
                 help="Use the images as they are (resized to the model's size) instead of preparing them as MNIST "
                      "digits (light on dark, centred by mass in a 20x20 box of 28x28)."),
    click.option("--device", default="auto", show_default=True, help=DEVICE_HELP),
    click.option("--overwrite", is_flag=True, help="Replace existing output files (inputs are never overwritten)."),
]


def _common(func):
    for option in reversed(common):
        func = option(func)
    return func


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@_common
@click.option("--to", "to", default="all", show_default=True,
              help="The classes to draw each input as: a class, a comma-separated list, or all.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("edits.png"), show_default=True,
              help="Grid PNG, one row per input: input | reconstruction | each class of --to.")
@click.option("--refine-steps", type=click.IntRange(min=0), default=0, show_default=True,
              help="Refine the encoder's code by this many gradient steps (as gantool invert) before editing.")
def edit(images, checkpoint, label, as_is, device, overwrite, to, out, refine_steps) -> None:
    """Draw real IMAGES (files or folders) as other classes, keeping their style.

    Each image is encoded to the generator's code z by the encoder, its class y is read by the
    digit judge (or given with --label), and G(z, k) draws it as each class k of --to.

    \b
    Examples:
      gantool edit my_seven.png --checkpoint runs/encoder --to all --out sevens_as_every_digit.png
      gantool edit scans/ --checkpoint runs/cgan --to 0,1,2 --out edits.png
    """
    from gantool.editing import invert, prepare_inputs
    from gantool.utils import save_image_grid

    paths = _inputs_and_output(images, out, overwrite)
    editor = _load(checkpoint, device)
    targets = editor.targets(to)
    inputs, notes = prepare_inputs(paths, editor, as_is)
    labels, readings = editor.read_classes(inputs, label)
    z = invert(editor, inputs, labels, steps=refine_steps).z if refine_steps else None
    grid = editor.edit_grid(inputs, labels, targets, z)
    save_image_grid(grid, out, 2 + len(targets))
    _report_inputs(paths, notes, readings)
    names = " ".join(editor.sampler.class_names[k] for k in targets)
    click.echo(f"wrote {out}: {len(paths)} row(s) of input | reconstruction | {names}"
               + (f" (codes refined by {refine_steps} steps)" if refine_steps else ""))


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@_common
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("inverted.png"), show_default=True,
              help="Grid PNG, one row per input: input | G(encoder's z) | G(refined z). Beside it: OUT_loss.png "
                   "(the loss curve) and OUT.json (codes, classes, losses per step).")
@click.option("--steps", type=click.IntRange(min=0), default=300, show_default=True,
              help="Gradient steps on z after the encoder's guess.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.05, show_default=True,
              help="Adam learning rate of the refinement.")
@click.option("--feature-weight", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Weight of the digit-judge feature distance beside the pixel MSE (digit models with a cached "
                   "judge); 0: pixels alone.")
def invert(images, checkpoint, label, as_is, device, overwrite, out, steps, lr, feature_weight) -> None:
    """Find the generator's code for real IMAGES: the encoder's guess, refined by gradient descent.

    \b
    Examples:
      gantool invert my_seven.png --checkpoint runs/encoder --out recon.png
      gantool invert my_seven.png --checkpoint runs/cgan --steps 500 --out recon.png
    """
    import json

    import torch

    from gantool.checkpoint import atomic_write
    from gantool.editing import invert as refine
    from gantool.editing import prepare_inputs, write_loss_curve
    from gantool.errors import GantoolError
    from gantool.utils import save_image_grid

    paths = _inputs_and_output(images, out, overwrite)
    extras = [out.with_name(f"{out.stem}_loss.png"), out.with_suffix(".json")]
    for extra in extras:
        if extra.resolve() in {p.resolve() for p in paths} or (extra.exists() and not overwrite):
            raise GantoolError(f"{extra} exists or is an input; pass --overwrite or choose another --out")
    editor = _load(checkpoint, device)
    inputs, notes = prepare_inputs(paths, editor, as_is)
    labels, readings = editor.read_classes(inputs, label)
    result = refine(editor, inputs, labels, steps=steps, lr=lr, feature_weight=feature_weight)
    grid = torch.stack([inputs.float(), editor.generate(result.start, labels), editor.generate(result.z, labels)], 1)
    save_image_grid(grid.flatten(0, 1), out, 3)
    write_loss_curve(result.curve, extras[0])
    record = {"checkpoint": str(editor.checkpoint), "generator": editor.generator["path"],
              "generator_sha256": editor.generator["sha256"], "steps": steps, "lr": lr,
              "feature_weight": feature_weight,
              "images": [{"file": str(p), "class": editor.sampler.class_names[int(c)], "z_encoder": s.tolist(),
                          "z": z.tolist()} for p, c, s, z in zip(paths, labels, result.start, result.z)],
              "curve": result.curve}
    text = json.dumps(record, indent=1).encode()
    atomic_write(extras[1], lambda f: f.write(text), size_hint=len(text))
    _report_inputs(paths, notes, readings)
    first, last = result.curve[0], result.curve[-1]
    features = (f", judge-feature MSE {first['feature_mse']:.4f} -> {last['feature_mse']:.4f}" if result.features
                else ", pixels alone")
    click.echo(f"loss {first['loss']:.4f} -> {last['loss']:.4f} in {steps} steps (pixel MSE {first['pixel_mse']:.4f} "
               f"-> {last['pixel_mse']:.4f}{features})")
    click.echo(f"wrote {out} (input | encoder | refined), {extras[0].name} and {extras[1].name}")
