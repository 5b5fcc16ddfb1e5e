"""gantool on a CUDA machine, end to end, with one command (about five minutes on one GPU):

    python -m benchmarks.gpu_check                 # or: bash benchmarks/gpu_check.sh
    python -m benchmarks.gpu_check --keep runs/gpu_check  # keep runs, outputs and logs there
    python -m benchmarks.gpu_check --list          # print the plan, run nothing (works anywhere)

What runs, through the `gantool` CLI as a user would run it, on synthetic images made here:
- 30 steps of every recipe (cgan, pix2pix, cyclegan) in fp32, bf16 and fp16 (with the grad
  scaler), each with --workers 4 (pinned memory is on for every CUDA run);
- one run with --set train.compile=true, and one --nproc 1 run (one process under torchrun in
  an NCCL process group, NCCL_DEBUG=INFO proving NCCL came up); one run resumed to 40 steps;
- translate (pix2pix fp32, a CycleGAN b2a in fp16, images large enough to be tiled) and
  generate on the GPU; with the onnx extra, an ONNX export translated by ONNX Runtime;
- one table of s/iteration, images/s and peak CUDA memory for CycleGAN 256 and pix2pix 256 at
  batch 1 and 8, fp32 and the optimised mode (bf16), from `benchmarks.measure`.

Every run's metrics.jsonl must be finite (no NaN/inf), reach its step count and leave a
checkpoint; fp16 runs must have an active grad scaler. Exit status: 0 all passed, 1 something
failed (each failure printed with the end of its output), 2 no CUDA device here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
STEPS = 30
RECIPES = ("cgan", "pix2pix", "cyclegan")
PRECISIONS = ("fp32", "bf16", "fp16")
TABLE = [(workload, batch, mode) for workload in ("cyclegan256", "pix2pix256") for batch in (1, 8)
         for mode in ("baseline", "optimised")]


@dataclass(frozen=True)
class Settings:
    """The GPU check's; `rehearsal()` is the same plan shrunk to run on a CPU, to test the harness."""

    device: str = "cuda"
    steps: int = STEPS
    precisions: tuple[str, ...] = PRECISIONS
    compile: bool = True
    nccl: bool = True
    measure_iters: int = 5
    measure_warmup: int = 2
    table: tuple[tuple[str, int, str], ...] = tuple(TABLE)

    def common(self) -> list[str]:
        every = min(10, self.steps)
        return ["--steps", str(self.steps), "--device", self.device, "--workers", "4", "--quiet",
                "--set", f"train.log_every={every}", "--set", f"train.sample_every={self.steps}",
                "--set", f"train.checkpoint_every={self.steps}", "--set", "train.val_every=1000"]


def rehearsal() -> Settings:
    return Settings(device="cpu", steps=2, precisions=("fp32",), compile=False, nccl=False, measure_iters=1,
                    measure_warmup=0, table=(("pix2pix256", 1, "baseline"), ("pix2pix256", 1, "optimised")))


def no_cuda_message() -> str | None:
    """Why this machine cannot run the check, or None when it can."""
    import torch

    if torch.cuda.is_available():
        return None
    build = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
    return (f"gpu_check: no CUDA device is present (torch {torch.__version__}, {build}; "
            f"torch.cuda.is_available() is False). This check needs an NVIDIA GPU; nothing was run.")


