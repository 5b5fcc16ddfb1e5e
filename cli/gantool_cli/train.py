"""`gantool train <recipe>`: build the config from options, then call gantool.run.train."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

from gantool_cli.options import (CHECKPOINT, OBJECTIVES, OBJECTIVES_HELP, common_train_options, config_option,
                                 given_values, option_names, relaunch_under_torchrun, resolve_config,
                                 translation_data_options)


# 128 + the signal's number, as a shell reports a process that a signal ended: a scheduler (or a
# script) tells a run that stopped early from one that finished, and knows that it can be resumed
EXIT_STATUS = ("Exit status: 0 when the run reached its last step; 130 (Ctrl-C, SIGINT) or 143 (SIGTERM) when a "
               "signal stopped it early, after saving a checkpoint (continue with --resume RUN); 1 on an error; 2 on a "
               "bad option.")


@click.group(epilog=EXIT_STATUS)
def train() -> None:
    """Train a model; see `gantool train cgan --help`."""


def exit_if_stopped(ctx: click.Context, result: Any) -> None:
    """Exit with 128 + the signal's number when one stopped the run early (EXIT_STATUS)."""
    if result.stopped_by is not None:
        import signal

        ctx.exit(128 + signal.Signals[result.stopped_by].value)


def _channels(value: str) -> int:
    return int(value)


def start_or_resume(ctx: click.Context, values: dict[str, Any], config_file: Path | None, overrides: tuple[str, ...],
                    out: Path | None, resume: Path | None, steps: int | None, quiet: bool, dry_run: bool,
                    nproc: int | None, check_new_run: Any = None) -> None:
    """A new run from defaults, --config and options (and --init-from's architecture and weights);
    or the run at --resume from its folder alone (its config wins: options that would change it
    are refused, except the few that are sound)."""
    import yaml

    recipe = ctx.command.name
    init_from, start = ctx.params.get("init_from"), None
    if resume is None:
        cfg = resolve_config(recipe, config_file, values, overrides)
        if check_new_run is not None:
            check_new_run(cfg)
        if init_from is not None:
            from gantool.config import parse_override
            from gantool.warmstart import init_config

            explicit = {**values, **dict(parse_override(item) for item in overrides)}
            cfg, start = init_config(cfg, init_from, explicit, option_names(ctx.command))
        plan = None
    elif init_from is not None:
        raise click.UsageError("give --resume (continue a run) or --init-from (a new run from a model's weights), "
                               "not both")
    else:
        if config_file is not None or out is not None:
            given = "--config" if config_file is not None else "--out"
            raise click.UsageError(f"{given} cannot be used with --resume: the run continues in its own folder "
                                   "with its own config; drop it, or leave out --resume to start a new run")
        from gantool.resume import plan_resume

        plan = plan_resume(resume, recipe, values, overrides, steps=steps, option_names=option_names(ctx.command))
        cfg = plan.config
    if dry_run:
        click.echo(yaml.safe_dump(cfg.to_dict(), sort_keys=False).rstrip())
        return
    if nproc:  # one clear line now rather than the same error from N processes
        from gantool.distributed import check_global_batch

        check_global_batch(cfg.data.batch_size, nproc)
    relaunch_under_torchrun(nproc)  # the options are valid: now start N copies of this command
    from gantool.distributed import from_environment
    from gantool.run import train as run_train

    if plan is not None and plan.changes and from_environment().is_main:
        click.echo("resuming with " + ", ".join(f"{k}: {old} -> {new}" for k, (old, new) in plan.changes.items())
                   + " (recorded in config_history.jsonl)")
    if start is not None and from_environment().is_main:
        click.echo(f"starting from the weights of {start.source} with fresh optimizers", err=True)
    result = run_train(cfg, out=out, resume=plan, quiet=quiet, init_from=start)
    if start is not None and from_environment().is_main:
        for note in start.notes:
            click.echo(f"note: {note}", err=True)
    if not from_environment().is_main:  # under torchrun, rank 0 reports for all
        return
    if result.interrupted:
        click.echo(f"interrupted at step {result.step}; checkpoint saved: {result.checkpoint}")
        click.echo(f"resume with: gantool train {cfg.recipe} --resume {result.run_dir}")
        exit_if_stopped(ctx, result)
        return
    click.echo(f"trained {result.step} steps in {result.seconds:.0f}s")
    click.echo(f"run folder: {result.run_dir}")
    click.echo(f"checkpoint: {result.checkpoint}")
    samples = sorted((result.run_dir / "samples").glob("*.png"))
    if samples:
        click.echo(f"latest samples: {samples[-1]}")


