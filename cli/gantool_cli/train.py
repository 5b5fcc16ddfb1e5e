"""`gantool train <recipe>`: build the config from options, then call gantool.run.train."""

from __future__ import annotations

from pathlib import Path

import click

from gantool_cli.options import (OBJECTIVES, common_train_options, common_values, relaunch_under_torchrun,
                                 resolve_config, translation_data_options)


@click.group()
def train() -> None:
    """Train a model; see `gantool train cgan --help`."""


def run_training(cfg, out, resume, steps, quiet: bool, dry_run: bool, nproc: int | None) -> None:
    import yaml

    if dry_run:
        click.echo(yaml.safe_dump(cfg.to_dict(), sort_keys=False).rstrip())
        return
    if nproc and resume is None:  # one clear line now rather than the same error from N processes
        from gantool.distributed import check_global_batch

        check_global_batch(cfg.data.batch_size, nproc)
    relaunch_under_torchrun(nproc)  # the options are valid: now start N copies of this command
    from gantool.distributed import from_environment
    from gantool.run import train as run_train

    result = run_train(cfg, out=out, resume=resume, steps=steps, quiet=quiet)
    if not from_environment().is_main:  # under torchrun, rank 0 reports for all
        return
    if result.interrupted:
        click.echo(f"interrupted at step {result.step}; checkpoint saved: {result.checkpoint}")
        click.echo(f"resume with: gantool train {cfg.recipe} --resume {result.run_dir}")
        return
    click.echo(f"trained {result.step} steps in {result.seconds:.0f}s")
    click.echo(f"run folder: {result.run_dir}")
    click.echo(f"checkpoint: {result.checkpoint}")
    samples = sorted((result.run_dir / "samples").glob("*.png"))
    if samples:
        click.echo(f"latest samples: {samples[-1]}")


@train.command("cgan")
@click.option("--data", default=None, show_default="digits",
              help="digits (5,000 built-in MNIST digits), mnist (full MNIST), or a folder of class subfolders.")
@click.option("--data-root", type=click.Path(path_type=Path),
              help="For --data mnist: folder with the MNIST IDX files (.gz or not); downloaded there if absent.")
@click.option("--image-size", type=click.IntRange(min=8), help="Image side in pixels (28, 32, 56, 64, ...) [default: 28].")
@click.option("--channels", type=click.Choice(["1", "3"]), help="1 (grayscale) or 3 (RGB) [default: 1].")
@click.option("--objective", type=click.Choice(OBJECTIVES),
              help="GAN objective [default: nonsaturating].")
@click.option("--d-steps", type=click.IntRange(min=1), help="Discriminator updates per generator update [default: 1].")
@click.option("--norm", type=click.Choice(["batch", "syncbatch"]),
              help="Generator batch norm; syncbatch takes statistics over all processes of a --nproc / torchrun "
                   "run [default: batch].")
@common_train_options
def cgan(data, data_root, image_size, channels, objective, d_steps, norm, config_file, steps, batch_size, workers,
         out, resume, device, precision, seed, strict, nproc, overrides, quiet, dry_run) -> None:
    """Class-conditional GAN: a generator that draws the class you ask for.

    \b
    Examples:
      gantool train cgan                                   # built-in digits, CPU-friendly defaults
      gantool train cgan --data mnist --data-root ../shared/data/mnist
      gantool train cgan --data pets/ --channels 3 --image-size 64
    """
    values = {"data.image_size": image_size, "data.channels": channels, "loss.objective": objective,
              "train.d_steps": d_steps, "model.norm": norm,
              **common_values(steps, batch_size, workers, resume, device, precision, seed, strict)}
    if data is not None:
        if data in ("digits", "mnist"):
            values["data.dataset"] = data
        elif Path(data).is_dir():
            values["data.dataset"], values["data.root"] = "folder", str(data)
        else:
            raise click.BadParameter(f"{data!r} is not digits, mnist, or an existing folder", param_hint="--data")
    if data_root is not None:
        values["data.root"] = str(data_root)
    cfg = resolve_config("cgan", config_file, values, overrides)
    run_training(cfg, out, resume, steps if resume is not None else None, quiet, dry_run, nproc)


@train.command("pix2pix")
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Paired images: side-by-side A|B files, or subfolders A/ and B/ whose files match by name.")
@click.option("--direction", type=click.Choice(["AtoB", "BtoA"]), help="Which side is the input [default: AtoB].")
@click.option("--size", type=click.IntRange(min=8), help="Training crop size in pixels [default: 256].")
@click.option("--generator", type=click.Choice(["unet_256", "unet_128", "unet_64"]),
              help="U-Net depth; crops must be multiples of 256, 128 or 64 [default: the deepest that fits --size].")
@translation_data_options("pairs (same layout)", "their L1/PSNR/SSIM", "applied identically to A and B",
                          "nonsaturating, the reference's 'vanilla' BCE")
@click.option("--lambda-l1", type=click.FloatRange(min=0), help="Weight of the L1 loss [default: 100].")
@click.option("--norm", type=click.Choice(["batch", "syncbatch", "instance", "none"]),
              help="Normalisation layers of G and D; syncbatch is batch norm with statistics over all processes "
                   "of a --nproc / torchrun run [default: batch].")
