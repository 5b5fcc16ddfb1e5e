"""The one training loop, generic over recipes.

Each iteration follows Algorithm 1 of Goodfellow et al. (2014): `d_steps` discriminator updates,
each on a fresh batch, then one generator update. The generator's output from the last D step is
reused (detached there) for the G step, so no forward pass is repeated. The loop owns device,
precision, optimizers, the learning-rate schedule, EMA, logging, sample grids and checkpoints;
the recipe only computes losses.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import random
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import Tensor, nn

from gantool import distributed
from gantool.checkpoint import capture_rng, link_or_copy, restore_rng, save_checkpoint
from gantool.config import Config, OptimConfig, batches_per_epoch
from gantool.data.stream import BatchStream
from gantool.diagnostics import TrainingMonitor, pairwise_diversity
from gantool.distributed import SINGLE_PROCESS, Distributed
from gantool.errors import GantoolError
from gantool.losses import OBJECTIVES
from gantool.recipes.base import Recipe
from gantool.utils import save_image_grid
from gantool.weights import load_weights


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GantoolError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GantoolError(f"device {name!r} was asked for but CUDA is not available here; use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise GantoolError(f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} GPU(s)")
    return device


def has_fast_bf16(device: torch.device) -> bool:
    """bf16 arithmetic in hardware: AVX512-BF16 or AMX on the CPU (elsewhere bf16 is emulated,
    slower than fp32), or a GPU that supports it."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision == "auto":
        precision = "bf16" if has_fast_bf16(device) else "fp32"
    if precision == "fp32":
        return None
    if precision == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise GantoolError("precision bf16 is not supported by this GPU; use fp16 or fp32")
        return torch.bfloat16
    if precision == "fp16":
        if device.type != "cuda":
            raise GantoolError("precision fp16 needs a CUDA device; on the CPU use bf16 or fp32")
        return torch.float16
    raise GantoolError(f"unknown precision {precision!r}; valid: fp32, bf16, fp16, auto")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_optimizer(params: list[nn.Parameter], cfg: OptimConfig, lr: float) -> torch.optim.Optimizer:
    kind = {cfg.implementation: True}  # fused=True or foreach=True
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=cfg.betas, weight_decay=cfg.weight_decay, **kind)
    return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, **kind)


def lr_factor(step: int, total: int, decay_steps: int, steps_per_epoch: int = 0) -> float:
    """Constant, then linear decay over the last `decay_steps` of `total` steps: to 0, step by
    step; or, given `steps_per_epoch`, once per epoch as the reference code does, epoch e (from 0)
    of C constant and N decay epochs at 1 - max(0, e + 1 - C) / (N + 1)."""
    if decay_steps <= 0:
        return 1.0
    start = total - decay_steps
    if steps_per_epoch > 0:
        constant_epochs, decay_epochs = start / steps_per_epoch, decay_steps / steps_per_epoch
        return 1.0 - max(0.0, step // steps_per_epoch + 1 - constant_epochs) / (decay_epochs + 1)
    return 1.0 if step < start else max(0.0, 1.0 - (step - start) / decay_steps)


class EMA:
    """Exponential moving average of generator weights (buffers such as BN statistics are copied)."""

    def __init__(self, modules: nn.Module, decay: float, start: int) -> None:
        self.decay, self.start = decay, start
        self.modules = copy.deepcopy(modules).eval().requires_grad_(False)

    def decay_at(self, step: int) -> float:
        # warm-up: early on the average would be dominated by the random initial weights
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, source: nn.Module, step: int) -> None:
        weight = 1.0 if step < self.start else 1.0 - self.decay_at(step)
        ema_params = list(self.modules.parameters())
        torch._foreach_lerp_(ema_params, [p.detach() for p in source.parameters()], weight)
        for ema_buffer, buffer in zip(self.modules.buffers(), source.buffers()):
            ema_buffer.copy_(buffer)


def _grad_norm(parameters: Iterator[nn.Parameter]) -> Tensor:
    norms = [p.grad.detach().float().norm() for p in parameters if p.grad is not None]
    return torch.stack(norms).norm() if norms else torch.zeros(())


