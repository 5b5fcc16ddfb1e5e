"""Starting and resuming training runs: the run folder, the recipe, the trainer."""

from __future__ import annotations

import contextlib
from pathlib import Path

from gantool import distributed
from gantool.config import Config, resolve_epochs, save_config, set_values
from gantool.errors import GantoolError
from gantool.recipes import RECIPES
from gantool.resume import ResumePlan, plan_resume, record_changes
from gantool.tensorboard_log import check_available as check_logger
from gantool.trainer import Trainer, TrainResult
from gantool.training.device import resolve_device, seed_everything
from gantool.training.runlock import run_lock
from gantool.warmstart import WarmStart, init_config, load_initial_weights


def free_run_dir(out: str | Path) -> Path:
    """`out` itself when free, else `out-1`, `out-2`, ...: an existing run is never overwritten."""
    out = Path(out).expanduser()
    candidate, n = out, 0
    while candidate.exists() and (not candidate.is_dir() or any(candidate.iterdir())):
        n += 1
        candidate = out.with_name(f"{out.name}-{n}")
    return candidate


def new_run_dir(out: str | Path) -> Path:
    candidate = free_run_dir(out)
    try:
        candidate.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise GantoolError(f"cannot create run folder {candidate}: {err}") from None
    return candidate


def train(cfg: Config, out: str | Path | None = None, resume: str | Path | ResumePlan | None = None,
          steps: int | None = None, quiet: bool = False, stop_at: int | None = None,
          init_from: str | Path | WarmStart | None = None) -> TrainResult:
    """Train `cfg` into a new run folder, or continue the run at `resume` (a run folder, a
    checkpoint, or a `plan_resume` plan): its config wins; `steps` may extend it. `stop_at`
    pauses the run at that step with a checkpoint, as an interruption would: schedules still
    follow `train.steps`, and `resume` continues it. `init_from` (a checkpoint, or `init_config`'s
    WarmStart) starts a new run from that model's architecture and weights, with fresh optimizers.

    Under torchrun (WORLD_SIZE > 1) every process calls this with the same arguments: they join
    one process group, each trains on its share of every global batch of `data.batch_size`, and
    rank 0 alone writes the run folder."""
    plan = None
    if resume is not None:
        plan = resume if isinstance(resume, ResumePlan) else plan_resume(resume, cfg.recipe, steps=steps)
        cfg, run_dir, resume_state = plan.config, plan.run_dir, plan.state
    else:
        resume_state = None
        run_dir = free_run_dir(out or Path("runs") / cfg.name)  # created once everything is built
        if steps is not None:
            cfg = set_values(cfg, {"train.steps": steps})
    check_logger(cfg.train.logger)  # before anything is written
    start = None
    if init_from is not None:
        if resume is not None:
            raise GantoolError("give --resume (continue a run) or --init-from (a new run from a model's weights), "
                               "not both")
        cfg, start = (cfg, init_from) if isinstance(init_from, WarmStart) else init_config(cfg, init_from)
    ctx = distributed.from_environment()
    device = resolve_device(distributed.device_for(cfg.train.device, ctx))
    held = contextlib.ExitStack()  # one training process per run folder, for as long as it trains
    if resume_state is not None and ctx.is_main:
        held.enter_context(run_lock(run_dir))  # before the data is built: a second process stops at once
    with held, distributed.process_group(ctx, device):
        if plan is not None and ctx.is_main:
            plan.check_unchanged()
        recipe_cls = RECIPES.get(cfg.recipe)
        seed_everything(cfg.train.seed)  # network init is part of the run's reproducible state
        dataset, val_dataset, meta = recipe_cls.build_data(cfg)
        cfg = resolve_epochs(cfg, len(dataset))
        if resume_state is not None:
            meta = resume_state["meta"]
        if start is not None:
            meta = {**meta, "init_from": str(start.source)}
        recipe = recipe_cls(cfg, meta)
        if start is not None:
            load_initial_weights(recipe.generators, recipe.discriminators, start)
        trainer = Trainer(cfg, recipe, dataset, run_dir, quiet=quiet, resume_state=resume_state,
                          val_dataset=val_dataset, dist=ctx)
        if resume_state is None:  # a bad option or dataset fails above and leaves no empty run folder
            if ctx.is_main:
                run_dir = new_run_dir(run_dir)
                held.enter_context(run_lock(run_dir))
            trainer.run_dir = run_dir = distributed.from_main(run_dir, ctx)
        if ctx.is_main:
            save_config(cfg, run_dir / "config.yaml")
            if plan is not None:
                record_changes(plan)
        return trainer.fit(stop_at=stop_at)


def run_checkpoints(recipes: tuple[str, ...], runs_dir: str | Path = "runs") -> list[Path]:
    """The `checkpoints/latest.pt` of every run under `runs_dir` whose recipe (read from its
    config.yaml) is one of `recipes`, most recently written first."""
    import yaml

    found = []
    for latest in Path(runs_dir).glob("**/checkpoints/latest.pt"):
        try:
            recipe = yaml.safe_load((latest.parent.parent / "config.yaml").read_text()).get("recipe")
        except (OSError, yaml.YAMLError, AttributeError):
            continue
        if recipe in recipes:
            found.append((latest.stat().st_mtime, latest))
    return [path for _, path in sorted(found, reverse=True)]


def newest_checkpoint(recipes: tuple[str, ...], runs_dir: str | Path = "runs") -> Path:
    """The most recently written `checkpoints/latest.pt` under `runs_dir` of a run whose recipe is
    one of `recipes`; an error says what to do when there is none."""
    found = run_checkpoints(recipes, runs_dir)
    if not found:
        raise GantoolError(f"no --checkpoint given and no {' or '.join(recipes)} run under {Path(runs_dir).absolute()}; "
                           "pass --checkpoint RUN_FOLDER_OR_FILE, or a published model as --checkpoint pretrained:NAME "
                           "(gantool pretrained list)")
    return found[0]