def _cgan_data(value: str) -> str:
    return value if value in ("digits", "mnist") else "folder"


def digit_or_folder_options(data_help: str) -> Callable:
    """--data (digits, mnist or a folder) and the options the noise-to-image recipes share."""
    options = [
        config_option("--data", key="data.dataset", to_config=_cgan_data, help=data_help),
        config_option("--data-root", key="data.root", type=click.Path(path_type=Path), to_config=str, shown=False,
                      help="For --data mnist: folder with the MNIST IDX files (.gz or not); downloaded there if "
                           "absent."),
        config_option("--objective", key="loss.objective", type=click.Choice(OBJECTIVES), help=OBJECTIVES_HELP),
        config_option("--d-steps", key="train.d_steps", type=click.IntRange(min=1),
                      help="Discriminator updates per generator update (k in the GAN paper)."),
    ]

    def apply(func: Callable) -> Callable:
        for option in reversed(options):
            func = option(func)
        return func

    return apply


def folder_data(data: str | None, data_root: Path | None, values: dict[str, Any]) -> bool:
    """Check --data and put a folder into data.root (unless --data-root says where); True for a folder."""
    if data is None or data in ("digits", "mnist"):
        return False
    if not Path(data).is_dir():
        raise click.BadParameter(f"{data!r} is not digits, mnist, or an existing folder", param_hint="--data")
    if data_root is None:
        values["data.root"] = str(data)
    return True


@train.command("cgan", epilog=EXIT_STATUS)
@digit_or_folder_options("digits (5,000 built-in MNIST digits), mnist (full MNIST), or a folder of class subfolders.")
@config_option("--image-size", key="data.image_size", type=click.IntRange(min=8),
               help="Image side in pixels (28, 32, 56, 64, ...).")
@config_option("--channels", key="data.channels", type=click.Choice(["1", "3"]), to_config=_channels,
               help="1 (grayscale) or 3 (RGB).")
@config_option("--norm", key="model.norm", type=click.Choice(["batch", "syncbatch"]),
               help="Generator batch norm; syncbatch takes statistics over all processes of a --nproc / torchrun run.")
@common_train_options
@click.pass_context
def cgan(ctx, data, data_root, objective, d_steps, image_size, channels, norm, config_file, steps, batch_size,
         workers, out, resume, init_from, device, precision, seed, logger, strict, nproc, overrides, quiet, dry_run) -> None:
    """Class-conditional GAN: a generator that draws the class you ask for.

    \b
    Examples:
      gantool train cgan                                   # built-in digits, CPU-friendly defaults
      gantool train cgan --data mnist --data-root ../shared/data/mnist
      gantool train cgan --data pets/ --channels 3 --image-size 64
      gantool train cgan --resume runs/cgan --steps 8000   # continue, from the run folder alone
    """
    values = given_values(ctx)
    folder_data(data, data_root, values)
    start_or_resume(ctx, values, config_file, overrides, out, resume, steps, quiet, dry_run, nproc)


@train.command("gan", epilog=EXIT_STATUS)
@digit_or_folder_options("A folder of images (searched recursively: class subfolders pool their images; any "
                         "sizes, resized and centre-cropped to --size), mnist (full MNIST), or digits (5,000 "
                         "built-in MNIST digits).")
@config_option("--size", key="data.image_size", type=click.IntRange(min=8), note="64 for a folder",
               help="Image side in pixels: 4 to 7 times a power of two (28, 32, 48, 64, 96, 128, 256, ...).")
@config_option("--channels", key="data.channels", type=click.Choice(["1", "3"]), to_config=_channels,
               note="3 for a folder", help="1 (grayscale) or 3 (RGB).")
@config_option("--generator", key="model.generator", type=click.Choice(["dcgan", "mlp"]),
               help="dcgan (convolutional, scales with --size) or mlp (the GAN paper's MNIST generator).")
@config_option("--discriminator", key="model.discriminator", type=click.Choice(["dcgan", "maxout"]),
               help="dcgan (convolutional) or maxout (the GAN paper's MNIST discriminator, with dropout).")
@config_option("--norm", key="model.norm", type=click.Choice(["batch", "syncbatch"]),
               help="dcgan generator batch norm; syncbatch takes statistics over all processes of a --nproc run.")
