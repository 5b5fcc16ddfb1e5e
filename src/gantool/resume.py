"""Continuing a run: its own config wins, except for settings that are sound to change mid-run.

A resumed run must compute what the uninterrupted run would have, so everything that shapes the
numbers (data, networks, losses, optimizers, precision, seed) comes from the checkpoint. What
only says how long to go on, where to compute, and how often to log, sample and save may change;
each such change is applied and recorded in the run folder's `config_history.jsonl`.
"""

from __future__ import annotations

import datetime
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gantool.recipes  # noqa: F401  (a checkpoint's config may be any recipe's)
from gantool.checkpoint import load_checkpoint, resolve_checkpoint_path
from gantool.config import Config, apply_overrides, flat_values, set_values
from gantool.errors import GantoolError

# keys (or sections, ending in ".") a resumed run may change
CHANGEABLE = ("train.steps", "train.device", "data.num_workers", "train.keep_checkpoints", "train.checkpoint_every",
              "train.log_every", "train.sample_every", "train.val_every", "train.logger", "diagnostics.")
# the length of a run follows train.steps when it is given
FOLLOWS_STEPS = ("train.epochs", "train.decay_epochs")
PATH_KEYS = ("data.root", "data.root_b", "data.val")
HISTORY = "config_history.jsonl"
log = logging.getLogger("gantool")


def changeable(key: str) -> bool:
    return any(key == c or (c.endswith(".") and key.startswith(c)) for c in CHANGEABLE)


def _same(key: str, old: Any, new: Any) -> bool:
    if old == new:
        return True
    if key in PATH_KEYS and isinstance(old, str) and isinstance(new, str):
        return Path(old).expanduser().resolve() == Path(new).expanduser().resolve()
    return False


@dataclass
class ResumePlan:
    checkpoint: Path
    run_dir: Path
    state: dict[str, Any]  # the loaded checkpoint
    config: Config  # the checkpoint's config with the accepted changes
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # key: (old, new)
    files: tuple[tuple[str, int, int, int], ...] = ()  # the checkpoint files as they were when read

    def check_unchanged(self) -> None:
        """With the run's lock held: refuse when another process saved checkpoints of the run after
        this plan read it (it finished while this one was starting), rather than go back in time."""
        if self.files and checkpoint_files(self.checkpoint) != self.files:
            raise GantoolError(f"another process saved checkpoints of {self.run_dir} while this one was starting; "
                               "run the command again to continue from the new checkpoint")


def run_dir_of(checkpoint: Path) -> Path:
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


def _step_of(path: Path) -> int:
    digits = path.stem.removeprefix("step_")
    return int(digits) if digits.isdigit() else -1


def checkpoint_files(checkpoint: Path) -> tuple[tuple[str, int, int, int], ...]:
    """Name, inode, size and mtime of each checkpoint beside `checkpoint`: what a save changes."""
    found = []
    for path in sorted(checkpoint.parent.glob("*.pt")):
        try:
            info = path.stat()
        except OSError:
            continue
        found.append((path.name, info.st_ino, info.st_size, info.st_mtime_ns))
    return tuple(found)


def checkpoint_to_resume(resume: str | Path) -> Path:
    """`resume` itself (a .pt file), or a run folder's checkpoints/latest.pt, which may be missing
    when step_*.pt files are beside it (load_for_resume falls back to them)."""
    folder = Path(resume).expanduser()
    if folder.is_dir() and not (folder / "latest.pt").is_file() and any((folder / "checkpoints").glob("step_*.pt")):
        return folder / "checkpoints" / "latest.pt"
    return resolve_checkpoint_path(resume)


