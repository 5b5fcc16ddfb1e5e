"""`gantool serve`: a local web page to translate, sketch and generate."""

from __future__ import annotations

import click

from gantool_cli.options import DEVICE_HELP


@click.command()
@click.argument("models", nargs=-1, metavar="[CHECKPOINT|RUN_DIR|runs/ ...]")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 opens the page to your network (no login: trusted networks only).")
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True)
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16", "auto"]), default="auto", show_default=True,
              help="Of the translation models: auto is bf16 where the hardware computes it natively, else fp32.")
@click.option("--max-size", type=click.IntRange(min=16), default=2048, show_default=True,
              help="Largest upload, in pixels on a side; larger ones get a message in the page.")
@click.option("--examples", "examples_dir", metavar="DIR",
              help="A folder of example input images for the Translate tab (the first 12, by name); the page "
                   "shows no examples otherwise.")
def serve(models, host, port, device, precision, max_size, examples_dir) -> None:
    """Serve a page to translate uploads and drawings and to generate samples with trained models.

    MODELS are checkpoints, run folders, exports, pretrained:NAME, or folders of runs (every run
    under them, newest first) [default: runs/]. Models load once; one model call runs at a time
    per device, the rest wait in Gradio's queue. Nothing is sent anywhere: no share link, no
    analytics.

    \b
    Examples:
      gantool serve runs/ pretrained:edges2shoes runs/cgan     # http://127.0.0.1:7860
      gantool serve runs/pix2pix --port 8000 --max-size 1024
      gantool serve runs/pix2pix --examples my_photos/        # example inputs to click
    """
    from gantool.serve import build_app, launch, load_models
    from gantool.serve.app import check_port, import_gradio
    from gantool.serve.examples import find_examples

    check_port(host, port)
    import_gradio()  # without the serve extra: say so before loading anything
    examples = find_examples(examples_dir) if examples_dir else None  # a wrong folder: said before loading
    loaded = load_models(models or ["runs"], device=device, precision=precision)
    for model in loaded:
        click.echo(f"serving {model.describe()} on {model.device}", err=True)
    app = build_app(loaded, max_size=max_size, examples=examples)
    click.echo(f"open http://{host}:{port} (Ctrl-C stops)", err=True)
    launch(app, host=host, port=port, quiet=True)
