"""`gantool data ...`: prepare paired datasets."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def data() -> None:
    """Prepare datasets: side-by-side pairs, edges -> photo pairs."""


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
