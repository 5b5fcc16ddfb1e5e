"""Evaluation of paired translation against ground truth: per-image L1, PSNR, SSIM."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

import torch

from gantool.checkpoint import atomic_write
from gantool.data.paired import PairedImages, find_pairs
from gantool.recipes.pix2pix import image_scores
from gantool.translate import Translator


def evaluate_pairs(translator: Translator, data_root: str | Path, size: int | None = None,
                   progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Translate every pair's input at its own resolution (or `size`) and score it against the truth."""
    cfg = translator.config
    pairs = find_pairs(data_root)
    dataset = PairedImages(pairs, size=8, channels_a=cfg.data.channels,
                           channels_b=cfg.data.channels_b or cfg.data.channels, preprocess="none", flip=False)
    input_key, target_key = ("A", "B") if cfg.data.direction == "AtoB" else ("B", "A")
    rows = []
    for index, pair in enumerate(pairs):
        item = dataset[index]
        output = translator(item[input_key][None], size=size)
        scores = image_scores(output.cpu(), item[target_key][None])
        rows.append({"file": str(pair.a), **{k: float(v[0]) for k, v in scores.items()}})
        if progress:
            progress(1)
    summary = {}
    for key in ("l1", "psnr", "ssim"):
        values = torch.tensor([r[key] for r in rows], dtype=torch.float64)
        std = values.std().item() if len(values) > 1 else 0.0
        summary[key] = {"mean": values.mean().item(), "std": std if math.isfinite(std) else 0.0}
    return {"n": len(rows), "direction": cfg.data.direction, "summary": summary, "images": rows}


def write_json(result: dict[str, Any], path: str | Path) -> None:
    atomic_write(Path(path), lambda f: f.write(json.dumps(result, indent=2).encode()))
