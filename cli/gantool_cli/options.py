"""Options shared by several commands, and turning them into a config."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

DEVICE_HELP = "Device: auto (CUDA when available, else CPU), cpu, cuda or cuda:N."


class CheckpointPath(click.ParamType):
    """A checkpoint file, run folder or export that exists, or `pretrained:NAME` (a cached
    published model; the error says how to download it)."""

    name = "checkpoint"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        if isinstance(value, Path):
            value = str(value)
        if value.startswith("pretrained:"):
            from gantool.errors import GantoolError
            from gantool.pretrained import resolve

            try:
                return resolve(value)
            except GantoolError as err:
                self.fail(str(err), param, ctx)
        path = Path(value).expanduser()
        if not path.exists():
            self.fail(f"{value} does not exist (a checkpoint .pt, a run folder, an export, or pretrained:NAME)",
                      param, ctx)
        return path


CHECKPOINT = CheckpointPath()


class ConfigOption(click.Option):
    """An option that sets config key(s); its help ends with the recipe's own default, read from
    the recipe when the help is shown, so help and `--dry-run` cannot drift apart. The recipe is
    the command's name (`gantool train pix2pix`)."""

    def __init__(self, *args: Any, key: str | tuple[str, ...], note: str | None = None,
                 describe: Callable[[Any, Any], str] | None = None, shown: bool = True,
                 to_config: Callable[[Any], Any] | None = None, **kwargs: Any) -> None:
        self.config_keys = (key,) if isinstance(key, str) else tuple(key)
        self.default_shown = shown  # False for flags, whose default is their absence
        self.to_config = to_config  # the option's value -> the config's: "3" -> 3, a Path -> str
        self.default_note = note  # said after the value: "; the deepest U-Net that fits --size"
        self.describe = describe  # (value, config) -> words for a value that needs them: -1 workers -> "4 on a GPU, ..."
        super().__init__(*args, **kwargs)

    def default_text(self, cfg: Any) -> str:
        """What `[default: ...]` says for a config `cfg` (the recipe's defaults, or a dry run's)."""
        from gantool.config import get_value

        value = get_value(cfg, self.config_keys[0])
        text = self.describe(value, cfg) if self.describe else format_value(value)
        return f"{text}; {self.default_note}" if self.default_note else text

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        record = super().get_help_record(ctx)
        if record is None or ctx.command.name is None or not self.default_shown:
            return record
        import gantool.recipes  # noqa: F401  (registers the recipes' configs)
        from gantool.config import default_config

        names, text = record
        return names, f"{text} [default: {self.default_text(default_config(ctx.command.name))}]".strip()


def format_value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def config_option(*names: str, key: str | tuple[str, ...], **kwargs: Any) -> Callable:
    return click.option(*names, cls=ConfigOption, key=key, **kwargs)


def option_names(command: click.Command) -> dict[str, str]:
    """Config key -> the option that sets it, for messages about a command's options."""
    found: dict[str, str] = {}
    for param in command.params:
        for key in getattr(param, "config_keys", ()):
            found.setdefault(key, param.opts[0])
    return found


def _workers(value: int, cfg: Any) -> str:
    return "4 on a GPU, 0 on the CPU" if value == -1 else str(value)


def _steps(value: int, cfg: Any) -> str:
    if cfg.train.epochs + cfg.train.decay_epochs > 0:
        return "from --epochs and --decay-epochs and the number of images"
    return str(value)