def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def _drop_metrics_after(path: Path, step: int) -> list[dict[str, Any]]:
    """Drop the records a crashed run wrote past its checkpoint; return the ones kept."""
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    kept = [record for record in records if record.get("step", 0) <= step]
    if len(kept) != len(lines):
        path.write_text("".join(json.dumps(record) + "\n" for record in kept))
    return kept


class _StopRequest:
    """SIGINT/SIGTERM set a flag; the loop saves a checkpoint at the next step boundary and stops."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum: int, frame: Any) -> None:
            if self.signal_name is not None:  # a second Ctrl-C: stop now
                raise KeyboardInterrupt
            self.signal_name = signal.Signals(signum).name

        for sig in previous:
            signal.signal(sig, handler)
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


@dataclass
class TrainResult:
    run_dir: Path
    checkpoint: Path
    step: int
    interrupted: bool
    seconds: float
    last_metrics: dict[str, float]


class Trainer:
    def __init__(self, cfg: Config, recipe: Recipe, dataset: Any, run_dir: Path,
                 quiet: bool = False, resume_state: dict[str, Any] | None = None,
                 val_dataset: Any = None, dist: Distributed = SINGLE_PROCESS) -> None:
        self.cfg, self.tc = cfg, cfg.train
        self.run_dir = Path(run_dir)
        self.dist = dist
        self.quiet = quiet or not dist.is_main  # one progress bar, one set of files: rank 0's
        self.val_dataset = val_dataset
        self.device = resolve_device(distributed.device_for(self.tc.device, dist))
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input sizes: pick the fastest kernels once
        self.amp_dtype = autocast_dtype(self.tc.precision, self.device)
        self.memory_format = torch.channels_last if self.tc.channels_last else torch.preserve_format
        self.recipe = recipe.to(self.device, memory_format=self.memory_format)
        self.G, self.D = recipe.generators, recipe.discriminators
        oc = cfg.optim
        self.opt_g = build_optimizer(list(self.G.parameters()), oc, oc.lr_g)
        self.opt_d = build_optimizer(list(self.D.parameters()), oc, oc.lr_d)
        use_scaler = self.amp_dtype == torch.float16
        self.scaler_g = torch.amp.GradScaler("cuda", enabled=use_scaler)
        self.scaler_d = torch.amp.GradScaler("cuda", enabled=use_scaler)
        self.ema = EMA(self.G, self.tc.ema_decay, self.tc.ema_start) if self.tc.ema_decay > 0 else None
        if self.tc.compile:  # in place, after the EMA copy: parameter names and checkpoints stay the same
            for module in [*self.G.values(), *self.D.values()]:
                module.compile()
        self.step = 0
        self.d_updates = 0
        self.elapsed = 0.0
        self.best: float | None = None  # best value of the recipe's selection metric so far
        position = 0
        if resume_state is not None:
            position = self._restore(resume_state)
        if dist.enabled:
            # every process trains the same networks; its random draws (dropout, instance noise,
            # augmentation, pools) must differ, or N processes would repeat one process's choices
            seed_everything(self.tc.seed + 1_000_003 * (dist.rank + 1) + self.step)
            # DDP averages gradients over processes during backward; the recipe calls the wrapped
            # networks, while self.G / self.D (same parameters) serve checkpoints, EMA and sampling
            recipe.generators = nn.ModuleDict({k: distributed.wrap(m, self.device) for k, m in self.G.items()})
            recipe.discriminators = nn.ModuleDict({k: distributed.wrap(m, self.device) for k, m in self.D.items()})
        workers = cfg.data.num_workers if cfg.data.num_workers >= 0 else (4 if self.device.type == "cuda" else 0)
        self.stream = BatchStream(dataset, cfg.data.batch_size, self.tc.seed, workers,
                                  pin_memory=self.device.type == "cuda", position=position,
                                  rank=dist.rank, world_size=dist.world_size)
        self.fixed_inputs = recipe.fixed_sample_inputs(self.device, dataset, val_dataset)
        self.monitor = TrainingMonitor(cfg.diagnostics, OBJECTIVES.get(cfg.loss.objective).probabilistic)
        self.stop = _StopRequest()
        self.bar: Any = None

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
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
            "ema": self.ema.modules.state_dict() if self.ema is not None else None,
            "optim_g": self.opt_g.state_dict(),
            "optim_d": self.opt_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "recipe_state": self.recipe.extra_state(),
            "best_metric": self.best,
            "rng": capture_rng(),
        }

    def _restore(self, state: dict[str, Any]) -> int:
        source = state.get("source", "checkpoint")
        load_weights(self.G, state["generators"], source)
        load_weights(self.D, state["discriminators"], source)
        if self.ema is not None and state.get("ema") is not None:
            load_weights(self.ema.modules, state["ema"], source)
        self.opt_g.load_state_dict(state["optim_g"])
        self.opt_d.load_state_dict(state["optim_d"])
        if state.get("scaler_g"):
            self.scaler_g.load_state_dict(state["scaler_g"])
            self.scaler_d.load_state_dict(state["scaler_d"])
        self.recipe.load_extra_state(state.get("recipe_state") or {})
        self.best = state.get("best_metric")
        self.step, self.d_updates = int(state["step"]), int(state["d_updates"])
        self.elapsed = float(state.get("elapsed", 0.0))
        restore_rng(state["rng"])
        return int(state["data_position"])

    def save(self) -> Path:
        """Write the checkpoint (rank 0 only; every process returns its path)."""
        folder = self.run_dir / "checkpoints"
        periodic = folder / f"step_{self.step:07d}.pt"
        latest = folder / "latest.pt"
        if not self.dist.is_main:
            return latest
        state = self.state_dict()
        if self.tc.keep_checkpoints > 0:
            save_checkpoint(state, periodic, keep_hint=self.tc.keep_checkpoints)
            link_or_copy(periodic, latest)
            old = sorted(folder.glob("step_*.pt"))[: -self.tc.keep_checkpoints]
            for path in old:
                path.unlink(missing_ok=True)
        else:
            save_checkpoint(state, latest, keep_hint=self.tc.keep_checkpoints)
        return latest

    # ------------------------------------------------------------------ loop
    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _next_batch(self) -> dict[str, Tensor]:
        batch = next(self.stream)
        return {k: v.to(self.device, non_blocking=True,
                        memory_format=self.memory_format if v.dim() == 4 else torch.preserve_format)
                for k, v in batch.items()}

    def _set_lr(self) -> tuple[float, float]:
        oc = self.cfg.optim
        per_epoch = batches_per_epoch(len(self.stream.dataset), self.cfg.data.batch_size) if oc.decay_every == "epoch" else 0
        factor = lr_factor(self.step, self.tc.steps, oc.decay_steps(self.tc.steps), per_epoch)
        lr_g, lr_d = self.cfg.optim.lr_g * factor, self.cfg.optim.lr_d * factor
        for group in self.opt_g.param_groups:
            group["lr"] = lr_g
        for group in self.opt_d.param_groups:
            group["lr"] = lr_d
        return lr_g, lr_d

    def train_step(self, want_norms: bool) -> dict[str, Tensor]:
        """One generator update preceded by `d_steps` discriminator updates; returns detached stats."""
        stats: dict[str, Tensor] = {}
        self.D.requires_grad_(True)
        for k in range(self.tc.d_steps):
            batch = self._next_batch()
            last = k == self.tc.d_steps - 1
            with self._autocast():
                with torch.set_grad_enabled(last):  # only the last fakes feed the G step
                    fakes = self.recipe.generate(batch)
                loss_d, d_stats = self.recipe.discriminator_loss(batch, fakes, self.step, self.d_updates)
            self.opt_d.zero_grad(set_to_none=True)
            self.scaler_d.scale(loss_d).backward()
            if want_norms and last:
                self.scaler_d.unscale_(self.opt_d)
                stats["grad_norm_d"] = _grad_norm(self.D.parameters())
            self.scaler_d.step(self.opt_d)
            self.scaler_d.update()
            self.d_updates += 1
        stats["loss_d"] = loss_d.detach()
        stats.update(d_stats)

        self.D.requires_grad_(False)  # G's backward needs gradients through D, not for D
        self.opt_g.zero_grad(set_to_none=True)
        parts = self.recipe.generator_losses(batch, fakes, self.step)
        loss_g = torch.zeros((), device=self.device)
        pending: list[Tensor] = []
        # D runs frozen here: its DDP wrappers must not wait for gradients that never come
        with distributed.no_sync(list(self.recipe.discriminators.values())):
            while True:
                with self._autocast():
                    part = next(parts, None)
                if part is None:
                    break
                if self.dist.enabled:
                    pending.append(part[0])  # under DDP: one backward, which averages the gradients once
                else:
                    self.scaler_g.scale(part[0]).backward()  # frees this part's activations before the next
                loss_g = loss_g + part[0].detach().float()
                stats.update(part[1])
            if pending:
                self.scaler_g.scale(torch.stack(pending).sum()).backward()
        if want_norms:
            self.scaler_g.unscale_(self.opt_g)
            stats["grad_norm_g"] = _grad_norm(self.G.parameters())
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        self.D.requires_grad_(True)
        if self.ema is not None:
            self.ema.update(self.G, self.step)
        stats["loss_g"] = loss_g
        return stats

    @contextlib.contextmanager
    def _inference_generators(self) -> Iterator[nn.ModuleDict]:
        """The generators that samples and validation use (the EMA when kept), in eval mode,
        without gradients, under the run's precision; their mode is restored afterwards."""
        generators = self.ema.modules if self.ema is not None else self.G
        was_training = generators.training
        generators.eval()
        try:
            with torch.no_grad(), self._autocast():
                yield generators
        finally:
            generators.train(was_training)

    def write_samples(self, metrics_path: Path | None = None) -> Path:
        """The sample grid of the fixed inputs; with `metrics_path`, also their diversity record."""
        with self._inference_generators() as generators:
            images, per_row = self.recipe.sample_grid(generators, self.fixed_inputs)
        images = images.float()
        path = self.run_dir / "samples" / f"step_{self.step:07d}.png"
        save_image_grid(images, path, per_row)
        groups = self.recipe.diversity_groups(images, self.fixed_inputs) if metrics_path else []
        groups = [(fake, real) for fake, real in groups if len(fake) > 1 and len(real) > 1]
        if groups:
            fake = float(np.mean([pairwise_diversity(f) for f, _ in groups]))
            real = float(np.mean([pairwise_diversity(r) for _, r in groups]))
            self._record(metrics_path, {"step": self.step, "diversity_fake": fake, "diversity_real": real,
                                        "diversity_ratio": fake / max(real, 1e-12)})
        return path

    def write_validation(self, metrics_path: Path) -> dict[str, float]:
        with self._inference_generators() as generators:
            values = self.recipe.validate(generators, self.val_dataset, self.device)
        if values:
            self._record(metrics_path, {"step": self.step, **values})
            self._keep_best(values, metrics_path)
        return values

    def _record(self, metrics_path: Path, record: dict[str, Any]) -> None:
        """Append a record to metrics.jsonl and pass it to the diagnostics monitor, whose warnings
        go to the same file and, unless quiet, to the terminal."""
        _append_jsonl(metrics_path, record)
        for warning in self.monitor.observe(record, self.recipe.selection_metric):
            _append_jsonl(metrics_path, warning)
            if self.bar is not None and not self.quiet:
                self.bar.write(f"warning at step {warning['step']} ({warning['warning']}): {warning['message']}. "
                               f"Try: {warning['remedy']}.")

    def _keep_best(self, values: dict[str, float], metrics_path: Path) -> None:
        """Save checkpoints/best.pt whenever the recipe's selection metric improves (lower is better)."""
        key = self.recipe.selection_metric
        if key is None or key not in values or not math.isfinite(values[key]):
            return
        if self.best is not None and values[key] >= self.best:
            return
        self.best = values[key]
        save_checkpoint(self.state_dict(), self.run_dir / "checkpoints" / "best.pt")
        _append_jsonl(metrics_path, {"step": self.step, "best": key, "value": values[key]})

    def fit(self, stop_at: int | None = None) -> TrainResult:
        from tqdm.auto import tqdm

        tc = self.tc
        metrics_path = self.run_dir / "metrics.jsonl"
        main = self.dist.is_main
        if main:
            self.monitor.replay(_drop_metrics_after(metrics_path, self.step), self.recipe.selection_metric)
            for stale in (self.run_dir / "checkpoints").glob(".*.tmp"):  # writes cut short by a killed run
                stale.unlink(missing_ok=True)
        sums: dict[str, Tensor] = {}
        window_steps, window_start = 0, time.perf_counter()
        last_metrics: dict[str, float] = {}
        start_time = time.perf_counter()
        start_elapsed = self.elapsed
        interrupted = False
        self.G.train()
        self.D.train()
        bar = tqdm(total=tc.steps, initial=self.step, disable=self.quiet, unit="it", dynamic_ncols=True,
                   desc=self.recipe.name)
        self.bar = bar
        with self.stop.installed():
            while self.step < tc.steps:
                lr_g, lr_d = self._set_lr()
                log_now = (self.step + 1) % tc.log_every == 0 or self.step + 1 == tc.steps
                stats = self.train_step(want_norms=log_now)
                self.step += 1
                window_steps += 1
                for key, value in stats.items():
                    if key.startswith("grad_norm"):
                        sums[key] = value
                    else:
                        sums[key] = sums[key] + value if key in sums else value.clone()
                bar.update(1)
                if log_now:
                    sums = distributed.mean_over_processes(sums, self.dist)
                    now = time.perf_counter()
                    last_metrics = {k: (v.item() if k.startswith("grad_norm") else v.item() / window_steps)
                                    for k, v in sums.items()}
                    self._check_finite(last_metrics, metrics_path)
                    last_metrics.update(step=self.step, epoch=self.stream.epoch, lr_g=lr_g, lr_d=lr_d,
                                        it_per_s=window_steps / max(now - window_start, 1e-9),
                                        elapsed_s=start_elapsed + now - start_time)
                    if main:
                        self._record(metrics_path, last_metrics)
                    postfix = dict(d=f"{last_metrics['loss_d']:.3f}", g=f"{last_metrics['loss_g']:.3f}",
                                   dx=f"{last_metrics.get('d_real', float('nan')):.2f}",
                                   dgz=f"{last_metrics.get('d_fake', float('nan')):.2f}")
                    if self.monitor.active:
                        postfix["warn"] = ",".join(sorted(self.monitor.active))
                    bar.set_postfix(postfix, refresh=False)
                    sums, window_steps, window_start = {}, 0, now
                if main and (self.step % tc.sample_every == 0 or self.step == tc.steps):
                    self.write_samples(metrics_path)
                if (main and (self.step % tc.val_every == 0 or self.step == tc.steps)
                        and self.recipe.validates(self.val_dataset)):
                    self.write_validation(metrics_path)
                self.elapsed = start_elapsed + time.perf_counter() - start_time
                stop_requested = distributed.any_process(self.stop.signal_name is not None, self.dist, self.device)
                if stop_requested or self.step == stop_at:
                    interrupted = True
                    break
                if self.step % tc.checkpoint_every == 0 and self.step != tc.steps:
                    self.save()
        self.elapsed = start_elapsed + time.perf_counter() - start_time
        checkpoint = self.save()
        bar.close()
        self.bar = None
        return TrainResult(self.run_dir, checkpoint, self.step, interrupted, self.elapsed, last_metrics)

    def _check_finite(self, metrics: dict[str, float], metrics_path: Path) -> None:
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        if bad:
            if self.dist.is_main:
                _append_jsonl(metrics_path, {"step": self.step, "warning": "divergence",
                                             "message": f"{', '.join(bad)} became NaN/inf; training stopped",
                                             "remedy": "lower the learning rates, use fp32, or add R1"})
            raise GantoolError(
                f"training diverged at step {self.step}: {', '.join(bad)} became NaN/inf. The last good "
                f"checkpoint is in {self.run_dir / 'checkpoints'}; lower the learning rates, use fp32, "
                "or add R1 (--set loss.r1_weight=1)"
            )
