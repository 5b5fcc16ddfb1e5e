"""`gantool demo`: the Quickstart job, a digit GAN on the built-in digits, on the CPU."""

from __future__ import annotations

from pathlib import Path

import click

DEMO_STEPS = 2200  # gantool.demo.DEMO_STEPS, written out so that `gantool --help` imports no torch


@click.command()
@click.option("--steps", type=click.IntRange(min=1), default=DEMO_STEPS, show_default=True,
              help="Generator updates (at the default about 2.5 minutes on 2 cores with bf16, 4 to 7.5 minutes in fp32).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/demo"), show_default=True,
              help="Run folder (a numbered sibling is made if it exists).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True,
              help="auto: bf16 where the CPU/GPU computes it natively (AVX512-BF16, AMX), else fp32.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def demo(steps, out, device, precision, quiet) -> None:
    """Train a class-conditional GAN on 5,000 built-in MNIST digits and write a sample grid.

    Writes samples (one row per digit 0-9), a checkpoint and metrics to the run folder, then
    prints the commands that use the checkpoint.
    """
    from gantool.demo import run_demo

    done = run_demo(out, steps, device, precision, quiet)
    result = done.training
    click.echo(f"trained {result.step} steps in {result.seconds:.0f}s")
    click.echo(f"sample grid (rows: digits 0-9): {done.grid}")
    click.echo(f"checkpoint: {result.checkpoint}")
    click.echo(f"next: gantool generate {result.run_dir} --label 7 --n 16 --out sevens.png")
    if result.interrupted:  # Ctrl-C or SIGTERM: the status says so (128 + N), as gantool train's does
        from gantool_cli.train import exit_if_stopped

        click.echo(f"interrupted at step {result.step}; resume with: gantool train cgan --resume {result.run_dir}")
        exit_if_stopped(click.get_current_context(), result)
