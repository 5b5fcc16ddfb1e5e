"""`gantool report RUN_DIR`: a self-contained HTML page and PNG plots of a training run.

Everything comes from the run folder: metrics.jsonl (losses, D scores, gradient norms, the cheap
metric, diversity, warnings), config.yaml and samples/step_*.png. The PNGs are embedded in the
page as data URIs, so the page is one file that can be mailed or attached to an issue.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gantool.errors import GantoolError
from gantool.runlog import read_records
from gantool.storage import DiskFullError

log = logging.getLogger("gantool")
from gantool.safe_paths import inside, leads_inside

# one colour per warning kind, so the same failure looks the same on every plot
WARNING_COLOURS = {
    "vanishing_generator_gradients": "tab:red", "discriminator_overpowering": "tab:orange",
    "discriminator_collapse": "tab:brown", "mode_collapse": "tab:purple", "no_progress": "tab:gray",
    "oscillation": "tab:pink", "divergence": "black",
}
MAX_SAMPLE_GRIDS = 12
SAMPLE_NAME = re.compile(r"step_(\d{1,12})\.png")  # the trainer's samples/step_0000100.png
FULL_DISK_ADVICE = "free space, or give --out a folder on a disk with room"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Report:
    html: Path
    plots: list[Path] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)


def _number(value: Any) -> bool:
    return isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63)


def _series(records: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    points = [(r["step"], r[key]) for r in records if _number(r.get(key))]
    return [p[0] for p in points], [p[1] for p in points]


def _label(text: str) -> str:
    """`text` as a matplotlib label: a `$` from a file would start mathtext, which can fail to parse."""
    return text.replace("$", r"\$")


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all: a full disk is one line, and leaves no partial file."""
    from gantool.checkpoint import atomic_write

    try:
        atomic_write(path, lambda f: f.write(data), size_hint=len(data))
    except DiskFullError as err:
        raise DiskFullError(err.path, err.needed, err.free, FULL_DISK_ADVICE) from None


