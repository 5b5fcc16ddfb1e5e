"""What the loop writes into the run folder: metrics.jsonl (with the monitor's warnings) and the
checkpoint files (periodic ones rotated, latest.pt beside them)."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from torch import Tensor

from gantool.checkpoint import atomic_write, link_or_copy, save_checkpoint
from gantool.diagnostics import TrainingMonitor
from gantool.errors import GantoolError
from gantool.runlog import load_lines, torn_line_note
from gantool.tensorboard_log import NULL_BOARD, NullBoard

log = logging.getLogger("gantool")


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def _logged_after(record: Any, step: int) -> bool:
    value = record.get("step", 0) if isinstance(record, dict) else 0
    return isinstance(value, (int, float)) and value > step


def drop_metrics_after(path: Path, step: int) -> list[dict[str, Any]]:
    """Drop the records a crashed run wrote past its checkpoint, and a last line that a kill or a
    full disk cut short (with a warning: appends must start on a line of their own); return the
    records kept."""
    if not path.is_file():
        return []
    text = path.read_text(errors="replace")
    values, torn = load_lines(path)
    if torn is not None:
        log.warning(torn_line_note(path, torn) + f"; removed it, and the run continues from step {step}")
    kept = [record for _, record in values if not _logged_after(record, step)]
    if len(kept) != len(text.splitlines()) or (text and not text.endswith("\n")):
        atomic_write(path, lambda f: f.write("".join(json.dumps(record) + "\n" for record in kept).encode()))
    return [record for record in kept if isinstance(record, dict)]


class MetricsLog:
    """metrics.jsonl of a run; every record also goes to the diagnostics monitor, whose warnings
    go to the same file and, unless quiet, to the progress bar, and everything written here (and
    each sample grid) to `board`, the TensorBoard mirror of `train.logger: tensorboard`."""

    def __init__(self, run_dir: Path, monitor: TrainingMonitor, selection_metric: str | None, quiet: bool,
                 board: NullBoard = NULL_BOARD) -> None:
        self.run_dir, self.monitor, self.selection_metric, self.quiet = run_dir, monitor, selection_metric, quiet
        self.board = board
        self.bar: Any = None

    @property
    def path(self) -> Path:  # the run folder is chosen after the trainer is built
        return self.run_dir / "metrics.jsonl"

    def resume_at(self, step: int) -> None:
        """Forget what a crashed run logged after `step` and let the monitor see what came before."""
        self.monitor.replay(drop_metrics_after(self.path, step), self.selection_metric)

    def append(self, record: dict[str, Any]) -> None:
        """A record that the monitor does not judge (best.pt, divergence)."""
        append_jsonl(self.path, record)
        self.board.record(record)

    def record(self, record: dict[str, Any]) -> None:
        append_jsonl(self.path, record)
        self.board.record(record)
        for warning in self.monitor.observe(record, self.selection_metric):
            append_jsonl(self.path, warning)
            self.board.record(warning)
            if self.bar is not None and not self.quiet:
                self.bar.write(f"warning at step {warning['step']} ({warning['warning']}): {warning['message']}. "
                               f"Try: {warning['remedy']}.")


class LogWindow:
    """The step statistics since the last log record: losses averaged, gradient norms the latest."""

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {}
        self.steps = 0

    def add(self, stats: dict[str, Tensor]) -> None:
        self.steps += 1
        for key, value in stats.items():
            if key.startswith("grad_norm"):
                self.sums[key] = value
            else:
                self.sums[key] = self.sums[key] + value if key in self.sums else value.clone()

    def values(self, sums: dict[str, Tensor]) -> dict[str, float]:
        """`sums` (this window's, possibly averaged over processes) as plain numbers."""
        return {k: (v.item() if k.startswith("grad_norm") else v.item() / self.steps) for k, v in sums.items()}


def check_finite(metrics: dict[str, float], step: int, run_dir: Path, log: MetricsLog | None) -> None:
    """Stop the run, with a warning record and a clear error, when a logged value is NaN/inf."""
    bad = [k for k, v in metrics.items() if not math.isfinite(v)]
    if not bad:
        return
    if log is not None:
        log.append({"step": step, "warning": "divergence",
                    "message": f"{', '.join(bad)} became NaN/inf; training stopped",
                    "remedy": "lower the learning rates, use fp32, or add R1"})
    raise GantoolError(
        f"training diverged at step {step}: {', '.join(bad)} became NaN/inf. The last good "
        f"checkpoint is in {run_dir / 'checkpoints'}; lower the learning rates, use fp32, "
        "or add R1 (--set loss.r1_weight=1)"
    )


def remove_stale_writes(run_dir: Path) -> None:
    """Temp files of checkpoint writes that a killed run cut short."""
    for stale in (run_dir / "checkpoints").glob(".*.tmp"):
        stale.unlink(missing_ok=True)


def write_checkpoint(state: dict[str, Any], run_dir: Path, step: int, keep: int) -> Path:
    """checkpoints/step_N.pt (the newest `keep` of them kept) and latest.pt; only latest.pt when
    `keep` is 0. Returns latest.pt."""
    folder = run_dir / "checkpoints"
    latest = folder / "latest.pt"
    if keep > 0:
        periodic = folder / f"step_{step:07d}.pt"
        save_checkpoint(state, periodic, keep_hint=keep)
        link_or_copy(periodic, latest)
        for path in sorted(folder.glob("step_*.pt"))[:-keep]:
            path.unlink(missing_ok=True)
    else:
        save_checkpoint(state, latest, keep_hint=keep)
    return latest