@common_train_options
def pix2pix(data_dir, direction, size, generator, val_dir, val_fraction, preprocess, no_flip, objective, lambda_l1,
            norm, config_file, steps, batch_size, workers, out, resume, device, precision, seed, strict, nproc,
            overrides, quiet, dry_run) -> None:
    """pix2pix: paired image-to-image translation (U-Net G, PatchGAN D, L1 + GAN loss).

    \b
    Examples:
      gantool train pix2pix --data ../shared/data/facades/pix2pix/train --direction BtoA --size 128
      gantool train pix2pix --data edges2shoes/train --val edges2shoes/val --steps 50000
    """
    values = {"data.root": str(data_dir), "data.direction": direction, "data.image_size": size,
              "model.generator": generator, "data.val": str(val_dir) if val_dir else None,
              "data.val_fraction": val_fraction, "data.preprocess": preprocess,
              "data.hflip": False if no_flip else None, "loss.objective": objective, "model.lambda_l1": lambda_l1,
              "model.norm": norm,
              **common_values(steps, batch_size, workers, resume, device, precision, seed, strict)}
    if size is not None and generator is None:
        values["model.generator"] = next((f"unet_{m}" for m in (256, 128, 64) if size % m == 0), "unet_256")
    cfg = resolve_config("pix2pix", config_file, values, overrides)
    run_training(cfg, out, resume, steps if resume is not None else None, quiet, dry_run, nproc)


@train.command("cyclegan")
@click.option("--a", "dir_a", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Domain A images (searched recursively), e.g. day/.")
@click.option("--b", "dir_b", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Domain B images (searched recursively), e.g. night/; any number, unrelated to A's.")
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Or one folder in the CycleGAN layout, with trainA/ and trainB/.")
@click.option("--size", type=click.IntRange(min=8), help="Training crop size in pixels [default: 256].")
@click.option("--generator", type=click.Choice(["resnet_9blocks", "resnet_6blocks", "unet_128", "unet_256"]),
              help="Generator architecture [default: resnet_9blocks; the reference uses resnet_6blocks at 128 px].")
@click.option("--epochs", type=click.IntRange(min=0),
              help="Passes over the data at a constant learning rate [default: 100].")
@click.option("--decay-epochs", type=click.IntRange(min=0),
              help="Further passes with the learning rate decaying linearly to 0 [default: 100].")
@click.option("--lambda-cycle", type=click.FloatRange(min=0),
              help="Weight of both cycle-consistency losses, A->B->A and B->A->B [default: 10].")
@click.option("--lambda-identity", type=click.FloatRange(min=0),
              help="Identity loss weight relative to --lambda-cycle; 0 turns it off [default: 0.5].")
@translation_data_options("images in the CycleGAN layout (testA/ + testB/, or A/ + B/)",
                          "their cycle-reconstruction L1", "drawn independently per domain", "lsgan, as the paper")
@click.option("--channels-a", type=click.Choice(["1", "3"]), help="Channels of domain A images [default: 3].")
@click.option("--channels-b", type=click.Choice(["1", "3"]), help="Channels of domain B images [default: as A].")
@click.option("--norm", type=click.Choice(["batch", "syncbatch", "instance", "none"]),
              help="Normalisation layers of G and D; syncbatch is batch norm with statistics over all processes "
                   "of a --nproc / torchrun run [default: instance].")
@common_train_options
def cyclegan(dir_a, dir_b, data_dir, size, generator, epochs, decay_epochs, lambda_cycle, lambda_identity, val_dir,
             val_fraction, preprocess, no_flip, channels_a, channels_b, norm, objective, config_file, steps,
             batch_size, workers, out, resume, device, precision, seed, strict, nproc, overrides, quiet, dry_run) -> None:
    """CycleGAN: unpaired translation between two image folders (two ResNet G, two PatchGAN D).

    Training length is counted in epochs (passes over the larger domain) by default; --steps
    counts generator updates instead, with the learning rate decaying over the second half.

    \b
    Examples:
      gantool train cyclegan --a day/ --b night/
      gantool train cyclegan --data horse2zebra/ --size 128 --generator resnet_6blocks --epochs 50 --decay-epochs 50
    """
    if data_dir is not None and (dir_a is not None or dir_b is not None):
        raise click.UsageError("give either --data DIR or --a DIR --b DIR, not both")
    if (dir_a is None) != (dir_b is None):
        raise click.UsageError("give the two domains: --a DIR --b DIR (or --data DIR with trainA/ and trainB/)")
    if steps is not None and (epochs is not None or decay_epochs is not None):
        raise click.UsageError("give the training length as --steps or as --epochs/--decay-epochs, not both")
    values = {"data.root": str(data_dir or dir_a) if (data_dir or dir_a) else None,
              # --data holds both domains: a domain B folder from a --config must not linger
              "data.root_b": str(dir_b) if dir_b else ("null" if data_dir else None), "data.image_size": size, "model.generator": generator,
              "train.epochs": epochs, "train.decay_epochs": decay_epochs,
              "model.lambda_a": lambda_cycle, "model.lambda_b": lambda_cycle, "model.lambda_identity": lambda_identity,
              "data.val": str(val_dir) if val_dir else None, "data.val_fraction": val_fraction,
              "data.preprocess": preprocess, "data.hflip": False if no_flip else None, "data.channels": channels_a,
              "data.channels_b": channels_b, "loss.objective": objective, "model.norm": norm,
              **common_values(steps, batch_size, workers, resume, device, precision, seed, strict)}
    cfg = resolve_config("cyclegan", config_file, values, overrides)
    if resume is None and not cfg.data.root:
        raise click.UsageError("give the two domains: --a DIR --b DIR (or --data DIR with trainA/ and trainB/)")
    run_training(cfg, out, resume, steps if resume is not None else None, quiet, dry_run, nproc)
