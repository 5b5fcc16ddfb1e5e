"""The published generators of the reference implementation (pytorch-CycleGAN-and-pix2pix): a
table of the 23 models, a downloader, and a cache of imported gantool checkpoints.

`get("edges2shoes")` downloads the reference's `.pth` (a generator state dict), imports it with
the options the reference's own instructions give for that model, and caches the result as an
ordinary gantool checkpoint: `$GANTOOL_CACHE/pretrained/NAME.pt` (default `~/.cache/gantool`).
`--checkpoint pretrained:NAME` then resolves to that file. Nothing is cached unless the whole file
arrived and imported.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from gantool.errors import GantoolError

PIX2PIX_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/{file}.pth"
CYCLEGAN_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/{file}.pth"
PREFIX = "pretrained:"


@dataclass(frozen=True)
class PublishedModel:
    file: str  # the reference's file name, without .pth
    recipe: str  # pix2pix: unet_256, batch norm, dropout; cyclegan: resnet_9blocks, instance norm, no dropout
    expects: str  # what to feed it
    gives: str
    direction: str = "AtoB"  # pix2pix: the side of its training pairs that is the input (--direction)

    @property
    def url(self) -> str:
        return (PIX2PIX_URL if self.recipe == "pix2pix" else CYCLEGAN_URL).format(file=self.file)

    @property
    def dropout(self) -> bool:
        # the reference trains pix2pix with dropout and tests its CycleGAN models with --no_dropout
        return self.recipe == "pix2pix"


def _pix2pix(file: str, expects: str, gives: str, direction: str = "AtoB") -> PublishedModel:
    return PublishedModel(file, "pix2pix", expects, gives, direction)


def _cyclegan(file: str, expects: str, gives: str) -> PublishedModel:
    return PublishedModel(file, "cyclegan", expects, gives)


_PUBLISHED = [
    _pix2pix("edges2shoes", "black edge lines of a shoe on white, 256 px", "a shoe photo"),
    _pix2pix("day2night", "a daytime outdoor scene photo", "the scene at night", "BtoA"),
    _pix2pix("sat2map", "an aerial photo (Google Maps satellite view)", "a map"),
    _pix2pix("map2sat", "a map (Google Maps style)", "an aerial photo", "BtoA"),
    _pix2pix("facades_label2photo", "a CMP facades label map (coloured blocks)", "a facade photo", "BtoA"),
    _cyclegan("horse2zebra", "a photo with horses", "the horses as zebras"),
    _cyclegan("zebra2horse", "a photo with zebras", "the zebras as horses"),
    _cyclegan("monet2photo", "a Monet painting", "a photo-like rendering"),
    _cyclegan("style_monet", "a landscape photo", "a painting in Monet's style"),
    _cyclegan("style_cezanne", "a landscape photo", "a painting in Cezanne's style"),
    _cyclegan("style_ukiyoe", "a landscape photo", "an ukiyo-e style print"),
    _cyclegan("style_vangogh", "a landscape photo", "a painting in Van Gogh's style"),
    _cyclegan("apple2orange", "a photo of apples", "the apples as oranges"),
    _cyclegan("orange2apple", "a photo of oranges", "the oranges as apples"),
    _cyclegan("summer2winter_yosemite", "a summer photo of Yosemite", "the view in winter"),
    _cyclegan("winter2summer_yosemite", "a winter photo of Yosemite", "the view in summer"),
    _cyclegan("sat2map", "an aerial photo", "a map"),
    _cyclegan("map2sat", "a map", "an aerial photo"),
    _cyclegan("cityscapes_photo2label", "a street photo (Cityscapes)", "a colour-coded label map"),
    _cyclegan("cityscapes_label2photo", "a Cityscapes colour-coded label map", "a street photo"),
    _cyclegan("facades_photo2label", "a facade photo", "a CMP facades label map"),
    _cyclegan("facades_label2photo", "a CMP facades label map", "a facade photo"),
    _cyclegan("iphone2dslr_flower", "an iPhone photo of a flower", "the shallow depth of field of a DSLR"),
]


def _names() -> dict[str, PublishedModel]:
    """name -> model: the reference's file name, or recipe/file where both recipes publish one."""
    counts: dict[str, int] = {}
    for model in _PUBLISHED:
        counts[model.file] = counts.get(model.file, 0) + 1
    return {(model.file if counts[model.file] == 1 else f"{model.recipe}/{model.file}"): model for model in _PUBLISHED}