@common_train_options
@click.pass_context
def gan(ctx, data, data_root, objective, d_steps, size, channels, generator, discriminator, norm, config_file, steps,
        batch_size, workers, out, resume, init_from, device, precision, seed, logger, strict, nproc, overrides, quiet,
        dry_run) -> None:
    """Unconditional GAN: G(z) learns to draw images like those of a folder (no labels).

    \b
    Examples:
      gantool train gan --data faces/                      # any folder of images, 64 px RGB
      gantool train gan --data textures/ --size 128 --steps 20000
      gantool train gan --config configs/gan_mnist.yaml    # unconditional MNIST (DCGAN)
      gantool train gan --config configs/gan_paper_mnist.yaml   # the paper's own MLP/maxout model
      gantool train gan --resume runs/gan --steps 8000     # continue, from the run folder alone
    """
    values = given_values(ctx)
    if folder_data(data, data_root, values) and config_file is None and resume is None and init_from is None:
        values.setdefault("data.channels", 3)  # photos: RGB at 64 px unless told otherwise
        values.setdefault("data.image_size", 64)
    start_or_resume(ctx, values, config_file, overrides, out, resume, steps, quiet, dry_run, nproc)


def _pix2pix_generator(size: int) -> str:
    return next((f"unet_{m}" for m in (256, 128, 64) if size % m == 0), "unet_256")


@train.command("pix2pix", epilog=EXIT_STATUS)
@config_option("--data", "data_dir", key="data.root", shown=False, to_config=str,
               type=click.Path(exists=True, file_okay=False, path_type=Path),
               help="Paired images: side-by-side A|B files, or subfolders A/ and B/ whose files match by name "
                    "(required, except with --resume).")
@config_option("--direction", key="data.direction", type=click.Choice(["AtoB", "BtoA"]), help="Which side is the input.")
@config_option("--size", key="data.image_size", type=click.IntRange(min=8), help="Training crop size in pixels.")
@config_option("--generator", key="model.generator",
               type=click.Choice(["unet_256", "unet_128", "unet_64", "resnet_9blocks", "resnet_6blocks"]),
               note="with --size: the deepest that fits it",
               help="U-Net depth; crops must be multiples of 256, 128 or 64.")
@translation_data_options("pairs (same layout)", "their L1/PSNR/SSIM", "applied identically to A and B")
@config_option("--lambda-l1", key="model.lambda_l1", type=click.FloatRange(min=0), help="Weight of the L1 loss.")
@config_option("--norm", key="model.norm", type=click.Choice(["batch", "syncbatch", "instance", "none"]),
               help="Normalisation layers of G and D; syncbatch is batch norm with statistics over all processes "
                    "of a --nproc / torchrun run.")
@common_train_options
@click.pass_context
def pix2pix(ctx, data_dir, direction, size, generator, val_dir, val_fraction, preprocess, no_flip, objective,
            lambda_l1, norm, config_file, steps, batch_size, workers, out, resume, init_from, device, precision, seed, logger, strict,
            nproc, overrides, quiet, dry_run) -> None:
    """pix2pix: paired image-to-image translation (U-Net G, PatchGAN D, L1 + GAN loss).

    \b
    Examples:
      gantool train pix2pix --data ../shared/data/facades/pix2pix/train --direction BtoA --size 128
      gantool train pix2pix --data edges2shoes/train --val edges2shoes/val --steps 50000
      gantool train pix2pix --resume runs/pix2pix          # continue, from the run folder alone
    """
    values = given_values(ctx)
    if size is not None and generator is None and resume is None and init_from is None:
        values["model.generator"] = _pix2pix_generator(size)

    def check_new_run(cfg) -> None:
        if not cfg.data.root:
            raise click.UsageError("Missing option '--data': give the paired images (or --resume a run folder)")

    start_or_resume(ctx, values, config_file, overrides, out, resume, steps, quiet, dry_run, nproc, check_new_run)


