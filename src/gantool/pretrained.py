"""The published generators of the reference implementation (pytorch-CycleGAN-and-pix2pix): a
table of the 23 models, a downloader, and a cache of imported gantool checkpoints.

`get("edges2shoes")` downloads the reference's `.pth` (a generator state dict), imports it with
the options the reference's own instructions give for that model, and caches the result as an
ordinary gantool checkpoint: `$GANTOOL_CACHE/pretrained/NAME.pt` (default `~/.cache/gantool`).
`--checkpoint pretrained:NAME` then resolves to that file. Nothing is cached unless the whole file
arrived and imported.

Safe loading stops a file from running code, but not from being swapped weights. So the host is
asked over https first (plain http only when https cannot connect, said in the log), and the
sha256 of the file as downloaded and of the cached checkpoint are recorded beside it
(`NAME.sha256.json`) and printed. Every later `pretrained:NAME` checks the cached file against
its record, and a file that changed is refused. `get(..., sha256=...)` also checks the download
itself against a known digest.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from gantool.errors import GantoolError

# https first; download.fetch_https_first falls back to http only when https cannot connect
PIX2PIX_URL = "https://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/{file}.pth"
CYCLEGAN_URL = "https://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/{file}.pth"
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
    if os.environ.get("GANTOOL_CACHE"):
        return Path(os.environ["GANTOOL_CACHE"]).expanduser() / "pretrained"
    try:
        home = Path.home()
    except RuntimeError:  # no HOME and no password entry (some containers)
        raise GantoolError("there is no home folder to cache published models in: set GANTOOL_CACHE to a folder "
                           "you can write") from None
    return home / ".cache" / "gantool" / "pretrained"


def cached_path(name: str) -> Path:
    find(name)
    return cache_dir() / f"{name.removeprefix(PREFIX)}.pt"


def record_path(name: str) -> Path:
    """The JSON beside a cached model that records the sha256 of what was downloaded and cached."""
    path = cached_path(name)
    return path.with_name(path.stem + ".sha256.json")


def resolve(checkpoint: str | Path) -> Path:
    """`pretrained:NAME` -> its cached checkpoint, checked against its sha256 record (an error says
    how to get it, or that it changed); anything else as is."""
    text = str(checkpoint)
    if not text.startswith(PREFIX):
        return Path(checkpoint)
    name = text.removeprefix(PREFIX)
    path = cached_path(name)
    if not path.is_file():
        raise GantoolError(f"{text} is not downloaded yet: run `gantool pretrained get {name}` "
                           f"(it is cached in {cache_dir()})")
    check_cached(name)
    return path


def check_cached(name: str) -> str:
    """The sha256 of the cached model `name`, which must match the one recorded when it was
    downloaded. A cache from before records existed gets its record now (when it can be written)."""
    from gantool.download import sha256_of

    path, record = cached_path(name), record_path(name)
    digest = sha256_of(path)
    try:
        recorded = json.loads(record.read_text())["checkpoint_sha256"]
    except FileNotFoundError:
        _write_record(record, {"name": name, "checkpoint": path.name, "checkpoint_sha256": digest,
                               "note": "recorded on first use: cached before gantool recorded downloads"},
                      required=False)
        return digest
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise GantoolError(f"the sha256 record of pretrained:{name} ({record}) cannot be read ({type(err).__name__}); "
                           f"run `gantool pretrained get {name} --force` to download it again") from None
    if digest != recorded:
        raise GantoolError(f"the cached pretrained:{name} ({path}) changed since it was downloaded: its sha256 is "
                           f"{digest}, not the {recorded} recorded in {record}; it was not loaded. Run "
                           f"`gantool pretrained get {name} --force` to download it again")
    return digest


def _write_record(record: Path, values: dict[str, Any], required: bool = True) -> None:
    from gantool.checkpoint import atomic_write

    try:
        atomic_write(record, lambda f: f.write((json.dumps(values, indent=1) + "\n").encode()))
    except (OSError, GantoolError):  # a full disk is a GantoolError
        if required:
            raise


def _unwritable(folder: Path, err: OSError, name: str) -> GantoolError:
    return GantoolError(f"cannot write the model cache {folder} ({err.strerror or err}): set GANTOOL_CACHE to a "
                        f"folder you can write, e.g. GANTOOL_CACHE=/tmp/gantool-cache gantool pretrained get {name}")


def get(name: str, force: bool = False, url: str | None = None, progress: bool = True,
        log: Callable[[str], None] = lambda line: None, sha256: str | None = None) -> Path:
    """Download, import and cache the published model `name` (once; `force` fetches it again).
    `url` replaces the reference's address (a mirror, or a local server in tests); `sha256`, when
    given, must be the digest of the downloaded file. The digests are recorded and logged."""
    model = find(name)
    from gantool.checkpoint import save_checkpoint
    from gantool.download import fetch, fetch_https_first, sha256_of
    from gantool.interop.reference import import_reference

    name = name.removeprefix(PREFIX)
    target = cached_path(name)
    if target.is_file() and not force:
        digest = check_cached(name)
        log(f"{name} is cached: {target}, sha256 {digest} as recorded (--force downloads it again)")
        return target
    expected = sha256.strip().lower() if sha256 else None
    if expected is not None and (len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected)):
        raise GantoolError(f"--sha256 {sha256!r} is not a sha256 digest (64 hexadecimal digits)")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{model.file}.", suffix=".pth.part", dir=target.parent)
    except OSError as err:
        raise _unwritable(target.parent, err, name) from None
    os.close(fd)
    try:
        source = url or model.url
        log(f"downloading {source}")
        fetched = (fetch if url else fetch_https_first)(source, Path(tmp), progress, model.file, log)
        if expected is not None and fetched.sha256 != expected:
            raise GantoolError(f"the file from {fetched.url} has sha256 {fetched.sha256}, not the {expected} given "
                               "with --sha256; nothing was cached")
        state, report = import_reference([Path(tmp)], recipe=model.recipe, direction=model.direction,
                                         dropout=model.dropout)
        state.setdefault("imported", {})["published_as"] = {"name": name, "url": model.url, "expects": model.expects,
                                                            "downloaded_from": fetched.url, "sha256": fetched.sha256}
        record = record_path(name)
        record.unlink(missing_ok=True)  # (--force) never an old record beside a new file
        save_checkpoint(state, target)
        try:
            _write_record(record, {"name": name, "url": fetched.url, "bytes": fetched.size,
                                   "download_sha256": fetched.sha256, "checkpoint": target.name,
                                   "checkpoint_sha256": sha256_of(target),
                                   "downloaded": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        except BaseException as err:
            target.unlink(missing_ok=True)  # a model without its record could not be checked later
            if isinstance(err, OSError):
                raise _unwritable(target.parent, err, name) from None
            raise
    finally:
        Path(tmp).unlink(missing_ok=True)
    log(str(report) if report else f"imported {name}")
    log(f"sha256 of {model.file}.pth as downloaded from {fetched.url}: {fetched.sha256}; recorded in {record}, "
        f"and each use of pretrained:{name} checks the cached file against it")
    return target
