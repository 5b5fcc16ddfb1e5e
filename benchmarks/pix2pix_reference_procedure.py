"""pix2pix trained by the reference's procedure, written out without gantool's trainer (issue 22).

A control for `pix2pix_facades_variants.py`: if gantool's pix2pix and this loop, given the same
networks, score alike on the held-out split, the trainer is not where a quality gap to the
reference comes from. Everything the reference code (pytorch-CycleGAN-and-pix2pix) does around the
networks is done here its way, independently of gantool's data and training modules:

- data: each side-by-side AB file split in halves, both resized to `--load-size` (bicubic, PIL),
  one crop position and one flip drawn with Python's `random` for the pair, a fresh shuffle per
  epoch (torch DataLoader, batch size 1);
- iteration: `bare_loop.pix2pix_step` (G forward, D on fake then real with its loss halved, then G
  on BCE + 100 * L1), torch's default Adam 2e-4, betas (0.5, 0.999);
- learning rate: constant for `--n-epochs`, then lowered at the end of each epoch by the rule the
  issue quotes, 1 - max(0, epoch + 1 - n_epochs) / (n_epochs_decay + 1), so the last epoch trains at
  1 / (n_epochs_decay + 1) of the rate.

Only the networks come from gantool (the pix2pix recipe builds them, with the reference's N(0, 0.02)
initialisation; imported reference weights reproduce its outputs bit-exactly, tests/test_interop_reference.py).
The generator is written as an exported generator folder, which `gantool translate` and the
variants harness load like any run:

    python -m benchmarks.pix2pix_reference_procedure --data runs/p2p-split/train --seed 0 --out runs/p2p-refproc-s0
    python benchmarks/pix2pix_facades_variants.py evaluate --split runs/p2p-split runs/p2p-refproc-s0
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from benchmarks.bare_loop import pix2pix_step
from gantool.checkpoint import write_generator_folder


class AlignedPairs(Dataset):
    """[A | B] side-by-side files -> {"A", "B"} tensors in [-1, 1], the reference's augmentation."""

    def __init__(self, folder: Path, load_size: int, crop_size: int) -> None:
        self.files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if not self.files:
            raise SystemExit(f"{folder}: no .jpg/.png pairs")
        self.load_size, self.crop_size = load_size, crop_size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        ab = Image.open(self.files[index]).convert("RGB")
        half = ab.width // 2
        a, b = ab.crop((0, 0, half, ab.height)), ab.crop((half, 0, ab.width, ab.height))
        x = random.randint(0, max(0, self.load_size - self.crop_size))
        y = random.randint(0, max(0, self.load_size - self.crop_size))
        flip = random.random() > 0.5

        def view(image: Image.Image) -> torch.Tensor:
            image = image.resize((self.load_size, self.load_size), Image.BICUBIC)
            image = image.crop((x, y, x + self.crop_size, y + self.crop_size))
            if flip:
                image = image.transpose(Image.FLIP_LEFT_RIGHT)
            return TF.normalize(TF.to_tensor(image), [0.5] * 3, [0.5] * 3)

        return {"A": view(a), "B": view(b)}


def reference_lambda(n_epochs: int, n_epochs_decay: int):
    return lambda epoch: 1.0 - max(0, epoch + 1 - n_epochs) / float(n_epochs_decay + 1)


def build_networks(data: Path, crop_size: int, direction: str, generator: str):
    from gantool.config import default_config, set_values
    from gantool.recipes import RECIPES

    cfg = set_values(default_config("pix2pix"), {"data.root": str(data), "data.image_size": crop_size,
                                                 "data.direction": direction, "model.generator": generator})
    meta = {"train_pairs": 0, "val_pairs": 0, "trained_by": "benchmarks/pix2pix_reference_procedure.py"}
    return cfg, meta, RECIPES.get("pix2pix")(cfg, meta)


def train(data: Path, out: Path, seed: int, n_epochs: int, n_epochs_decay: int, load_size: int, crop_size: int,
          direction: str, generator: str, precision: str) -> dict:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    pairs = AlignedPairs(data, load_size, crop_size)
    cfg, meta, recipe = build_networks(data, crop_size, direction, generator)
    meta["train_pairs"] = len(pairs)
    G, D = recipe.generators["G"], recipe.discriminators["D"]
    G.train()
    D.train()
    autocast = ((lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if precision == "bf16"
                else contextlib.nullcontext)
    step = pix2pix_step(G, D, cfg.model.lambda_l1, "default", autocast)
    schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, reference_lambda(n_epochs, n_epochs_decay))
                  for opt in step.optimizers]
    source, target = ("A", "B") if direction == "AtoB" else ("B", "A")
    loader = DataLoader(pairs, batch_size=1, shuffle=True, num_workers=0)
    iterations, start, log = 0, time.perf_counter(), []
    for epoch in range(n_epochs + n_epochs_decay):
        lr = step.optimizers[0].param_groups[0]["lr"]
        for batch in loader:
            step({"A": batch[source], "B": batch[target]})
            iterations += 1
        for scheduler in schedulers:
            scheduler.step()
        log.append({"epoch": epoch + 1, "lr": lr, "iterations": iterations,
                    "elapsed_s": round(time.perf_counter() - start, 1)})
        print(json.dumps(log[-1]), flush=True)
    meta["reference_procedure"] = {"seed": seed, "n_epochs": n_epochs, "n_epochs_decay": n_epochs_decay,
                                   "load_size": load_size, "crop_size": crop_size, "precision": precision,
                                   "iterations": iterations, "epochs": log}
    write_generator_folder(out, recipe.generators.state_dict(), "pix2pix", cfg.to_dict(), meta, iterations)
    return meta["reference_procedure"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder of [A | B] side-by-side training pairs")
    parser.add_argument("--out", type=Path, required=True, help="exported generator folder to write")
    parser.add_argument("--seed", type=int, default=0)
    # 360 pairs x (6 + 5) epochs = 3,960 iterations: the 4,000 of the gantool runs, in whole epochs
    parser.add_argument("--n-epochs", type=int, default=6)
    parser.add_argument("--n-epochs-decay", type=int, default=5)
    parser.add_argument("--load-size", type=int, default=143)
    parser.add_argument("--crop-size", type=int, default=128)
    parser.add_argument("--direction", choices=("AtoB", "BtoA"), default="BtoA")
    parser.add_argument("--generator", default="unet_128")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    args = parser.parse_args(argv)
    if args.out.exists():
        raise SystemExit(f"{args.out} exists: choose a new --out")
    train(args.data, args.out, args.seed, args.n_epochs, args.n_epochs_decay, args.load_size, args.crop_size,
          args.direction, args.generator, args.precision)


if __name__ == "__main__":
    main()
