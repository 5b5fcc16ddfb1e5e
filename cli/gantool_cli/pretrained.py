"""`gantool pretrained list|get`: the reference implementation's published generators."""

from __future__ import annotations

import click


@click.group()
def pretrained() -> None:
    """The 23 generators published by the reference implementation (pytorch-CycleGAN-and-pix2pix),
    imported bit-exactly: `gantool pretrained get edges2shoes`, then
    `gantool translate sketch.png --checkpoint pretrained:edges2shoes`."""


@pretrained.command("list")
def list_models() -> None:
    """Name, recipe, direction, what it expects as input, and where it comes from."""
    from gantool.pretrained import MODELS, cached_path

    click.echo(f"{'name':<32}{'recipe':<10}{'direction':<10}{'cached':<8}input -> output")
    for name, model in MODELS.items():
        cached = "yes" if cached_path(name).is_file() else "no"
        click.echo(f"{name:<32}{model.recipe:<10}{model.direction:<10}{cached:<8}{model.expects} -> {model.gives}")
        click.echo(f"{'':<32}{model.url}")


@pretrained.command("get")
@click.argument("name")
@click.option("--force", is_flag=True, help="Download and import again even when it is cached.")
@click.option("--url", help="Download from this address instead of the reference's (a mirror).")
@click.option("--sha256", "sha256", help="The file's known sha256: refuse a download that differs.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def get(name, force, url, sha256, quiet) -> None:
    """Download the published model NAME, import it and cache it (see `gantool pretrained list`).

    The file goes to a temporary name and is cached only once it has arrived whole and imported;
    the cache is $GANTOOL_CACHE/pretrained (default ~/.cache/gantool/pretrained). The host is asked
    over https first (plain http only when https cannot connect). The sha256 of the download is
    printed and recorded, and every use of pretrained:NAME checks the cached file against it.
    """
    from gantool.pretrained import get as get_model

    path = get_model(name, force=force, url=url, progress=not quiet, log=lambda line: click.echo(line, err=True),
                     sha256=sha256)
    click.echo(f"cached: {path}")
    click.echo(f"next: gantool translate IMAGE --checkpoint pretrained:{name.removeprefix('pretrained:')}")
