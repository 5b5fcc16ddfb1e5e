"""`gantool import`: the reference implementation's models as gantool checkpoints."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The gantool checkpoint to write (.pt).")
@click.option("--recipe", type=click.Choice(["pix2pix", "cyclegan"]),
              help="What the model is [default: train_opt.txt's model, else cyclegan for a G_A + G_B pair or a "
                   "ResNet generator, pix2pix for a U-Net].")
@click.option("--direction", type=click.Choice(["AtoB", "BtoA"]),
              help="Which side of its training pairs the model reads [default: train_opt.txt's, else AtoB].")
@click.option("--dropout/--no-dropout", default=None,
              help="Whether the U-Net was built with dropout (its tensors cannot tell) [default: train_opt.txt's "
                   "no_dropout, else on for pix2pix, off for CycleGAN].")
@click.option("--epoch", help="In a checkpoint folder: use EPOCH_net_*.pth instead of latest_net_*.pth.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out.")
def import_model(paths, out, recipe, direction, dropout, epoch, overwrite) -> None:
    """Turn reference pix2pix/CycleGAN weights into a gantool checkpoint.

    PATHS: a generator .pth (what the published models are), two for a CycleGAN pair (named *G_A* and
    *G_B*, or A->B first), optional *net_D*.pth beside them, or a reference checkpoint folder
    (checkpoints/NAME/ with latest_net_G.pth or latest_net_G_A.pth + latest_net_G_B.pth, and
    train_opt.txt). The architecture is read off the tensors; the result translates, evaluates,
    exports and fine-tunes (train --init-from) like any gantool checkpoint.

    \b
    Examples:
      gantool import checkpoints/horse2zebra_cyclegan/ --out horse2zebra.pt
      gantool import latest_net_G.pth --recipe pix2pix --direction BtoA --out facades.pt
    """
    from gantool.checkpoint import save_checkpoint
    from gantool.errors import GantoolError
    from gantool.interop.reference import import_reference

    if out.exists() and not overwrite:
        raise GantoolError(f"{out} exists; pass --overwrite to replace it or choose another --out")
    if any(out.resolve() == Path(p).resolve() for p in paths):
        raise GantoolError(f"--out {out} is one of the inputs; choose another --out")
    state, report = import_reference(list(paths), recipe=recipe, direction=direction, dropout=dropout, epoch=epoch)
    save_checkpoint(state, out)
    click.echo(str(report))
    directions = state["meta"]["directions"]
    click.echo(f"wrote {out} ({state['recipe']}, {' and '.join(directions)})")
    click.echo(f"next: gantool translate IMAGE --checkpoint {out}")