def _plot(path: Path, title: str, records: list[dict[str, Any]], keys: list[str], warnings: list[dict[str, Any]],
          ylabel: str = "", log_scale: bool = False, reference: float | None = None) -> Path | None:
    """One panel of `keys` against the step, warnings as vertical lines; None when no key has data."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; never opens a window
    import matplotlib.pyplot as plt

    present = [key for key in keys if _series(records, key)[0]]
    if not present:
        return None
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=100)
    for key in present:
        steps, values = _series(records, key)
        if log_scale:
            values = [v if v > 0 else float("nan") for v in values]
        ax.plot(steps, values, label=_label(key), linewidth=1.2, marker="o" if len(steps) < 30 else None, markersize=3)
    if reference is not None:
        ax.axhline(reference, color="lightgray", linestyle=":", linewidth=1)
    seen: set[str] = set()
    for warning in warnings:
        kind = warning["warning"]
        ax.axvline(warning["step"], color=WARNING_COLOURS.get(kind, "tab:red"), linestyle="--", linewidth=1,
                   alpha=0.8, label=_label(f"warning: {kind}") if kind not in seen else None)
        seen.add(kind)
    if log_scale:
        ax.set_yscale("log")
    ax.set(title=title, xlabel="step", ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png")
    plt.close(fig)
    _write(path, png.getvalue())
    return path


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _spread(items: list[Path], n: int) -> list[Path]:
    """At most `n` items, evenly spaced, always with the first and the last."""
    if len(items) <= n:
        return items
    picks = {round(i * (len(items) - 1) / (n - 1)) for i in range(n)}
    return [items[i] for i in sorted(picks)]


def sample_grids(run_dir: str | Path) -> list[Path]:
    """The run's sample grids over time (samples/step_*.png), at most MAX_SAMPLE_GRIDS spread
    evenly from the first to the last."""
    run_dir = Path(run_dir)
    found = [path for path in (run_dir / "samples").glob("step_*.png") if SAMPLE_NAME.fullmatch(path.name)]
    grids = [path for path in found if run_file(run_dir, path, png=True)]
    if len(grids) < len(found):
        log.warning(f"{run_dir / 'samples'}: skipped {len(found) - len(grids)} file(s) named like sample grids that "
                    "are not PNG files inside the run folder")
    return _spread(sorted(grids, key=_grid_step), MAX_SAMPLE_GRIDS)


def _grid_step(path: Path) -> int:
    return int(SAMPLE_NAME.fullmatch(path.name).group(1))  # type: ignore[union-attr]


def run_file(run_dir: Path, path: Path, png: bool = False) -> bool:
    """Whether `path` may go into the page: a regular file inside the run folder once links are
    followed (a link in a shared run folder must not put another of the reader's files into a page
    they pass on), and with `png`, one that starts as a PNG does."""
    try:
        if not path.is_file() or not leads_inside(run_dir, path):
            return False
        if png:
            with path.open("rb") as f:
                return f.read(8) == PNG_SIGNATURE
    except OSError:
        return False
    return True


def _format(value: Any) -> str:
    """`value` as page text: numbers shortened, everything escaped (it comes from files anyone may write)."""
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return html.escape(str(value), quote=True)


def _scalars(values: Any, prefix: str = "") -> dict[str, Any]:
    """Numbers and short strings of a nested result under dotted keys (lists are left to the JSON)."""
    flat: dict[str, Any] = {}
    if isinstance(values, dict):
        for key, value in values.items():
            flat.update(_scalars(value, f"{prefix}{key}."))
    elif isinstance(values, (int, float, str)) and not isinstance(values, bool):
        flat[prefix.rstrip(".")] = values
    return flat


def _evaluation_section(run_dir: Path) -> list[str]:
    """The results `gantool eval` wrote into the run folder, newest first, and the memorisation grid."""
    import json

    parts = ["<h2>Evaluation</h2>"]
    found = False
    for name in ("eval.json", "eval_pix2pix.json", "eval_cyclegan.json", "eval_cut.json"):
        path = run_dir / name
        if not run_file(run_dir, path):
            continue
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError):
            parts.append(f"<p>{html.escape(name)} is not readable JSON.</p>")
            continue
        rows = {k: v for k, v in _scalars(result).items() if len(str(v)) < 200}  # per-image lists stay in the JSON
        parts.append(f"<h3>{html.escape(name)}</h3><table>")
        parts += [f"<tr><th>{html.escape(k)}</th><td>{_format(v)}</td></tr>" for k, v in rows.items()]
        parts.append("</table>")
        found = True
    if run_file(run_dir, run_dir / "memorisation.png", png=True):
        parts.append("<h3>Nearest training images (last column) of generated samples</h3>"
                     f"<p><img src='{_data_uri(run_dir / 'memorisation.png')}' alt='memorisation'></p>")
        found = True
    if not found:
        parts.append(f"<p>None yet: <code>gantool eval {html.escape(str(run_dir))} --data ...</code> writes its "
                     "results here.</p>")
    return parts


def write_report(run_dir: str | Path, out_dir: str | Path | None = None) -> Report:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise GantoolError(f"{run_dir} is not a folder; pass a run folder (with metrics.jsonl) to gantool report")
    records = read_records(run_dir)
    training = [r for r in records if "loss_g" in r and "warning" not in r]
    if not training:
        raise GantoolError(f"{run_dir / 'metrics.jsonl'} has no training records yet; train for at least "
                           "train.log_every steps first")
    warnings = [r for r in records if "warning" in r]
    validation = [r for r in records if any(k.startswith("val_") for k in r) and "warning" not in r]
    diversity = [r for r in records if "diversity_ratio" in r]
    out = Path(out_dir) if out_dir is not None else run_dir / "report"
    if out_dir is None:  # no link planted in a shared run folder may aim the report elsewhere
        inside(run_dir, out, "the run folder", "remove the link or give --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise GantoolError(f"cannot create the report folder {out}: {err}") from None

    loss_keys = sorted({k for r in training for k in r if k.startswith("loss_")})
    score_keys = [k for k in ("d_real", "d_fake") if any(k in r for r in training)]
    val_keys = sorted({k for r in validation for k in r if k.startswith("val_")})
    panels = [
        ("losses.png", "Losses", training, loss_keys, {"ylabel": "loss"}),
        ("d_scores.png", "D(x) and D(G(z))", training, score_keys, {"ylabel": "mean D output"}),
        ("d_accuracy.png", "Discriminator accuracy", training, ["d_accuracy"], {"reference": 0.5}),
        ("grad_norms.png", "Gradient norms", training, ["grad_norm_g", "grad_norm_d"], {"log_scale": True}),
        ("cheap_metric.png", "Validation (cheap metric)", validation, val_keys, {}),
        ("diversity.png", "Diversity of fixed samples / real images", diversity, ["diversity_ratio"],
         {"reference": 1.0}),
        ("lr.png", "Learning rates", training, ["lr_g", "lr_d"], {}),
    ]
    plots = []
    for filename, title, source, keys, options in panels:
        path = _plot(inside(out, out / filename, "--out"), title, source, keys, warnings, **options)
        if path is not None:
            plots.append(path)

    samples = sample_grids(run_dir)
    config = run_dir / "config.yaml"
    config_text = config.read_text(errors="replace") if run_file(run_dir, config) else ""
    last = training[-1]
    best = [r for r in records if "best" in r]
    summary = {"steps logged": last["step"], "time in the loop (s)": last.get("elapsed_s", float("nan")),
               "it/s (last window)": last.get("it_per_s", float("nan")), "warnings": len(warnings)}
    if best:
        summary[f"best {best[-1]['best']}"] = f"{_format(best[-1]['value'])} at step {best[-1]['step']}"

    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>gantool report: {html.escape(run_dir.name)}"
             "</title><style>body{font-family:sans-serif;max-width:1000px;margin:auto;padding:1em}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;"
             "vertical-align:top}img{max-width:100%}pre{background:#f6f6f6;padding:8px;font-size:12px}"
             ".grid{display:inline-block;margin:4px;text-align:center;font-size:12px}</style></head><body>",
             f"<h1>Training report: {html.escape(str(run_dir))}</h1><table>"]
    parts += [f"<tr><th>{html.escape(k)}</th><td>{_format(v)}</td></tr>" for k, v in summary.items()]
    parts.append("</table><h2>Warnings</h2>")
    if warnings:
        parts.append("<table><tr><th>step</th><th>warning</th><th>what it means</th><th>try</th></tr>")
        parts += [f"<tr><td>{_format(w['step'])}</td><td style='color:"
                  f"{WARNING_COLOURS.get(w['warning'], 'red').replace('tab:', '')}'>{_format(w['warning'])}</td>"
                  f"<td>{_format(w.get('message', ''))}</td><td>{_format(w.get('remedy', ''))}</td></tr>"
                  for w in warnings]
        parts.append("</table>")
    else:
        parts.append("<p>None: the diagnostics monitor saw nothing wrong.</p>")
    parts.append("<h2>Curves</h2><p>Dashed vertical lines mark warnings.</p>")
    parts += [f"<p><img src='{_data_uri(p)}' alt='{_format(p.stem)}'></p>" for p in plots]
    parts.append("<h2>Samples over time</h2>")
    if samples:
        parts += [f"<div class='grid'><img src='{_data_uri(p)}' style='max-width:300px'><br>"
                  f"step {_grid_step(p)}</div>" for p in samples]
    else:
        parts.append("<p>No sample grids in samples/.</p>")
    parts += _evaluation_section(run_dir)
    history = run_dir / "config_history.jsonl"
    if run_file(run_dir, history):
        parts.append(f"<h2>Config changes on resume</h2><pre>{html.escape(history.read_text(errors='replace'))}</pre>")
    parts.append(f"<h2>Config</h2><pre>{html.escape(config_text)}</pre></body></html>")
    page = inside(out, out / "report.html", "--out")
    _write(page, "\n".join(parts).encode())
    return Report(page, plots, warnings)
