"""`gantool demo`: the Quickstart job, a digit GAN on the built-in digits, on the CPU."""

from __future__ import annotations

from pathlib import Path

import click

DEMO_STEPS = 2200


@click.command()
@click.option("--steps", type=click.IntRange(min=1), default=DEMO_STEPS, show_default=True,
              help="Generator updates (about 2.5 minutes on a 2-core CPU with bf16 at the default).")
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
    import gantool.recipes  # noqa: F401  (registers the recipes' configs)
    from gantool.config import apply_overrides, default_config
    from gantool.inference import load_sampler
    from gantool.run import train
    from gantool.utils import save_image_grid

    import torch

    cfg = apply_overrides(default_config("cgan", "demo"), [f"train.steps={steps}", f"train.device={device}",
                                                                f"train.sample_every={max(1, steps // 5)}",
                                                                f"train.precision={precision}"])
    result = train(cfg, out=out, quiet=quiet)
    sampler = load_sampler(result.checkpoint)
    grid = result.run_dir / "digits.png"
    save_image_grid(sampler.sample(torch.arange(10).repeat_interleave(10), seed=0), grid, 10)
    click.echo(f"trained {result.step} steps in {result.seconds:.0f}s")
    click.echo(f"sample grid (rows: digits 0-9): {grid}")
    click.echo(f"checkpoint: {result.checkpoint}")
    click.echo(f"next: gantool generate {result.run_dir} --label 7 --n 16 --out sevens.png")
    if result.interrupted:  # Ctrl-C or SIGTERM: the status says so (128 + N), as gantool train's does
        from gantool_cli.train import exit_if_stopped

        click.echo(f"interrupted at step {result.step}; resume with: gantool train cgan --resume {result.run_dir}")
        exit_if_stopped(click.get_current_context(), result)
