"""Speed and memory benchmarks of gantool (not tests): `python -m benchmarks --help`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def chosen_names(parser: argparse.ArgumentParser, text: str, valid: dict | list, option: str) -> list[str]:
    """The comma-separated names of `text`; an unknown one is a usage error listing the valid ones."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in valid]
    if unknown:
        parser.error(f"{option}: unknown {', '.join(unknown)}; valid: {', '.join(valid)}")
    return names


def merge_results(path: Path, entries: dict) -> None:
    """Write `entries` into the JSON object at `path` (atomically), keeping its other entries, so
    that each benchmark script replaces only its own results."""
    from gantool.checkpoint import atomic_write

    report = json.loads(path.read_text()) if path.is_file() else {}
    report.update(entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write((json.dumps(report, indent=2) + "\n").encode()))