def load_for_resume(path: Path) -> tuple[Path, dict[str, Any]]:
    """The checkpoint at `path` (from checkpoint_to_resume), loaded. When it is a latest.pt that is
    damaged or missing: the newest step_*.pt beside it that loads, with a warning that names it, as
    a disk error or a half-copied run folder must not cost the whole run when good periodic
    checkpoints remain."""
    try:
        return path, load_checkpoint(path)
    except GantoolError as err:
        if path.name != "latest.pt":  # a file the user chose: theirs to replace
            raise
        failure = err
    for candidate in sorted(path.parent.glob("step_*.pt"), key=_step_of, reverse=True):
        if path.exists() and candidate.samefile(path):  # latest.pt is a hard link to it: the same damaged bytes
            continue
        try:
            state = load_checkpoint(candidate)
        except GantoolError:
            continue
        reason = str(failure).removeprefix("checkpoint ")
        reason = reason.removeprefix(f"{path} ") if reason.startswith(f"{path} ") else f"cannot be loaded ({reason})"
        log.warning(f"{path} {reason}; resuming from {candidate} (step {state.get('step')}), the newest checkpoint "
                    "beside it that loads")
        return candidate, state
    raise GantoolError(f"{failure}; and no step_*.pt checkpoint beside it loads either") from None


def plan_resume(resume: str | Path, recipe: str, values: dict[str, Any] | None = None,
                overrides: tuple[str, ...] | list[str] = (), steps: int | None = None,
                option_names: dict[str, str] | None = None) -> ResumePlan:
    """The checkpoint at `resume` (a run folder or .pt file) with the requested `values` (dotted
    keys), `--set` `overrides` and new total `steps`. A value equal to the run's changes nothing;
    one that would change what the run computes is refused with the option (from `option_names`)
    and both values named."""
    path = checkpoint_to_resume(resume)
    files = checkpoint_files(path)  # before reading: a save during the read shows as a change
    path, state = load_for_resume(path)
    if state.get("recipe") != recipe:
        raise GantoolError(f"{path} is a {state.get('recipe')!r} checkpoint, not {recipe!r}")
    if state.get("optim_g") is None:  # e.g. an imported published model: weights only
        raise GantoolError(f"{path} holds no training state to resume (no optimizer state); "
                           "start a new run from its weights with --init-from instead")
    state["source"] = str(path)  # names the file in errors about its tensors
    saved = Config.from_dict(state["config"])
    from gantool.recipes import RECIPES
    from gantool.weights import check_checkpoint_fits

    check_checkpoint_fits(lambda: RECIPES.get(recipe)(saved, state["meta"]), state, path)  # before it takes memory
    requested = {k: v for k, v in (values or {}).items() if v is not None}
    if steps is not None:
        requested["train.steps"] = steps
    wanted = apply_overrides(set_values(saved, requested), list(overrides))
    before, after = flat_values(saved), flat_values(wanted)
    steps_given = after["train.steps"] != before["train.steps"]
    changes, refused = {}, {}
    for key, new in after.items():
        old = before.get(key)
        if _same(key, old, new) or (steps_given and key in FOLLOWS_STEPS):
            continue
        (changes if changeable(key) else refused)[key] = (old, new)
    run_dir = run_dir_of(path)
    if refused:
        names = option_names or {}
        listed = "; ".join(f"{names.get(k, '--set ' + k)} ({k}: {old!r} in the run, {new!r} given)"
                           for k, (old, new) in refused.items())
        raise GantoolError(
            f"--resume {resume} continues the run with its own config ({run_dir / 'config.yaml'}), and the run's "
            f"config wins: {listed}. Drop these options to continue, or start a new run to change them. "
            f"A resumed run may change only --steps, --device, --workers and --set of "
            f"{', '.join(c + '*' if c.endswith('.') else c for c in CHANGEABLE[3:])}")
    if steps_given and after["train.steps"] < int(state["step"]):
        raise GantoolError(f"--steps {after['train.steps']} is below the checkpoint's step {state['step']}")
    config = set_values(saved, {k: new for k, (_, new) in changes.items()})
    return ResumePlan(path, run_dir, state, config, changes, files)


def record_changes(plan: ResumePlan) -> None:
    """Append the accepted changes to the run's config history (nothing when there are none)."""
    if not plan.changes:
        return
    record = {"step": int(plan.state["step"]), "time": datetime.datetime.now().isoformat(timespec="seconds"),
              "checkpoint": str(plan.checkpoint),
              "changes": {k: {"from": old, "to": new} for k, (old, new) in plan.changes.items()}}
    with (plan.run_dir / HISTORY).open("a") as f:
        f.write(json.dumps(record) + "\n")
