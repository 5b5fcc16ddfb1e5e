"""Reading a run's metrics.jsonl: one JSON object per line, of four kinds told apart by their keys.

- training records (every `train.log_every` steps): losses, D scores, gradient norms, it/s;
- diversity records (with each sample grid): `diversity_ratio` of the mode-collapse check;
- validation records (every `train.val_every` steps): `val_*` values, and `best` records when
  checkpoints/best.pt is replaced;
- warnings of the diagnostics monitor: `warning`, `message`, `remedy`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gantool.errors import GantoolError


def record_kind(record: dict[str, Any]) -> str:
    if "warning" in record:
        return "warning"
    if "best" in record:
        return "best"
    if "diversity_ratio" in record:
        return "diversity"
    if any(key.startswith("val_") for key in record):
        return "validation"
    if "loss_g" in record:  # every recipe has a G phase; not every one a D phase
        return "training"
    return "other"


def read_records(run_dir: str | Path, kind: str | None = None) -> list[dict[str, Any]]:
    """The records of `run_dir`/metrics.jsonl (or of that file itself), optionally of one kind."""
    path = Path(run_dir)
    if path.is_dir():
        path = path / "metrics.jsonl"
    if not path.is_file():
        raise GantoolError(f"{path} does not exist: is {run_dir} a gantool run folder?")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise GantoolError(f"{path}, line {number}: not JSON ({line[:60]!r})") from None
    return [r for r in records if kind is None or record_kind(r) == kind]