def common_train_options(func: Callable) -> Callable:
    options = [
        click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="YAML config (e.g. configs/cgan_digits.yaml); options below override it."),
        config_option("--steps", key="train.steps", type=click.IntRange(min=1),
                      help="Generator updates to train for (with --resume: the new total; changeable when resuming).",
                      describe=_steps),
        config_option("--batch-size", key="data.batch_size", type=click.IntRange(min=1),
                      help="Images per batch (the global batch under --nproc)."),
        config_option("--workers", key="data.num_workers", type=click.IntRange(min=0), describe=_workers,
                      help="Data loading processes (changeable when resuming)."),
        click.option("--out", type=click.Path(file_okay=False, path_type=Path),
                     help="Run folder [default: runs/<name>]; a numbered sibling is made if it exists."),
        click.option("--resume", type=click.Path(exists=True, path_type=Path),
                     help="Continue a run exactly from its folder (or a checkpoint file) alone: no other option "
                          "is needed, and the run's config wins. Only --steps, --device, --workers, --quiet, "
                          "--nproc and --set of train.keep_checkpoints, checkpoint_every, log_every, "
                          "sample_every, val_every and diagnostics.* may change; they are applied and recorded "
                          "in RUN/config_history.jsonl. Any other option that differs from the run's config is "
                          "refused (one equal to it is accepted)."),
        click.option("--init-from", type=CHECKPOINT,
                     help="Start a new run from this model's weights (a gantool checkpoint or run folder, an "
                          "imported reference model, or pretrained:NAME) to fine-tune it on your data: its "
                          "architecture, fresh optimizers, a new run folder. Architecture options that disagree "
                          "with it are an error."),
        config_option("--device", key="train.device",
                      help=DEVICE_HELP.rstrip(".") + " (changeable when resuming)."),
        config_option("--precision", key="train.precision", type=click.Choice(["fp32", "bf16", "fp16", "auto"]),
                      help="Arithmetic: fp32, bf16 autocast (CPU/GPU; 1.5-1.8x faster on CPUs with "
                           "AVX512-BF16), fp16 with grad scaling (GPU), auto (bf16 where the hardware has it)."),
        config_option("--seed", key="train.seed", type=int, help="Random seed (runs are deterministic on the CPU)."),
        config_option("--strict", key="data.strict", is_flag=True, default=None, shown=False,
                      help="Unreadable image files (empty, truncated, corrupt) are an error instead of being "
                           "skipped with a warning."),
        click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="Override any config value, e.g. --set optim.lr_d=1e-4 (repeatable)."),
        click.option("--nproc", type=click.IntRange(min=1),
                     help="Train with N processes on this machine (one per GPU, or N CPU processes): re-runs "
                          "this command under `torchrun --standalone --nproc_per_node N`. --batch-size is the "
                          "global batch, split evenly over the processes."),
        click.option("--quiet", is_flag=True, help="No progress bar (for logs)."),
        click.option("--dry-run", is_flag=True,
                     help="Validate the options, print the resolved config (with --resume: the config the run "
                          "continues with), train nothing."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _objectives() -> list[str]:
    import typing

    from gantool.config import Objective  # plain Python: --help stays instant

    return list(typing.get_args(Objective))


OBJECTIVES = _objectives()
PREPROCESS = ["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"]


OBJECTIVE_NOTES = {"nonsaturating": "the reference's 'vanilla' BCE", "lsgan": "least squares, as the CycleGAN paper",
                   "minimax": "the saturating original", "hinge": "as SNGAN / BigGAN"}
OBJECTIVES_HELP = ("GAN objective: minimax, nonsaturating, lsgan, hinge, wgan-gp, or an f-GAN divergence (kl, "
                   "reverse-kl, pearson, squared-hellinger, js).")


def _objective(value: str, cfg: Any) -> str:
    return f"{value}, {OBJECTIVE_NOTES[value]}" if value in OBJECTIVE_NOTES else value


def _preprocess(value: str, cfg: Any) -> str:
    if value == "resize_and_crop":
        return f"{value}: resize to 286/256 of --size, then a random --size crop"
    return value


def translation_data_options(what: str, held_out: str, preprocess: str) -> Callable:
    """Options the image-to-image recipes share, with the words that differ between them."""
    options = [
        config_option("--val", "val_dir", key="data.val", shown=False, to_config=str,
                      type=click.Path(exists=True, file_okay=False, path_type=Path),
                      help=f"Validation {what}: {held_out} into metrics.jsonl."),
        config_option("--val-fraction", key="data.val_fraction", type=click.FloatRange(0, 1, max_open=True),
                      help=f"Or hold out this share of the training {'pairs' if 'pair' in what else 'images of each domain'}"
                           " for validation."),
        config_option("--preprocess", key="data.preprocess", type=click.Choice(PREPROCESS), describe=_preprocess,
                      help=f"Augmentation {preprocess}."),
        config_option("--no-flip", key="data.hflip", is_flag=True, shown=False, to_config=lambda flag: not flag, help="No random horizontal flips."),
        config_option("--objective", key="loss.objective", type=click.Choice(OBJECTIVES), describe=_objective,
                      help=OBJECTIVES_HELP),
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


def given_values(ctx: click.Context) -> dict[str, Any]:
    """Config key -> value of every ConfigOption given on the command line (or by its default
    map): what the user asked for, without the options left out."""
    values: dict[str, Any] = {}
    for param in ctx.command.params:
        if not isinstance(param, ConfigOption):
            continue
        value = ctx.params.get(param.name)
        if value is None or (param.is_flag and value is False):
            continue
        value = param.to_config(value) if param.to_config else value
        for key in param.config_keys:
            values[key] = value
    return values


def resolve_config(recipe: str, config_file: Path | None, values: dict[str, Any], overrides: tuple[str, ...]):
    """Defaults (or the config file), then first-class options, then --set overrides."""
    import gantool.recipes  # noqa: F401  (registers the recipes' configs)
    from gantool.config import apply_overrides, default_config, load_config, set_values

    cfg = load_config(config_file) if config_file else default_config(recipe)
    if cfg.recipe != recipe:
        raise click.UsageError(f"--config {config_file} is a {cfg.recipe!r} config, not {recipe!r}")
    return apply_overrides(set_values(cfg, values), list(overrides))