def make_data(root: Path) -> dict[str, Path]:
    """Random images in each recipe's layout (the check is about running, not about learning)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)

    def save(path: Path, height: int, width: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)

    for label in range(4):
        for i in range(16):
            save(root / "classes" / str(label) / f"{i}.png", 32, 32)
    for i in range(16):
        save(root / "pairs" / f"{i}.png", 128, 256)
        save(root / "unpaired" / "trainA" / f"{i}.png", 128, 128)
        save(root / "unpaired" / "trainB" / f"{i}.png", 128, 128)
    for i, (height, width) in enumerate([(128, 128), (300, 200), (700, 1300)]):  # the last one is tiled
        save(root / "photos" / f"{i}.png", height, width)
    return {"cgan": root / "classes", "pix2pix": root / "pairs", "cyclegan": root / "unpaired",
            "photos": root / "photos"}


def data_args(recipe: str, data: dict[str, Path]) -> list[str]:
    if recipe == "cgan":
        return ["--data", str(data["cgan"]), "--channels", "3", "--image-size", "32", "--batch-size", "32"]
    return ["--data", str(data[recipe]), "--size", "128"]


def run_problems(run: Path, steps: int, fp16: bool = False) -> str | None:
    """What is wrong with a finished run folder: NaN/inf, too few steps, no checkpoint, no scaler."""
    import torch

    metrics = run / "metrics.jsonl"
    if not metrics.is_file():
        return f"no {metrics}"
    records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    for record in records:
        if record.get("warning") == "divergence":
            return f"diverged: {record.get('message')}"
        bad = [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            return f"non-finite {', '.join(bad)} at step {record.get('step')}"
    trained = [r["step"] for r in records if "loss_d" in r]
    if not trained or trained[-1] != steps:
        return f"training records end at step {trained[-1] if trained else None}, not {steps}"
    latest = run / "checkpoints" / "latest.pt"
    if not latest.is_file():
        return f"no {latest}"
    state = torch.load(latest, map_location="cpu", weights_only=True)
    if state["step"] != steps:
        return f"checkpoint at step {state['step']}, not {steps}"
    if fp16 and not (state.get("scaler_g") or {}).get("scale"):
        return "fp16 run without an active grad scaler"
    return None


@dataclass
class Step:
    name: str
    args: list[str]  # after `python -m ...`
    check: Callable[[str], str | None] = lambda output: None  # the command's output -> a problem or None
    env: dict[str, str] = field(default_factory=dict)
    parallel: bool = False  # may run beside other parallel steps (not the timed table)


@dataclass
class Outcome:
    name: str
    problem: str | None
    seconds: float
    output: str = ""  # stdout and stderr
    stdout: str = ""


def gantool(*args: str) -> list[str]:
    return ["gantool_cli", *args]


def plan(work: Path, data: dict[str, Path], settings: Settings = Settings()) -> list[Step]:
    runs, out, n, device = work / "runs", work / "out", settings.steps, settings.device
    common = settings.common()
    steps = []
    for recipe in RECIPES:
        for precision in settings.precisions:
            run = runs / f"{recipe}-{precision}"
            steps.append(Step(f"train {recipe} {precision}",
                              gantool("train", recipe, *data_args(recipe, data), *common, "--precision", precision,
                                      "--out", str(run)),
                              lambda _, run=run, fp16=precision == "fp16": run_problems(run, n, fp16),
                              parallel=True))
    if settings.compile:
        compiled = runs / "pix2pix-compile"
        steps.append(Step("train pix2pix compile", gantool("train", "pix2pix", *data_args("pix2pix", data), *common,
                                                           "--set", "train.compile=true", "--out", str(compiled)),
                          lambda _: run_problems(compiled, n), parallel=True))
    group = runs / "cyclegan-nproc1"

    def group_problems(output: str) -> str | None:
        if settings.nccl and "NCCL INFO" not in output:
            return "no NCCL INFO lines: NCCL never came up"
        return run_problems(group, n)

    steps.append(Step(f"train cyclegan --nproc 1 ({'NCCL' if settings.nccl else 'gloo'})",
                      gantool("train", "cyclegan", *data_args("cyclegan", data), *common, "--nproc", "1",
                              "--out", str(group)), group_problems, env={"NCCL_DEBUG": "INFO"}))
    resumed = runs / "pix2pix-fp32"
    steps.append(Step(f"resume pix2pix fp32 to {n + 10} steps",
                      gantool("train", "pix2pix", "--resume", str(resumed), "--steps", str(n + 10), "--quiet"),
                      lambda _: run_problems(resumed, n + 10)))
    photos = data["photos"]

    def outputs_problems(folder: Path) -> Callable[[str], str | None]:
        """Every input translated, at its own size."""
        return lambda _: next((f"{folder / p.name} missing or of another size" for p in sorted(photos.iterdir())
                               if not (folder / p.name).is_file() or _size(folder / p.name) != _size(p)), None)

    steps.append(Step(f"translate pix2pix on {device}",
                      gantool("translate", str(photos), "--checkpoint", str(resumed), "--device", device,
                              "--out-dir", str(out / "pix2pix"), "--quiet"), outputs_problems(out / "pix2pix")))
    low = settings.precisions[-1]  # fp16 on a GPU
    steps.append(Step(f"translate cyclegan b2a {low} on {device}",
                      gantool("translate", str(photos), "--checkpoint", str(runs / "cyclegan-fp32"), "--direction",
                              "b2a", "--precision", low, "--device", device, "--out-dir", str(out / "cyclegan"),
                              "--quiet"), outputs_problems(out / "cyclegan")))
    grid = out / "digits.png"
    sampled = runs / f"cgan-{settings.precisions[min(1, len(settings.precisions) - 1)]}"  # bf16 on a GPU
    steps.append(Step(f"generate cgan on {device}",
                      gantool("generate", str(sampled), "--label", "all", "--n", "4", "--device", device,
                              "--out", str(grid)),
                      lambda _: None if grid.is_file() else f"no {grid}"))
    if _has_onnx():
        model = out / "pix2pix.onnx"
        steps.append(Step("export pix2pix onnx", gantool("export", str(resumed), "--format", "onnx", "--out",
                                                         str(model))))
        steps.append(Step("translate the onnx file (ONNX Runtime)",
                          gantool("translate", str(photos), "--checkpoint", str(model), "--out-dir",
                                  str(out / "onnx"), "--quiet"), outputs_problems(out / "onnx")))
    for workload, batch, mode in settings.table:
        steps.append(Step(f"measure {workload} batch {batch} {mode}",
                          ["benchmarks.measure", "--workload", workload, "--mode", mode, "--batch-size", str(batch),
                           "--device", device, "--iters", str(settings.measure_iters), "--warmup",
                           str(settings.measure_warmup)], _measured))
    return steps


def _size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        return image.size


def _has_onnx() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime", "onnxscript"))


def _measured(output: str) -> str | None:
    try:
        result = json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return "no measurement printed"
    return None if math.isfinite(result.get("s_per_it", math.nan)) else "no finite s_per_it"


def execute(step: Step, work: Path) -> Outcome:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO / "cli"), str(REPO),
                                                        os.environ.get("PYTHONPATH", "")]), **step.env}
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", *step.args], cwd=work, env=env, capture_output=True, text=True,
                              timeout=600)
    except subprocess.TimeoutExpired as err:
        return Outcome(step.name, "timed out after 600 s", time.perf_counter() - start, str(err.output or ""))
    output = done.stdout + done.stderr
    problem = f"exit status {done.returncode}" if done.returncode else None
    if problem is None:
        try:
            problem = step.check(done.stdout if step.args[0] == "benchmarks.measure" else output)
        except Exception as err:  # noqa: BLE001  (a check that cannot read what it checks is a failure)
            problem = f"{type(err).__name__}: {err}"
    return Outcome(step.name, problem, time.perf_counter() - start, output, done.stdout)


def table(outcomes: list[Outcome]) -> str:
    import torch

    where = (f"GPU: {torch.cuda.get_device_name()} (torch {torch.__version__}, CUDA {torch.version.cuda})"
             if torch.cuda.is_available() else f"CPU rehearsal (torch {torch.__version__}): not GPU figures")
    rows = [where, "", "| workload | batch | mode | s/iteration | images/s | peak CUDA memory |", "|---" * 6 + "|"]
    for outcome in outcomes:
        if not outcome.name.startswith("measure") or outcome.problem:
            continue
        r = json.loads(outcome.stdout.strip().splitlines()[-1])
        rows.append(f"| {r['workload']} | {r['batch_size']} | {r['mode']} ({r['precision']}) | {r['s_per_it']:.4f} | "
                    f"{r['images_per_s']:.1f} | {r.get('cuda_max_allocated_gb', math.nan):.2f} GB |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it [default: a temporary one].")
    parser.add_argument("--jobs", type=int, default=3, help="Training runs at once on the GPU.")
    parser.add_argument("--list", action="store_true", help="Print the plan and exit.")
    parser.add_argument("--rehearse-on-cpu", action="store_true",
                        help="Run the plan shrunk to the CPU (2 steps, fp32, gloo, no compile) to test this harness "
                             "itself; checks nothing about GPUs.")
    args = parser.parse_args(argv)
    settings = rehearsal() if args.rehearse_on_cpu else Settings()
    if args.list:
        work = args.keep or Path("WORK")
        for step in plan(work, {k: work / "data" / k for k in ("cgan", "pix2pix", "cyclegan", "photos")}, settings):
            print(f"{step.name}: python -m {' '.join(step.args)}")
        return 0
    reason = None if args.rehearse_on_cpu else no_cuda_message()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    start = time.perf_counter()
    work = args.keep or Path(tempfile.mkdtemp(prefix="gantool-gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    steps = plan(work, make_data(work / "data"), settings)
    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:  # the training matrix, beside each other
        for outcome in pool.map(lambda s: execute(s, work), [s for s in steps if s.parallel]):
            outcomes.append(outcome)
            print(f"{'ok  ' if outcome.problem is None else 'FAIL'} {outcome.name} ({outcome.seconds:.0f} s)",
                  flush=True)
    for step in [s for s in steps if not s.parallel]:  # in order: later steps use earlier runs
        outcome = execute(step, work)
        outcomes.append(outcome)
        print(f"{'ok  ' if outcome.problem is None else 'FAIL'} {outcome.name} ({outcome.seconds:.0f} s)", flush=True)
    print()
    print(table(outcomes))
    seconds = time.perf_counter() - start
    failed = [o for o in outcomes if o.problem]
    for outcome in failed:
        print(f"\n==== FAILED: {outcome.name}: {outcome.problem}\n{outcome.output[-4000:]}", file=sys.stderr)
    over = " (over the 5-minute target)" if seconds > 300 else ""
    print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} checks passed in {seconds:.0f} s{over}; work folder: "
          f"{work}")
    if failed:
        print(f"gpu_check FAILED: {', '.join(o.name for o in failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
