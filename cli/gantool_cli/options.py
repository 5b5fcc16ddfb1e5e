"""Options shared by several commands, and turning them into a config."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

DEVICE_HELP = "Device: auto (CUDA when available, else CPU), cpu, cuda or cuda:N."


def common_train_options(func: Callable) -> Callable:
    options = [
        click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="YAML config (e.g. configs/cgan_digits.yaml); options below override it."),
        click.option("--steps", type=click.IntRange(min=1), help="Generator updates to train for (with --resume: the new total)."),
        click.option("--batch-size", type=click.IntRange(min=1), help="Images per batch."),
        click.option("--workers", type=click.IntRange(min=0),
                     help="Data loading processes [default: 4 on a GPU, 0 on the CPU]."),
        click.option("--out", type=click.Path(file_okay=False, path_type=Path),
                     help="Run folder [default: runs/<name>]; a numbered sibling is made if it exists."),
        click.option("--resume", type=click.Path(exists=True, path_type=Path),
                     help="Continue a run exactly: a run folder or a checkpoint file (its config is used)."),
        click.option("--device", help=DEVICE_HELP),
        click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16", "auto"]),
                     help="Arithmetic: fp32 (default), bf16 autocast (CPU/GPU; 1.5-1.8x faster on CPUs with "
                          "AVX512-BF16), fp16 with grad scaling (GPU), auto (bf16 where the hardware has it)."),
        click.option("--seed", type=int, help="Random seed (runs are deterministic on the CPU)."),
        click.option("--strict", is_flag=True, default=None,
                     help="Unreadable image files (empty, truncated, corrupt) are an error instead of being "
                          "skipped with a warning."),
        click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="Override any config value, e.g. --set optim.lr_d=1e-4 (repeatable)."),
        click.option("--nproc", type=click.IntRange(min=1),
                     help="Train with N processes on this machine (one per GPU, or N CPU processes): re-runs "
                          "this command under `torchrun --standalone --nproc_per_node N`. --batch-size is the "
                          "global batch, split evenly over the processes."),
        click.option("--quiet", is_flag=True, help="No progress bar (for logs)."),
        click.option("--dry-run", is_flag=True, help="Validate the options, print the resolved config, train nothing."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


OBJECTIVES = ["minimax", "nonsaturating", "lsgan", "hinge", "wgan-gp"]
PREPROCESS = ["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"]


def translation_data_options(what: str, held_out: str, preprocess: str, objective: str) -> Callable:
    """Options the image-to-image recipes share, with the words that differ between them."""
    options = [
        click.option("--val", "val_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
                     help=f"Validation {what}: {held_out} into metrics.jsonl."),
        click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True),
                     help=f"Or hold out this share of the training {'pairs' if 'pair' in what else 'images of each domain'}"
                          " for validation."),
        click.option("--preprocess", type=click.Choice(PREPROCESS),
                     help=f"Augmentation {preprocess} [default: resize_and_crop, 286 -> 256 random crop]."),
        click.option("--no-flip", is_flag=True, help="No random horizontal flips."),
        click.option("--objective", type=click.Choice(OBJECTIVES), help=f"GAN objective [default: {objective}]."),
    ]

    def apply(func: Callable) -> Callable:
        for option in reversed(options):
            func = option(func)
        return func

    return apply


def torchrun_command(argv: list[str], nproc: int) -> list[str]:
    """The command that runs `gantool <argv>` (without its --nproc) in `nproc` processes."""
    import sys

    args, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            args.append(arg)
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "gantool_cli", *args]


def relaunch_under_torchrun(nproc: int | None) -> None:
    """With --nproc N > 1 (and not already under torchrun), replace this process by torchrun."""
    import os
    import sys

    if nproc is None or nproc == 1 or "WORLD_SIZE" in os.environ:
        return
    command = torchrun_command(sys.argv[1:], nproc)
    click.echo(f"running: {' '.join(command)}", err=True)
    os.execv(command[0], command)


def common_values(steps, batch_size, workers, resume, device, precision, seed, strict=None) -> dict[str, Any]:
    """Config keys of the options every `train` command shares (None: not given). With --resume,
    --steps is the run's new total and is applied to the checkpoint's config instead."""
    return {"train.steps": steps if resume is None else None, "data.batch_size": batch_size,
            "data.num_workers": workers, "train.device": device, "train.precision": precision,
            "train.seed": seed, "data.strict": strict}


def resolve_config(recipe: str, config_file: Path | None, values: dict[str, Any], overrides: tuple[str, ...]):
    """Defaults (or the config file), then first-class options, then --set overrides."""
    from gantool.config import apply_overrides, default_config, load_config

    cfg = load_config(config_file) if config_file else default_config(recipe)
    if cfg.recipe != recipe:
        raise click.UsageError(f"--config {config_file} is a {cfg.recipe!r} config, not {recipe!r}")
    pairs = [f"{key}={value}" for key, value in values.items() if value is not None]
    return apply_overrides(cfg, pairs + list(overrides))
