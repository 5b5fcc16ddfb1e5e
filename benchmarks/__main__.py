"""Training-step and translate speed and peak memory, in one run: a bare hand-written PyTorch loop
over the same networks (the yardstick: what the reference code does per iteration), gantool at its
fp32 defaults, and gantool's optimised path, with the ratios.

    python -m benchmarks                                  # everything (about 25 minutes on 2 CPU cores)
    python -m benchmarks --workloads pix2pix256,cyclegan128,cyclegan256 --no-translate   # the yardstick table
    python -m benchmarks --workloads pix2pix256,cyclegan128,cyclegan256 --no-translate --repeat 3   # medians of 3
    python -m benchmarks --workloads pix2pix256,cgan --out results.json
    python -m benchmarks --device cuda --batch-sizes 1,8  # on a GPU
    python -m benchmarks --workloads cyclegan256,pix2pix256 --no-train --modes torch,onnxruntime
    python -m benchmarks --workloads cyclegan256,cut256,fastcut256 --no-translate   # CUT against CycleGAN

Each measurement runs in its own process (so peak RSS belongs to it alone), with medians over
`iters` iterations after `warmup`. Results are merged into the JSON file (a measurement replaces
the earlier one of the same workload, mode, measure and batch; the others stay) and shown as a
table; workloads with a yardstick measured in the same run also get their time and memory ratios.
Training time per iteration is (start of iteration warmup + iters - start of iteration warmup) /
iters: everything the loop does in between counts (gantool's data decoding, logging, EMA, ...).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import chosen_names, merge_results
from benchmarks.bare_loop import BARE_RECIPES
from benchmarks.workloads import WORKLOADS

MODES = ("baseline", "optimised")  # training and translate: gantool fp32 at its defaults, gantool optimised
# training only: the yardstick, a hand-written loop over the same networks (benchmarks/bare_loop.py)
# with torch's default Adam (as the reference code) and with the fused Adam gantool uses
BARE_MODES = ("bare", "bare-fused")
TRAIN_MODES = BARE_MODES + MODES
ENGINES = ("torch", "onnxruntime")  # translate only: gantool translate's fp32 path on a checkpoint, on an .onnx
TRANSLATE_SIZES = ("256x256", "512x1024")  # H x W


def run_one(workload: str, mode: str, what: str, iters: int, warmup: int, batch_size: int, device: str,
            compile_networks: bool) -> dict:
    command = [sys.executable, "-m", "benchmarks.measure", "--workload", workload, "--mode", mode, "--what", what,
               "--iters", str(iters), "--warmup", str(warmup), "--batch-size", str(batch_size), "--device", device]
    if compile_networks and mode == "optimised":
        command.append("--compile")
    done = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        return {"workload": workload, "mode": mode, "what": what, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_rows(rounds: list[dict]) -> list[dict]:
    """One row per (workload, what, batch, mode): the median over the rounds of its time per
    iteration (or batch) and peak memory, the single rounds kept in `rounds_s_per_it`. Failed rounds are
    left out; a row that failed in every round keeps its error."""
    groups: dict[tuple, list[dict]] = {}
    for row in rounds:
        groups.setdefault((row["workload"], row["what"], row.get("batch_size"), row["mode"]), []).append(row)
    merged = []
    for rows in groups.values():
        ok = [r for r in rows if "error" not in r]
        if not ok:
            merged.append(rows[0])
            continue
        unit = "s_per_it" if "s_per_it" in ok[0] else "s_per_batch"  # training / translate rows
        seconds = statistics.median(r[unit] for r in ok)
        merged.append({**ok[0], unit: seconds, "images_per_s": ok[0]["batch_size"] / seconds,
                       "peak_rss_gb": statistics.median(r["peak_rss_gb"] for r in ok),
                       f"rounds_{unit}": [r[unit] for r in ok]})
    return merged


def _ratio(a: dict | None, b: dict | None, unit: str = "s_per_it") -> str:
    return f"{a[unit] / b[unit]:.2f}x" if a and b else "-"


def train_table(results: list[dict]) -> str:
    """Per workload and batch: the bare loops (the yardstick, torch's default Adam as the reference
    uses it, and the fused Adam gantool uses), gantool fp32 at its defaults and gantool optimised,
    with the time ratios to the bare loop and the peak memory."""
    rows = ["| workload | batch | bare loop (torch Adam) | bare loop (fused Adam) | gantool fp32 | gantool optimised "
            "| fp32 / bare | fp32 / bare fused | optimised / bare | peak RSS bare / fp32 / optimised | "
            "optimised RSS / bare |", "|---" * 11 + "|"]
    keyed = {(r["workload"], r.get("batch_size"), r["mode"]): r for r in results
             if "error" not in r and r["what"] == "train"}
    for workload, batch in dict.fromkeys((w, b) for w, b, _ in keyed):
        bare, fused, fp32, fast = (keyed.get((workload, batch, m)) for m in TRAIN_MODES)
        cell = lambda r: f"{r['s_per_it']:.3f} s" + (f" ({r['precision']})" if r is fast else "") if r else "-"  # noqa: E731
        rss = " / ".join(f"{r['peak_rss_gb']:.2f}" if r else "-" for r in (bare, fp32, fast)) + " GB"
        rows.append(f"| {workload} | {batch} | {cell(bare)} | {cell(fused)} | {cell(fp32)} | {cell(fast)} | "
                    f"{_ratio(fp32, bare)} | {_ratio(fp32, fused)} | {_ratio(fast, bare)} | {rss} | "
                    f"{_ratio(fast, bare, 'peak_rss_gb')} |")
    return "\n".join(rows)


def translate_table(results: list[dict]) -> str:
    rows = ["| workload | measure | baseline (fp32 eager) | optimised | speed-up | peak RSS baseline / optimised |",
            "|---" * 6 + "|"]
    keyed = {(r["workload"], r["what"], r.get("batch_size"), r["mode"]): r for r in results
             if "error" not in r and r["what"] != "train"}
    for (workload, what, batch, mode), base in keyed.items():
        fast = keyed.get((workload, what, batch, "optimised"))
        if mode != "baseline" or fast is None:
            continue
        rows.append(f"| {workload} | {what} | {base['images_per_s']:.2f} img/s | {fast['images_per_s']:.2f} img/s "
                    f"({fast['precision']}) | {fast['images_per_s'] / base['images_per_s']:.2f}x | "
                    f"{base['peak_rss_gb']:.2f} / {fast['peak_rss_gb']:.2f} GB |")
    return "\n".join(rows)


def table(results: list[dict]) -> str:
    parts = []
    if any(r.get("what") == "train" for r in results):
        parts.append(train_table(results))
    if any(r.get("what", "train") != "train" and r.get("mode") in MODES for r in results):
        parts.append(translate_table(results))
    return "\n\n".join(parts)


def engines_table(results: list[dict]) -> str:
    """Translate with the torch checkpoint path against ONNX Runtime, measured in the same run."""
    rows = ["| workload | measure | torch fp32 (translate CKPT) | ONNX Runtime (translate model.onnx) | ORT / torch "
            "| peak RSS torch / ORT |", "|---" * 6 + "|"]
    keyed = {(r["workload"], r["what"], r.get("batch_size"), r["mode"]): r for r in results if "error" not in r}
    for (workload, what, batch, mode), torch_row in keyed.items():
        ort_row = keyed.get((workload, what, batch, "onnxruntime"))
        if mode != "torch" or ort_row is None:
            continue
        fast, slow = ort_row["images_per_s"], torch_row["images_per_s"]
        rows.append(f"| {workload} | {what} | {slow:.2f} img/s | {fast:.2f} img/s | {fast / slow:.2f}x | "
                    f"{torch_row['peak_rss_gb']:.2f} / {ort_row['peak_rss_gb']:.2f} GB |")
    return "\n".join(rows)


def comparisons(results: list[dict]) -> list[dict]:
    """Time and peak-memory ratios of each workload to its yardstick, per mode and batch size, for
    measurements taken in the same run only (the machines are too noisy to compare across runs)."""
    keyed = {(r.get("run"), r["workload"], r["mode"], r.get("batch_size")): r
             for r in results if "error" not in r and r.get("what") == "train"}
    found = []
    for (run, name, mode, batch), result in keyed.items():
        workload = WORKLOADS.get(name)
        yardstick = keyed.get((run, workload.yardstick if workload else None, mode, batch))
        if yardstick is None:
            continue
        found.append({"run": run, "workload": name, "yardstick": workload.yardstick, "mode": mode,
                      "batch_size": batch, "precision": result["precision"], "s_per_it": result["s_per_it"],
                      "yardstick_s_per_it": yardstick["s_per_it"],
                      "time_ratio": result["s_per_it"] / yardstick["s_per_it"],
                      "expected_time_ratio_at_most": workload.expected_time_ratio,
                      "peak_rss_gb": result["peak_rss_gb"], "yardstick_peak_rss_gb": yardstick["peak_rss_gb"],
                      "memory_ratio": result["peak_rss_gb"] / yardstick["peak_rss_gb"]})
    return found


def comparison_table(found: list[dict]) -> str:
    rows = ["| workload | against | mode | s/it | its s/it | time ratio (expected) | peak RSS | its RSS | memory ratio |",
            "|---" * 9 + "|"]
    for c in found:
        expected = f" (<= {c['expected_time_ratio_at_most']})" if c["expected_time_ratio_at_most"] else ""
        rows.append(f"| {c['workload']} | {c['yardstick']} | {c['mode']} ({c['precision']}) | {c['s_per_it']:.2f} | "
                    f"{c['yardstick_s_per_it']:.2f} | {c['time_ratio']:.2f}x{expected} | {c['peak_rss_gb']:.2f} GB | "
                    f"{c['yardstick_peak_rss_gb']:.2f} GB | {c['memory_ratio']:.2f}x |")
    return "\n".join(rows)


def merge(previous: dict, report: dict) -> dict:
    """`report` merged into `previous` (the results file as read): a measurement of the same
    workload, mode, measure, batch and device is replaced, every other result and entry stays (each
    result keeps the `run` it came from), and ratios are formed within one run only."""
    key = lambda r: (r.get("workload"), r.get("mode"), r.get("what"), r.get("batch_size"), r.get("device", "cpu"))  # noqa: E731
    fresh = {key(r) for r in report["results"]}
    kept = [r for r in previous.get("results", []) if key(r) not in fresh]
    for r in kept:  # results from before runs were labelled carry their file's machine and date
        r.setdefault("run", previous.get("run", "earlier"))
    # the first run's duration stays under "seconds"; each merged run adds what it measured
    runs = previous.get("merged_runs", []) + [{"run": report.get("run"), "seconds": report.get("seconds"),
                                               "argv": report.get("argv"), "measured": len(report["results"])}]
    merged = {**previous, **{k: v for k, v in report.items() if k != "seconds"},
              "results": kept + report["results"], "merged_runs": runs}
    merged.setdefault("seconds", report.get("seconds"))
    merged["comparisons"] = comparisons(merged["results"])
    return merged


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="Comma-separated: " + ", ".join(WORKLOADS))
    parser.add_argument("--no-translate", action="store_true", help="Only training steps.")
    parser.add_argument("--no-train", action="store_true", help="Only translate.")
    parser.add_argument("--modes", default=",".join(BARE_MODES + MODES + ENGINES),
                        help="Comma-separated: bare, bare-fused (training: the hand-written yardstick loop with "
                             "torch's default / the fused Adam), baseline, optimised (training and translate: "
                             "gantool fp32 at its defaults / the optimised path), torch, onnxruntime (translate: "
                             "gantool translate's fp32 path on a checkpoint and on an ONNX export).")
    parser.add_argument("--iters", type=int, help="Timed iterations [default: per workload, 10-40].")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-sizes", help="Training batch sizes, e.g. 1,8 [default: per workload].")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda")
    parser.add_argument("--compile", action="store_true", help="torch.compile the networks in the optimised mode.")
    parser.add_argument("--repeat", type=int, default=1,
                        help="Measure every row this many times, the modes of a workload alternating in each "
                             "round, and report the median of each row (the machines are noisy). [default: 1]")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results.json"))
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    names = chosen_names(parser, args.workloads, WORKLOADS, "--workloads")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if any(m not in BARE_MODES + MODES + ENGINES for m in modes):
        parser.error(f"unknown mode in {args.modes!r}; valid: {', '.join(BARE_MODES + MODES + ENGINES)}")
    results = []
    start = time.time()
    run = time.strftime("%Y-%m-%dT%H:%M:%S")
    for name in names:
        workload = WORKLOADS[name]
        batches = [int(b) for b in args.batch_sizes.split(",")] if args.batch_sizes else [workload.batch_size]
        plan = [] if args.no_train else [("train", b, args.iters or workload.iters) for b in batches]
        if workload.translate and not args.no_translate:
            plan += [(f"translate:{size}", 1, 10) for size in TRANSLATE_SIZES]
        for what, batch, iters in plan:
            chosen = [m for m in modes if (m in TRAIN_MODES if what == "train" else m not in BARE_MODES)
                      and (m not in BARE_MODES or workload.recipe in BARE_RECIPES)]
            rounds = []
            for round_index in range(args.repeat):  # the modes alternate within each round
                for mode in chosen:
                    result = {**run_one(name, mode, what, iters, args.warmup, batch, args.device, args.compile),
                              "run": run}
                    rounds.append(result)
                    shown = result.get("error") or f"{result['images_per_s']:.2f} img/s, {result['peak_rss_gb']:.2f} GB"
                    print(f"{name:12} {what:22} batch {batch:<3} {mode:9} {shown}"
                          + (f"  (round {round_index + 1}/{args.repeat})" if args.repeat > 1 else ""), flush=True)
            results += median_rows(rounds)
    report = {"machine": {"platform": platform.platform(), "processor": platform.processor(),
                          "python": platform.python_version()},
              "run": run, "seconds": time.time() - start, "argv": sys.argv[1:] if argv is None else argv,
              "results": results}
    try:
        import torch

        report["machine"]["torch"] = torch.__version__
        report["machine"]["threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            report["machine"]["gpu"] = torch.cuda.get_device_name()
    except ImportError:
        pass
    # the same measurement replaced, other measurements and other scripts' entries (e.g.
    # mixture_of_gaussians) kept
    previous = json.loads(args.out.read_text()) if args.out.is_file() else {}
    report = merge(previous, report)
    merge_results(args.out, report)
    print()
    print(table(results))
    if any(r["mode"] in ENGINES for r in results):
        print()
        print(engines_table(results))
    this_run = [c for c in report["comparisons"] if c["run"] == run]
    if this_run:
        print()
        print(comparison_table(this_run))
    print(f"\nresults: {args.out} (merged with the earlier results it did not measure again)")


if __name__ == "__main__":
    main()