MODELS: dict[str, PublishedModel] = _names()


def find(name: str) -> PublishedModel:
    """A published model by name; the error lists the names (or the two recipes of a shared name)."""
    name = name.removeprefix(PREFIX)
    if name in MODELS:
        return MODELS[name]
    both = [key for key in MODELS if key.endswith(f"/{name}")]
    if both:
        raise GantoolError(f"{name} is published both as a pix2pix and as a CycleGAN model: "
                           f"say {' or '.join(both)}")
    raise GantoolError(f"no published model is called {name!r}; `gantool pretrained list` shows the "
                       f"{len(MODELS)}: {', '.join(MODELS)}")


def cache_dir() -> Path:
    return Path(os.environ.get("GANTOOL_CACHE", Path.home() / ".cache" / "gantool")).expanduser() / "pretrained"


def cached_path(name: str) -> Path:
    find(name)
    return cache_dir() / f"{name.removeprefix(PREFIX)}.pt"


def resolve(checkpoint: str | Path) -> Path:
    """`pretrained:NAME` -> its cached checkpoint (an error says how to get it); anything else as is."""
    text = str(checkpoint)
    if not text.startswith(PREFIX):
        return Path(checkpoint)
    name = text.removeprefix(PREFIX)
    path = cached_path(name)
    if not path.is_file():
        raise GantoolError(f"{text} is not downloaded yet: run `gantool pretrained get {name}` "
                           f"(it is cached in {cache_dir()})")
    return path


def _download(url: str, target: Path, progress: bool) -> None:
    """`url` into `target`, all of it or an error (the caller removes what a failure leaves)."""
    import http.client
    import urllib.error
    import urllib.request

    from tqdm.auto import tqdm

    try:
        response = urllib.request.urlopen(url, timeout=60)  # noqa: S310  (http: the reference's own host)
    except urllib.error.HTTPError as err:
        raise GantoolError(f"could not download {url}: HTTP {err.code} {err.reason}; nothing was cached") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise GantoolError(f"could not reach {url} ({reason}); check the connection, or give a mirror with "
                           "--url; nothing was cached") from None
    total = int(response.headers.get("Content-Length") or 0) or None
    received = 0
    try:
        with response, target.open("wb") as out, tqdm(total=total, unit="B", unit_scale=True, disable=not progress,
                                                      desc=target.name.split(".")[1]) as bar:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    except (http.client.HTTPException, OSError) as err:
        raise GantoolError(f"the download of {url} broke off after {received / 1e6:.1f} MB"
                           f"{f' of {total / 1e6:.1f} MB' if total else ''} ({type(err).__name__}); nothing was "
                           "cached: run the command again") from None
    if total is not None and received != total:
        raise GantoolError(f"the download of {url} broke off after {received / 1e6:.1f} MB of {total / 1e6:.1f} MB; "
                           "nothing was cached: run the command again")


def get(name: str, force: bool = False, url: str | None = None, progress: bool = True,
        log: Callable[[str], None] = lambda line: None) -> Path:
    """Download, import and cache the published model `name` (once; `force` fetches it again).
    `url` replaces the reference's address (a mirror, or a local server in tests)."""
    model = find(name)
    from gantool.checkpoint import save_checkpoint
    from gantool.interop.reference import import_reference

    name = name.removeprefix(PREFIX)
    target = cached_path(name)
    if target.is_file() and not force:
        log(f"{name} is cached: {target} (--force downloads it again)")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    source = url or model.url
    fd, tmp = tempfile.mkstemp(prefix=f".{model.file}.", suffix=".pth.part", dir=target.parent)
    os.close(fd)
    try:
        log(f"downloading {source}")
        _download(source, Path(tmp), progress)
        state, report = import_reference([Path(tmp)], recipe=model.recipe, direction=model.direction,
                                         dropout=model.dropout)
        state.setdefault("imported", {})["published_as"] = {"name": name, "url": model.url, "expects": model.expects}
        save_checkpoint(state, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    log(str(report) if report else f"imported {name}")
    return target
