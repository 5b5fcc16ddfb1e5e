"""Starting a new run from another model's weights (`--init-from`): fine-tuning a published or
earlier model on new data.

The new run takes the architecture from the checkpoint (the recipe's `architecture_keys`) and
its weights: the raw generators and, when they are there and fit, the discriminators; everything
else (data, losses, schedule, optimizers, which start fresh) comes from the new run's own config.
An option that asks for another architecture than the checkpoint's is an error, not a silent
choice between the two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from gantool.checkpoint import load_checkpoint
from gantool.config import Config, get_value, set_values
from gantool.errors import GantoolError
from gantool.recipes import RECIPES
from gantool.weights import check_fits_first, load_weights


@dataclass
class WarmStart:
    source: Path
    state: dict[str, Any]
    notes: list[str] = field(default_factory=list)  # what started from scratch, said to the user


def _sub_state(weights: dict[str, Any], key: str) -> dict[str, Any]:
    prefix = f"{key}."
    return {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}


def init_config(cfg: Config, init_from: str | Path, explicit: dict[str, Any] | None = None,
                option_names: dict[str, str] | None = None) -> tuple[Config, WarmStart]:
    """`cfg` with the architecture of the checkpoint at `init_from`; `explicit` are the values the
    user asked for by option (dotted keys), which must agree with the checkpoint's architecture."""
    path = Path(init_from)
    state = load_checkpoint(path)
    if state.get("recipe") != cfg.recipe:
        raise GantoolError(f"--init-from {path} holds a {state.get('recipe')!r} model; a {cfg.recipe} run can start "
                           f"only from a {cfg.recipe} model")
    saved = Config.from_dict(state["config"])
    _check_fits_first(saved, state, path)
    keys = RECIPES.get(cfg.recipe).architecture_keys
    names = option_names or {}
    conflicts = [f"{names.get(key, '--set ' + key)} ({key}: {value!r} given, {get_value(saved, key)!r} in the checkpoint)"
                 for key, value in (explicit or {}).items() if key in keys and value != get_value(saved, key)]
    if conflicts:
        raise GantoolError(f"--init-from {path} fixes the architecture, and these options ask for another: "
                           f"{'; '.join(conflicts)}. Drop them (the checkpoint's architecture is used), or train "
                           "from scratch without --init-from")
    return set_values(cfg, {key: get_value(saved, key) for key in keys}), WarmStart(path, state)


def _check_fits_first(saved: Config, state: dict[str, Any], path: Path) -> None:
    """The run is built with the checkpoint's architecture: refuse a checkpoint whose tensors do
    not fit its own config before that is built (each network it holds weights for)."""
    def networks() -> dict[str, nn.Module]:
        recipe = RECIPES.get(saved.recipe)(saved, state["meta"])
        return {f"{kind}.{key}": module for kind in ("generators", "discriminators")
                for key, module in getattr(recipe, kind).items()}

    saved_parts = {f"{kind}.{key}": _sub_state(state.get(kind) or {}, key) or None
                   for kind in ("generators", "discriminators") for key in _top_keys(state.get(kind) or {})}
    check_fits_first(networks, saved_parts, path)


def _top_keys(weights: dict[str, Any]) -> set[str]:
    return {k.split(".", 1)[0] for k in weights if isinstance(k, str)}


def load_initial_weights(generators: nn.ModuleDict, discriminators: nn.ModuleDict, start: WarmStart) -> None:
    """Copy the checkpoint's raw generator (and discriminator) weights into fresh networks; each
    network the checkpoint lacks starts from scratch, with a note that says so."""
    for kind, modules, weights in (("generator", generators, start.state.get("generators") or {}),
                                   ("discriminator", discriminators, start.state.get("discriminators") or {})):
        for key, module in modules.items():
            part = _sub_state(weights, key)
            if part:
                load_weights(module, part, start.source, what="architecture of this run")
            else:
                start.notes.append(f"{kind} {key} starts from scratch ({start.source.name} has no weights for it)")
