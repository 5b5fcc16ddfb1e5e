"""Root command group. Subcommands live in one module per family and only parse, call, report."""

from __future__ import annotations

import sys

import click

from gantool_cli import data, demo, edit, evaluate, infer, interop, pretrained, report, serve, train


class GantoolGroup(click.Group):
    """Turns library errors into one-line messages (tracebacks only with --debug)."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except Exception as err:  # noqa: BLE001
            from gantool.errors import GantoolError

            if isinstance(err, BrokenPipeError):  # `gantool ... | head`: the reader has all it wanted
                import os

                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                sys.exit(1)
            debug = bool(ctx.meta.get("gantool.debug"))
            if debug and getattr(err, "details", None):
                click.echo(err.details, err=True)
            if debug or isinstance(err, (click.exceptions.Exit, click.exceptions.Abort, click.ClickException)):
                raise
            if isinstance(err, GantoolError):
                raise click.ClickException(str(err)) from None
            if isinstance(err, MemoryError) or "out of memory" in str(err).lower():
                raise click.ClickException(
                    "out of memory: use a smaller --batch-size or image size (run with --debug for details)"
                ) from None
            raise click.ClickException(
                f"{type(err).__name__}: {err} (this looks like a bug in gantool; rerun with --debug for the traceback)"
            ) from None


@click.group(cls=GantoolGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="gantool")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """gantool: train GANs on image folders and apply them to new images.

    \b
    Quick tour:
      gantool demo                                  train a digit GAN on built-in data
      gantool train cgan --data mnist --data-root DIR
      gantool generate runs/cgan/checkpoints/latest.pt --label 7 --n 16 --out sevens.png
      gantool interpolate CKPT --label 3 --steps 10 --out interp.png
      gantool train encoder runs/cgan               learn image -> code for a digit GAN
      gantool edit my_seven.png --checkpoint runs/cgan --to all --out sevens.png
      gantool train pix2pix --data facades/train --direction BtoA --size 128
      gantool translate photos/ --checkpoint runs/pix2pix --out-dir out/
      gantool eval runs/cgan --data ../shared/data/mnist
      gantool report runs/cgan                      plots and an HTML page of a run
    """
    ctx.meta["gantool.debug"] = debug
    _show_library_warnings()


def _show_library_warnings() -> None:
    """The library's warnings (skipped files, ...) as one `warning: ...` line each on stderr."""
    import logging

    logger = logging.getLogger("gantool")
    for handler in [h for h in logger.handlers if getattr(h, "gantool_cli", False)]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(click.get_text_stream("stderr"))
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    handler.gantool_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


cli.add_command(train.train)
cli.add_command(infer.generate)
cli.add_command(infer.interpolate)
cli.add_command(infer.export)
cli.add_command(infer.translate)
cli.add_command(edit.edit)
cli.add_command(edit.invert)
cli.add_command(demo.demo)
cli.add_command(data.data)
cli.add_command(evaluate.evaluate)
cli.add_command(report.report)
cli.add_command(pretrained.pretrained)
cli.add_command(interop.import_model)
cli.add_command(serve.serve)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(cli())
