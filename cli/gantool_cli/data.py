"""`gantool data ...`: prepare paired datasets, check a folder before training."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def data() -> None:
    """Prepare datasets (side-by-side pairs, edges -> photo pairs) and check a folder before training."""


@data.command()
@click.option("--a", "folder_a", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of A images.")
@click.option("--b", "folder_b", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of B images with the same file names (any image suffix).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the A|B PNGs.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
def combine(folder_a, folder_b, out_dir, overwrite) -> None:
    """Write A|B side-by-side images (the pix2pix aligned format) from two folders matched by name."""
    from gantool.data.prepare import combine_pairs

    count = combine_pairs(folder_a, folder_b, out_dir, overwrite=overwrite)
    click.echo(f"wrote {count} pairs to {out_dir}")


@data.command()
@click.argument("photos", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the edges|photo PNGs (A = edges, B = photo).")
@click.option("--low", type=click.FloatRange(0, 1, min_open=True), default=0.1, show_default=True,
              help="Canny low threshold (gradient magnitude, images in [0, 1]).")
@click.option("--high", type=click.FloatRange(0, 1, min_open=True), default=0.2, show_default=True,
              help="Canny high threshold.")
@click.option("--thickness", type=click.IntRange(min=1), default=1, show_default=True, help="Line width in pixels.")
@click.option("--size", type=click.IntRange(min=8), help="Resize photos to SIZExSIZE first.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
def edges(photos, out_dir, low, high, thickness, size, overwrite) -> None:
    """Make an edges -> photo paired dataset from any PHOTOS folder (kornia Canny), like edges2shoes."""
    from gantool.data.prepare import make_edge_pairs

    count = make_edge_pairs(photos, out_dir, low, high, thickness, size, overwrite=overwrite)
    click.echo(f"wrote {count} edges|photo pairs to {out_dir}; train with: gantool train pix2pix --data {out_dir}")


@data.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--size", type=click.IntRange(min=1), help="Crop size you will train at: also count the images "
              "smaller than it on the short side (resize_and_crop upscales them).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (errors also on stderr).")
def check(folder, size, as_json) -> None:
    """Report what FOLDER holds and what training would skip, before training. Reads only.

    \b
    Detects the layout (side-by-side A|B pairs, A/ + B/ matched by name, trainA/ + trainB/,
    class subfolders) and, per folder: readable images, unreadable files (skipped with a warning,
    an error under train --strict), non-image files (ignored), image modes and how they are
    converted on load, sizes, EXIF-rotated images. Exits 1, with a last line "error: ...", when
    training would fail (no readable images, odd-width side-by-side images, unmatched names).
    """
    import json

    from gantool.data.check import check_folder

    report = check_folder(folder, size)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        for error in report.errors:
            click.echo(f"error: {error}", err=True)
    else:
        for line in report.lines():
            click.echo(line)
    if report.errors:
        raise SystemExit(1)