def unpaired_data_options(func: Any) -> Any:
    """The data options of the unpaired recipes (cyclegan, cut)."""
    options = [
        config_option("--a", "dir_a", key="data.root", shown=False, to_config=str,
                      type=click.Path(exists=True, file_okay=False, path_type=Path),
                      help="Domain A images (searched recursively), e.g. day/."),
        config_option("--b", "dir_b", key="data.root_b", shown=False, to_config=str,
                      type=click.Path(exists=True, file_okay=False, path_type=Path),
                      help="Domain B images (searched recursively), e.g. night/; any number, unrelated to A's."),
        config_option("--data", "data_dir", key="data.root", shown=False, to_config=str,
                      type=click.Path(exists=True, file_okay=False, path_type=Path),
                      help="Or one folder in the CycleGAN layout, with trainA/ and trainB/."),
        config_option("--size", key="data.image_size", type=click.IntRange(min=8), help="Training crop size in pixels."),
        config_option("--epochs", key="train.epochs", type=click.IntRange(min=0),
                      help="Passes over the data at a constant learning rate."),
        config_option("--decay-epochs", key="train.decay_epochs", type=click.IntRange(min=0),
                      help="Further passes with the learning rate decaying linearly to 0."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def unpaired_channel_options(func: Any) -> Any:
    options = [
        config_option("--channels-a", key="data.channels", type=click.Choice(["1", "3"]), to_config=_channels,
                      help="Channels of domain A images."),
        config_option("--channels-b", key="data.channels_b", type=click.Choice(["1", "3"]), to_config=_channels,
                      describe=lambda value, cfg: "as A" if value is None else str(value),
                      help="Channels of domain B images."),
        config_option("--norm", key="model.norm", type=click.Choice(["batch", "syncbatch", "instance", "none"]),
                      help="Normalisation layers of G and D; syncbatch is batch norm with statistics over all "
                           "processes of a --nproc / torchrun run."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def unpaired_values(ctx: click.Context, dir_a: Any, dir_b: Any, data_dir: Any, steps: Any, epochs: Any,
                    decay_epochs: Any) -> dict[str, Any]:
    """The config values of an unpaired recipe's options, after checking that they fit together."""
    if data_dir is not None and (dir_a is not None or dir_b is not None):
        raise click.UsageError("give either --data DIR or --a DIR --b DIR, not both")
    if (dir_a is None) != (dir_b is None):
        raise click.UsageError("give the two domains: --a DIR --b DIR (or --data DIR with trainA/ and trainB/)")
    if steps is not None and (epochs is not None or decay_epochs is not None):
        raise click.UsageError("give the training length as --steps or as --epochs/--decay-epochs, not both")
    values = given_values(ctx)
    if data_dir is not None:  # --data holds both domains: a domain B folder from a --config must not linger
        values["data.root_b"] = None
    return values


def check_unpaired_run(cfg: Any) -> None:
    if not cfg.data.root:
        raise click.UsageError("give the two domains: --a DIR --b DIR (or --data DIR with trainA/ and trainB/)")


UNPAIRED_HELD_OUT = "images in the CycleGAN layout (testA/ + testB/, or A/ + B/)"


@train.command("cyclegan", epilog=EXIT_STATUS)
@unpaired_data_options
@config_option("--generator", key="model.generator",
               type=click.Choice(["resnet_9blocks", "resnet_6blocks", "unet_128", "unet_256"]),
               note="the reference uses resnet_6blocks at 128 px", help="Generator architecture.")
@config_option("--lambda-cycle", key=("model.lambda_a", "model.lambda_b"), type=click.FloatRange(min=0),
               help="Weight of both cycle-consistency losses, A->B->A and B->A->B.")
@config_option("--lambda-identity", key="model.lambda_identity", type=click.FloatRange(min=0),
               help="Identity loss weight relative to --lambda-cycle; 0 turns it off.")
@translation_data_options(UNPAIRED_HELD_OUT, "their cycle-reconstruction L1", "drawn independently per domain")
@unpaired_channel_options
@common_train_options
@click.pass_context
def cyclegan(ctx, dir_a, dir_b, data_dir, size, generator, epochs, decay_epochs, lambda_cycle, lambda_identity,
             val_dir, val_fraction, preprocess, no_flip, channels_a, channels_b, norm, objective, config_file, steps,
             batch_size, workers, out, resume, init_from, device, precision, seed, logger, strict, nproc, overrides, quiet,
             dry_run) -> None:
    """CycleGAN: unpaired translation between two image folders (two ResNet G, two PatchGAN D).

    Training length is counted in epochs (passes over the larger domain) by default; --steps
    counts generator updates instead, with the learning rate decaying over the second half.

    \b
    Examples:
      gantool train cyclegan --a day/ --b night/
      gantool train cyclegan --data horse2zebra/ --size 128 --generator resnet_6blocks --epochs 50 --decay-epochs 50
      gantool train cyclegan --resume runs/cyclegan        # continue, from the run folder alone
    """
    values = unpaired_values(ctx, dir_a, dir_b, data_dir, steps, epochs, decay_epochs)
    start_or_resume(ctx, values, config_file, overrides, out, resume, steps, quiet, dry_run, nproc,
                    check_unpaired_run)


def _mode_setting(key: str) -> Any:
    def describe(value: Any, cfg: Any) -> str:
        from gantool.recipes.cut import MODES

        if value is not None:
            return str(value)
        return ", ".join(f"{MODES[mode][key]} for --mode {mode}" for mode in MODES)
    return describe


@train.command("cut", epilog=EXIT_STATUS)
@unpaired_data_options
@config_option("--mode", key="model.mode", type=click.Choice(["cut", "fastcut"]),
               help="cut: PatchNCE weight 1 plus the identity term PatchNCE(b, G(b)); fastcut: weight 10, no "
                    "identity term, flip-equivariance, and (unless --epochs/--decay-epochs/--steps say otherwise) "
                    "150 + 50 epochs instead of 200 + 200.")
@config_option("--generator", key="model.generator", type=click.Choice(["resnet_9blocks", "resnet_6blocks"]),
               help="Generator architecture (PatchNCE reads layers 0,4,8,12,16 of its encoder).")
@config_option("--lambda-nce", key="model.lambda_nce", type=click.FloatRange(min=0), describe=_mode_setting("lambda_nce"),
               help="Weight of the PatchNCE loss.")
@translation_data_options(UNPAIRED_HELD_OUT, "the sliced Wasserstein distance of their translations to B",
                          "drawn independently per domain")
@unpaired_channel_options
@common_train_options
@click.pass_context
def cut(ctx, dir_a, dir_b, data_dir, size, epochs, decay_epochs, mode, generator, lambda_nce, val_dir, val_fraction,
        preprocess, no_flip, objective, channels_a, channels_b, norm, config_file, steps, batch_size, workers, out,
        resume, init_from, device, precision, seed, logger, strict, nproc, overrides, quiet, dry_run) -> None:
    """CUT / FastCUT: one-way unpaired translation A -> B with one generator, one PatchGAN and
    the patchwise contrastive loss PatchNCE (Park et al. 2020); about half CycleGAN's time per step.

    Training length is counted in epochs (passes over the larger domain) by default; --steps
    counts generator updates instead, with the learning rate decaying over the second half.

    \b
    Examples:
      gantool train cut --a horses/ --b zebras/
      gantool train cut --data horse2zebra/ --mode fastcut
      gantool train cut --config configs/cut_horse2zebra.yaml --data horse2zebra/
      gantool train cut --resume runs/cut                  # continue, from the run folder alone
    """
    values = unpaired_values(ctx, dir_a, dir_b, data_dir, steps, epochs, decay_epochs)
    lengths = ("train.steps", "train.epochs", "train.decay_epochs")
    if mode is not None and resume is None and not any(k in values or any(o.startswith(k + "=") for o in overrides)
                                                      for k in lengths):
        from gantool.recipes.cut import MODES

        values["train.epochs"], values["train.decay_epochs"] = MODES[mode]["epochs"], MODES[mode]["decay_epochs"]
    start_or_resume(ctx, values, config_file, overrides, out, resume, steps, quiet, dry_run, nproc,
                    check_unpaired_run)


@train.command("encoder", epilog=EXIT_STATUS)
@click.argument("generator", metavar="CKPT", required=False, type=CHECKPOINT)
@config_option("--nef", key="model.nef", type=click.IntRange(min=1), help="Encoder width (channels of its first layer).")
@config_option("--lambda-z", key="model.lambda_z", type=click.FloatRange(min=0),
               help="Weight of the code loss ||E(G(z, y)) - z||^2.")
@config_option("--lambda-x", key="model.lambda_x", type=click.FloatRange(min=0),
               help="Weight of the picture loss ||G(E(x), y) - x||^2, x = G(z, y).")
@common_train_options
@click.pass_context
def encoder(ctx, generator, nef, lambda_z, lambda_x, config_file, steps, batch_size, workers, out, resume, init_from,
            device, precision, seed, logger, strict, nproc, overrides, quiet, dry_run) -> None:
    """Learn to invert the class-conditional generator CKPT: an encoder from images to its code z.

    The encoder trains on fresh samples x = G(z, y) of the frozen generator, against z and against
    G(E(x), y). Its checkpoint names the generator (path and SHA-256) and holds a copy of its
    weights, so `gantool edit` and `gantool invert` need only the encoder.

    \b
    Examples:
      gantool train encoder runs/cgan                       # -> runs/encoder
      gantool edit my_seven.png --checkpoint runs/encoder --to all --out sevens.png
      gantool train encoder --resume runs/encoder --steps 6000
    """
    values = given_values(ctx)
    if generator is not None:
        from gantool.recipes.encoder import generator_settings

        values.update(generator_settings(generator))

    def check_new_run(cfg) -> None:
        if not cfg.model.generator:
            raise click.UsageError("give the class-conditional generator to invert: gantool train encoder CKPT "
                                   "(a cgan run folder or checkpoint), or --resume an encoder run")

    start_or_resume(ctx, values, config_file, overrides, out, resume, steps, quiet, dry_run, nproc, check_new_run)
