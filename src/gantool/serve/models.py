"""The models a page serves: found from checkpoints, run folders, folders of runs and
`pretrained:NAME`, each loaded once through the library calls the CLI uses (`load_translators`,
`load_sampler`).

A model is a translator (pix2pix, CycleGAN, any recipe with translation generators: the Translate
and Sketch tabs) or a sampler (the class-conditional cgan: the Generate tab). A later sampling
recipe plugs in by adding its loader to `sampler_loaders`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from gantool.errors import GantoolError

log = logging.getLogger("gantool")

def sampler_loaders() -> dict[str, Callable[[Path, torch.device], Any]]:
    """recipe -> loader (checkpoint, device) of an object with .sample(labels, z=, seed=),
    .class_names, .label_index() and .noise() (see gantool.inference.ConditionalSampler; an
    unconditional gan's UnconditionalSampler has no class names)."""
    from gantool.inference import SAMPLING_RECIPES, load_sampler

    return dict.fromkeys(SAMPLING_RECIPES, load_sampler)


@dataclass
class ServedModel:
    """One model of the page. `translators` maps direction ("a2b", "b2a") to a loaded Translator;
    `sampler` is set instead for a sampling model. `run_dir` holds the training report, if any."""

    name: str
    checkpoint: Path
    recipe: str
    translators: dict[str, Any] = field(default_factory=dict)
    sampler: Any = None
    run_dir: Path | None = None
    expects: str = ""  # what to feed it, in words (published models say it)
    input_kind: str = "photo"  # "edges" / "labels": the Sketch tab draws that for it

    @property
    def kind(self) -> str:
        return "translate" if self.translators else "generate"

    @property
    def device(self) -> torch.device:
        if self.translators:
            return next(iter(self.translators.values())).device
        return self.sampler.device

    @property
    def image_size(self) -> int:
        first = next(iter(self.translators.values())) if self.translators else self.sampler
        return int(first.config.data.image_size)

    def describe(self) -> str:
        what = f"{self.recipe}"
        if self.translators:
            what += f", {' and '.join(self.translators)}"
        return f"{self.name} ({what})" + (f": {self.expects}" if self.expects else "")


def served_recipes() -> tuple[str, ...]:
    from gantool.translate import translation_recipes

    return translation_recipes() + tuple(sampler_loaders())


def find_checkpoints(specs: Iterable[str | Path]) -> list[tuple[str, Path, bool]]:
    """(shown name, checkpoint or export path, given explicitly) for each spec: a checkpoint file,
    a run folder, an exported generator folder, `pretrained:NAME`, or a folder of runs (every
    run's latest checkpoint under it, newest first). Duplicates are kept once."""
    from gantool.checkpoint import resolve_checkpoint_path
    from gantool.pretrained import PREFIX, resolve
    from gantool.run import run_checkpoints

    found: list[tuple[str, Path, bool]] = []
    for spec in specs:
        text = str(spec)
        if text.startswith(PREFIX):
            found.append((text, resolve(text), True))
            continue
        path = Path(text).expanduser()
        if not path.exists():
            raise GantoolError(f"{text} does not exist: give checkpoints (.pt), run folders, exports, folders of "
                               "runs such as runs/, or pretrained:NAME")
        if path.is_file() or (path / "generator.json").is_file() or (path / "checkpoints" / "latest.pt").is_file():
            found.append((text, path, True))
            continue
        runs = run_checkpoints(served_recipes(), path)
        if not runs:
            raise GantoolError(f"{text} holds no run with checkpoints/latest.pt of a {', '.join(served_recipes())} "
                               "model; train one first, or give a checkpoint file")
        found += [(str(Path(text) / latest.parent.parent.relative_to(path)), latest, False) for latest in runs]
    unique: dict[Path, tuple[str, Path, bool]] = {}
    for name, path, explicit in found:  # runs/ and runs/cgan both give runs/cgan/checkpoints/latest.pt
        key = path if (path / "generator.json").is_file() else resolve_checkpoint_path(path)
        first = unique.setdefault(key.resolve(), (name, path, explicit))
        if explicit and not first[2]:
            unique[key.resolve()] = (first[0], first[1], True)
    return list(unique.values())


def load_model(name: str, path: Path, device: torch.device, precision: str = "fp32", tile: int = 1024) -> ServedModel:
    """One model, loaded once (translation models: every direction it holds)."""
    from gantool.checkpoint import load_generator_state
    from gantool.translate import load_translators, translation_recipes

    recipe = load_generator_state(path)["recipe"]
    expects, kind = _published_input(name, path)
    model = ServedModel(name, path, recipe, run_dir=_run_dir(path), expects=expects)
    if recipe in translation_recipes():
        model.translators = load_translators(path, device, tile=tile, precision=precision)
        model.input_kind = kind or _input_kind(next(iter(model.translators.values())).config)
    elif recipe in sampler_loaders():
        model.sampler = sampler_loaders()[recipe](path, device)
    else:
        raise GantoolError(f"{path} holds a {recipe!r} model, which the page cannot show; it serves "
                           f"{', '.join(served_recipes())} models")
    return model


def load_models(specs: Iterable[str | Path], device: str = "auto", precision: str = "auto",
                tile: int = 1024) -> list[ServedModel]:
    """Every model of `specs` (see `find_checkpoints`), loaded on `device`. A model given by name
    that does not load is an error; one found in a folder of runs is skipped with a warning."""
    from gantool.training.device import resolve_device

    resolved = resolve_device(device)
    models = []
    for name, path, explicit in find_checkpoints(specs):
        try:
            models.append(load_model(name, path, resolved, precision, tile))
        except GantoolError as err:
            if explicit:
                raise
            log.warning("skipped %s: %s", name, err)
    if not models:
        raise GantoolError("no model to serve: every checkpoint found failed to load (see the warnings above)")
    return models


def _run_dir(path: Path) -> Path | None:
    """The run folder of a checkpoint (the one with metrics.jsonl), for its training report."""
    for folder in (path, path.parent, path.parent.parent):
        if folder.is_dir() and (folder / "metrics.jsonl").is_file():
            return folder
    return None


def _published_input(name: str, path: Path) -> tuple[str, str | None]:
    """What a published model expects, in words, and the drawing that suits it (None: unknown)."""
    from gantool import pretrained

    key = name.removeprefix(pretrained.PREFIX)
    if key not in pretrained.MODELS and path.parent == pretrained.cache_dir():
        key = path.stem
    if key not in pretrained.MODELS:
        return "", None
    expects = pretrained.MODELS[key].expects
    kind = "edges" if "edge" in expects else "labels" if "label map" in expects else "photo"
    return expects, kind


def _input_kind(cfg: Any) -> str:
    """Edges or label maps for runs on such data, judged by the data folder's name (edges2shoes,
    edges2handbags: edges -> photo; facades read BtoA: label map -> photo)."""
    text = str(cfg.data.root or "").lower()
    reverse = cfg.recipe == "pix2pix" and cfg.data.direction == "BtoA"
    if ("edges2" in text or "sketch" in text) and not reverse:
        return "edges"
    if "facades" in text and reverse:
        return "labels"
    return "photo"
