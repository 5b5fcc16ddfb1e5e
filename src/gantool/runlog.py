"""Reading a run's metrics.jsonl: one JSON object per line, of four kinds told apart by their keys.

- training records (every `train.log_every` steps): losses, D scores, gradient norms, it/s;
- diversity records (with each sample grid): `diversity_ratio` of the mode-collapse check;
- validation records (every `train.val_every` steps): `val_*` values, and `best` records when
  checkpoints/best.pt is replaced;
- warnings of the diagnostics monitor: `warning`, `message`, `remedy`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from gantool.errors import GantoolError

log = logging.getLogger("gantool")
# the fields that readers use as they are (steps on an axis, text in a page); every record has a step
NUMBER = (int, float)
FIELD_TYPES: dict[str, type | tuple[type, ...]] = {"step": int, "warning": str, "message": str, "remedy": str,
                                                   "best": str, "value": NUMBER}


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


def load_lines(path: Path) -> tuple[list[tuple[int, Any]], int | None]:
    """(line number, value) of each line of the JSONL file `path`, and the number of a last line
    that is not JSON (None when there is none), which is left out: a run killed, or stopped by a
    full disk, while appending leaves its last line cut short, and what came before is whole. Any
    other line that is not JSON is damage we cannot explain, so an error names it."""
    values: list[tuple[int, Any]] = []
    lines = path.read_text(errors="replace").splitlines()
    last = max((number for number, line in enumerate(lines, 1) if line.strip()), default=0)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            values.append((number, json.loads(line)))
        except ValueError:  # JSONDecodeError, and values such as 1e999999 that json refuses
            if number == last:
                return values, number
            raise GantoolError(f"{path}, line {number}: not JSON ({line[:60]!r}); only a cut-short last line is "
                               "skipped, so this file was changed or damaged: delete that line, or restore the file "
                               "from a copy") from None
    return values, None


def torn_line_note(path: Path, number: int) -> str:
    return (f"{path}: skipped line {number}, the last, which is cut short (not JSON), as a run stopped while "
            "writing it leaves it")


def record_problem(record: Any) -> str | None:
    """Why `record` cannot be a metrics.jsonl record (a field of the wrong type), or None when it can."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    for key, types in FIELD_TYPES.items():
        if key not in record and key != "step":
            continue
        value = record.get(key)
        if not isinstance(value, types) or isinstance(value, bool):
            return f"'{key}' is {'missing' if key not in record else type(value).__name__}, not {types_name(types)}"
    if not 0 <= record["step"] < 2**63:  # a plot's axis takes it as a float
        return "'step' is out of range"
    return None


def types_name(types: type | tuple[type, ...]) -> str:
    return {int: "an integer", str: "text"}.get(types, "a number")  # type: ignore[call-overload]


def read_records(run_dir: str | Path, kind: str | None = None) -> list[dict[str, Any]]:
    """The records of `run_dir`/metrics.jsonl (or of that file itself), optionally of one kind.

    A cut-short last line, and records whose fields have the wrong type (a file changed by hand,
    or made to attack whoever reads it), are skipped, with one warning line each (logger "gantool")."""
    path = Path(run_dir)
    if path.is_dir():
        path = path / "metrics.jsonl"
    if not path.is_file():
        raise GantoolError(f"{path} does not exist: is {run_dir} a gantool run folder?")
    values, torn = load_lines(path)
    if torn is not None:
        log.warning(torn_line_note(path, torn))
    records, bad = [], []
    for number, record in values:
        problem = record_problem(record)
        if problem is None:
            records.append(record)
        else:
            bad.append((number, problem))
    if bad:
        log.warning(f"{path}: skipped {len(bad)} record(s) whose fields have the wrong type "
                    f"(line {bad[0][0]}: {bad[0][1]})")
    return [r for r in records if kind is None or record_kind(r) == kind]
