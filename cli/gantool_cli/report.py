"""`gantool report RUN_DIR`: plots and an HTML page of a training run."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for report.html and the PNG plots [default: RUN_DIR/report].")
def report(run_dir, out_dir) -> None:
    """Write a self-contained HTML report of a run: loss curves, D(x) and D(G(z)), D accuracy,
    gradient norms, the cheap validation metric, the diversity check, warnings on the time axis,
    and sample grids over time (PNG plots beside it).

    \b
    Example:
      gantool report runs/cgan            # -> runs/cgan/report/report.html
    """
    from gantool.report import write_report

    result = write_report(run_dir, out_dir)
    click.echo(f"wrote {result.html} ({len(result.plots)} plots, {len(result.warnings)} warning(s))")
    for warning in result.warnings:
        line = f"  step {warning['step']}: {warning['warning']}: {warning.get('message', '')}"
        # the text comes from a file anyone may have written: no escape sequences reach the terminal
        click.echo("".join(c if c.isprintable() else "?" for c in line))
