"""The one training loop, generic over recipes.

Each iteration follows Algorithm 1 of Goodfellow et al. (2014): `d_steps` discriminator updates,
each on a fresh batch, then one generator update. The generator's output from the last D step is
reused (detached there) for the G step, so no forward pass is repeated. The loop owns device,
precision, optimizers, the learning-rate schedule, EMA, logging, sample grids and checkpoints;
the recipe only computes losses. Each of those jobs lives in gantool/training/; this file is the
order in which they happen.

What a recipe trains: `generators` (G phase, averaged by the EMA, exported), `discriminators`
(D phase) and `auxiliaries`, modules trained with one phase's loss by optimizers of their own
(e.g. CUT's projection heads), checkpointed and resumed, never averaged or exported. A recipe
without discriminators (an encoder for a frozen generator) has no D phase: each step is G's alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gantool import distributed
from gantool.checkpoint import capture_rng, restore_rng
from gantool.config import Config, batches_per_epoch
from gantool.data.stream import BatchStream
from gantool.diagnostics import TrainingMonitor
from gantool.distributed import SINGLE_PROCESS, Distributed
from gantool.errors import GantoolError
from gantool.losses import OBJECTIVES
from gantool.recipes.base import Recipe
from gantool.tensorboard_log import open_board
from gantool.training.device import Placement, autocast_dtype, has_fast_bf16, resolve_device, seed_everything
from gantool.training.ema import EMA
from gantool.training.optimizers import PhaseOptimizer, build_optimizer, lr_factor, schedule_factor
from gantool.training.runfiles import LogWindow, MetricsLog, check_finite, remove_stale_writes, write_checkpoint
from gantool.training.signals import StopRequest
from gantool.training.snapshots import Snapshots
from gantool.weights import load_weights

# the trainer's parts that callers import from here
__all__ = ["EMA", "TrainResult", "Trainer", "autocast_dtype", "build_optimizer", "has_fast_bf16", "lr_factor",
           "resolve_device", "seed_everything"]


@dataclass
class TrainResult:
    run_dir: Path
    checkpoint: Path
    step: int
    interrupted: bool
    seconds: float
    last_metrics: dict[str, float]
    stopped_by: str | None = None  # the signal that stopped the run early ("SIGINT", "SIGTERM"), if one did


class Trainer:
    def __init__(self, cfg: Config, recipe: Recipe, dataset: Any, run_dir: Path,
                 quiet: bool = False, resume_state: dict[str, Any] | None = None,
                 val_dataset: Any = None, dist: Distributed = SINGLE_PROCESS) -> None:
        self.cfg, self.tc = cfg, cfg.train
        self.run_dir = Path(run_dir)
        self.dist = dist
        self.quiet = quiet or not dist.is_main  # one progress bar, one set of files: rank 0's
        self.placement = Placement(distributed.device_for(self.tc.device, dist), self.tc.precision,
                                   self.tc.channels_last)
        self.device = self.placement.device
        self.recipe = recipe.to(self.device, memory_format=self.placement.memory_format)
        self.G, self.D, self.A = recipe.generators, recipe.discriminators, recipe.auxiliaries
        phases = {name: recipe.auxiliary_optim(name) for name in self.A}
        oc, fp16 = cfg.optim, self.placement.amp_dtype == torch.float16
        self.aux_phase = {name: spec.phase for name, spec in phases.items()}
        # a recipe without discriminators (e.g. an encoder for a frozen generator) has no D phase
        trained = (("g", self.G, oc.lr_g), ("d", self.D, oc.lr_d)) if len(self.D) else (("g", self.G, oc.lr_g),)
        if not len(self.D) and "d" in self.aux_phase.values():
            raise ValueError(f"recipe {recipe.name}: auxiliary modules trained with the D phase need discriminators")
        self.opt = {phase: PhaseOptimizer(
            nets, lr, {name: (self.A[name], spec.lr or lr) for name, spec in phases.items() if spec.phase == phase},
            oc, fp16) for phase, nets, lr in trained}
        self.ema = EMA(self.G, self.tc.ema_decay, self.tc.ema_start) if self.tc.ema_decay > 0 else None
        if self.tc.compile:  # in place, after the EMA copy: parameter names and checkpoints stay the same
            for module in [*self.G.values(), *self.D.values(), *self.A.values()]:
                module.compile()
        self.step = 0
        self.d_updates = 0
        self.elapsed = 0.0
        self.snapshots = Snapshots(recipe, lambda: self.ema.modules if self.ema is not None else self.G,
                                   self.placement, {}, val_dataset)
        position = self._restore(resume_state) if resume_state is not None else 0
        if dist.enabled:
            # every process trains the same networks; its random draws (dropout, instance noise,
            # augmentation, pools) must differ, or N processes would repeat one process's choices
            seed_everything(self.tc.seed + 1_000_003 * (dist.rank + 1) + self.step)
            # DDP averages gradients over processes during backward; the recipe calls the wrapped
            # networks, while self.G / self.D / self.A (same parameters) serve checkpoints, EMA, sampling
            for attribute, modules in (("generators", self.G), ("discriminators", self.D), ("auxiliaries", self.A)):
                setattr(recipe, attribute, nn.ModuleDict({k: distributed.wrap(m, self.device) for k, m in modules.items()}))
        workers = cfg.data.num_workers if cfg.data.num_workers >= 0 else (4 if self.device.type == "cuda" else 0)
        self.stream = BatchStream(dataset, cfg.data.batch_size, self.tc.seed, workers,
                                  pin_memory=self.device.type == "cuda", position=position,
                                  rank=dist.rank, world_size=dist.world_size)
        self.snapshots.fixed_inputs = recipe.fixed_sample_inputs(self.device, dataset, val_dataset)
        self.monitor = TrainingMonitor(cfg.diagnostics, OBJECTIVES.get(cfg.loss.objective).probabilistic)
        self.stop = StopRequest()

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        g = self.opt["g"].state_dict()
        d = self.opt["d"].state_dict() if "d" in self.opt else {"optim": None, "scaler": None, "auxiliaries": {}}
        return {
            "recipe": self.recipe.name,
            "config": self.cfg.to_dict(),
            "meta": self.recipe.meta,
            "step": self.step,
            "d_updates": self.d_updates,
            "data_position": self.stream.position,
            "elapsed": self.elapsed,
            "generators": self.G.state_dict(),
            "discriminators": self.D.state_dict(),
            "auxiliaries": self.A.state_dict(),
            "ema": self.ema.modules.state_dict() if self.ema is not None else None,
            "optim_g": g["optim"],
            "optim_d": d["optim"],
            "optim_auxiliaries": {**g["auxiliaries"], **d["auxiliaries"]},
            "scaler_g": g["scaler"],
            "scaler_d": d["scaler"],
            "recipe_state": self.recipe.extra_state(),
            "best_metric": self.snapshots.best,
            "rng": capture_rng(),
        }

    def _restore(self, state: dict[str, Any]) -> int:
        source = state.get("source", "checkpoint")
        load_weights(self.G, state["generators"], source)
        load_weights(self.D, state["discriminators"], source)
        if len(self.A) or state.get("auxiliaries"):
            load_weights(self.A, state.get("auxiliaries") or {}, source)
        if self.ema is not None and state.get("ema") is not None:
            load_weights(self.ema.modules, state["ema"], source)
        aux_optim = state.get("optim_auxiliaries") or {}
        if set(aux_optim) != set(self.A):
            raise GantoolError(f"{Path(source).name}: optimizer states of auxiliary modules "
                               f"{sorted(aux_optim)} do not fit the recipe's {sorted(self.A)}; the file was "
                               "changed or is damaged")
        for phase in self.opt:
            self.opt[phase].load_state_dict(state[f"optim_{phase}"], state.get(f"scaler_{phase}"), aux_optim)
        self.recipe.load_extra_state(state.get("recipe_state") or {})
        self.snapshots.best = state.get("best_metric")
        self.step, self.d_updates = int(state["step"]), int(state["d_updates"])
        self.elapsed = float(state.get("elapsed", 0.0))
        restore_rng(state["rng"])
        return int(state["data_position"])

    def save(self) -> Path:
        """Write the checkpoint (rank 0 only; every process returns its path)."""
        if not self.dist.is_main:
            return self.run_dir / "checkpoints" / "latest.pt"
        return write_checkpoint(self.state_dict(), self.run_dir, self.step, self.tc.keep_checkpoints)

    # ------------------------------------------------------------------ loop
    def _aux_modules(self, phase: str) -> list[nn.Module]:
        return [self.recipe.auxiliaries[name] for name, p in self.aux_phase.items() if p == phase]

    def _discriminator_phase(self, stats: dict[str, Tensor], want_norms: bool) -> tuple[dict[str, Tensor], ...]:
        """`d_steps` discriminator updates, each on a fresh batch; (last batch, its fakes) for the G step."""
        opt_d, autocast = self.opt["d"], self.placement.autocast
        self.D.requires_grad_(True)
        for k in range(self.tc.d_steps):
            batch = self.placement.batch(next(self.stream))
            last = k == self.tc.d_steps - 1
            with autocast():
                with torch.set_grad_enabled(last):  # only the last fakes feed the G step
                    fakes = self.recipe.generate(batch)
                loss_d, d_stats = self.recipe.discriminator_loss(batch, fakes, self.step, self.d_updates)
            opt_d.zero_grad()
            opt_d.backward(loss_d)
            norm = opt_d.step(want_norms and last)
            if norm is not None:
                stats["grad_norm_d"] = norm
            self.d_updates += 1
        stats["loss_d"] = loss_d.detach()
        stats.update(d_stats)
        return batch, fakes

    def train_step(self, want_norms: bool) -> dict[str, Tensor]:
        """One generator update preceded by `d_steps` discriminator updates (none for a recipe without
        discriminators); returns detached stats."""
        stats: dict[str, Tensor] = {}
        opt_g, autocast = self.opt["g"], self.placement.autocast
        if "d" in self.opt:
            batch, fakes = self._discriminator_phase(stats, want_norms)
        else:  # no discriminators: one batch, straight to the G step
            batch = self.placement.batch(next(self.stream))
            with autocast():
                fakes = self.recipe.generate(batch)

        # G's backward needs gradients through D (and the D-phase auxiliaries), not for them
        frozen = [self.D, *(self.A[name] for name, p in self.aux_phase.items() if p == "d")]
        for module in frozen:
            module.requires_grad_(False)
        opt_g.zero_grad()
        parts = self.recipe.generator_losses(batch, fakes, self.step)
        loss_g = torch.zeros((), device=self.device)
        pending: list[Tensor] = []
        # D runs frozen here: its DDP wrappers must not wait for gradients that never come
        with distributed.no_sync([*self.recipe.discriminators.values(), *self._aux_modules("d")]):
            while True:
                with autocast():
                    part = next(parts, None)
                if part is None:
                    break
                if self.dist.enabled:
                    pending.append(part[0])  # under DDP: one backward, which averages the gradients once
                else:
                    opt_g.backward(part[0])  # frees this part's activations before the next
                loss_g = loss_g + part[0].detach().float()
                stats.update(part[1])
            if pending:
                opt_g.backward(torch.stack(pending).sum())
        norm = opt_g.step(want_norms)
        if norm is not None:
            stats["grad_norm_g"] = norm
        for module in frozen:
            module.requires_grad_(True)
        if self.ema is not None:
            self.ema.update(self.G, self.step)
        stats["loss_g"] = loss_g
        return stats

    def write_samples(self, log: MetricsLog | None = None) -> Path:
        return self.snapshots.write_samples(self.run_dir, self.step, log)

    def fit(self, stop_at: int | None = None) -> TrainResult:
        from gantool.progress import progress

        tc = self.tc
        main = self.dist.is_main
        log = MetricsLog(self.run_dir, self.monitor, self.recipe.selection_metric, self.quiet,
                         board=open_board(self.cfg, self.run_dir, self.step, enabled=main))
        if main:
            log.resume_at(self.step)
            remove_stale_writes(self.run_dir)
        window, window_start = LogWindow(), time.perf_counter()
        last_metrics: dict[str, float] = {}
        start_time = time.perf_counter()
        start_elapsed = self.elapsed
        interrupted, stopped_by = False, None
        for modules in (self.G, self.D, self.A):
            modules.train()
        # a bar on a terminal, a few plain lines in a log file (gantool.progress)
        bar = progress(tc.steps, desc=self.recipe.name, unit="it", initial=self.step, disable=self.quiet,
                       counter="step")
        log.bar = bar
        per_epoch = batches_per_epoch(len(self.stream.dataset), self.cfg.data.batch_size)
        with self.stop.installed():
            while self.step < tc.steps:
                oc, scheduled = self.cfg.optim, self.cfg.optim.scheduled(self.step)
                factor = schedule_factor(self.step, tc.steps, oc, per_epoch) * oc.exponential_factor(self.step)
                lrs = {f"lr_{phase}": optimizer.set_lr(factor, scheduled) for phase, optimizer in self.opt.items()}
                log_now = (self.step + 1) % tc.log_every == 0 or self.step + 1 == tc.steps
                stats = self.train_step(want_norms=log_now)
                self.step += 1
                window.add(stats)
                bar.update(1)
                if log_now:
                    now = time.perf_counter()
                    last_metrics = window.values(distributed.mean_over_processes(window.sums, self.dist))
                    check_finite(last_metrics, self.step, self.run_dir, log if main else None)
                    last_metrics.update(step=self.step, epoch=self.stream.epoch, **lrs,
                                        it_per_s=window.steps / max(now - window_start, 1e-9),
                                        elapsed_s=start_elapsed + now - start_time)
                    if main:
                        log.record(last_metrics)
                    shown = (("d", "loss_d", ".3f"), ("g", "loss_g", ".3f"), ("dx", "d_real", ".2f"),
                             ("dgz", "d_fake", ".2f"))
                    postfix = {name: f"{last_metrics[key]:{spec}}" for name, key, spec in shown if key in last_metrics}
                    if self.monitor.active:
                        postfix["warn"] = ",".join(sorted(self.monitor.active))
                    bar.set_postfix(postfix, refresh=False)
                    window, window_start = LogWindow(), now
                if main and (self.step % tc.sample_every == 0 or self.step == tc.steps):
                    self.write_samples(log)
                if main and (self.step % tc.val_every == 0 or self.step == tc.steps) and self.snapshots.validates():
                    self.snapshots.write_validation(self.step, log, self.state_dict)
                self.elapsed = start_elapsed + time.perf_counter() - start_time
                stop_requested = distributed.any_process(self.stop.signal_name is not None, self.dist, self.device)
                if stop_requested or self.step == stop_at:
                    interrupted = True
                    # (a signal to another process of a distributed run: torchrun passes on SIGTERM)
                    stopped_by = (self.stop.signal_name or "SIGTERM") if stop_requested else None
                    break
                if self.step % tc.checkpoint_every == 0 and self.step != tc.steps:
                    self.save()
            # with the handlers still installed: a second SIGTERM must not cut the final save short
            self.elapsed = start_elapsed + time.perf_counter() - start_time
            checkpoint = self.save()
        log.board.close()
        bar.close()
        log.bar = None
        return TrainResult(self.run_dir, checkpoint, self.step, interrupted, self.elapsed, last_metrics, stopped_by)
