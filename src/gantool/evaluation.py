"""Evaluation of translation: per-image L1, PSNR, SSIM against ground truth (pix2pix, or CycleGAN
and CUT test sets with pairs), CycleGAN's cycle reconstructions, and the sliced Wasserstein
distance of a one-way model's translations to the target domain (CUT)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from gantool.checkpoint import atomic_write
from gantool.data.images import load_tensor
from gantool.data.paired import PairedImages, find_pairs, match_by_name
from gantool.data.unpaired import domain_images
from gantool.recipes.pix2pix import image_scores
from gantool.translate import Translator

SCORES = ("l1", "psnr", "ssim")


def translate_pairs(translator: Translator, data_root: str | Path, size: int | None = None,
                    progress: Callable[[int], None] | None = None) -> Iterator[tuple[Path, Tensor, Tensor]]:
    """(file, translation, ground truth) for every pair, each input translated at its own
    resolution (or `size`) in the direction the model was trained in."""
    cfg = translator.config
    pairs = find_pairs(data_root)
    dataset = PairedImages(pairs, size=8, channels_a=cfg.data.channels,
                           channels_b=cfg.data.channels_b or cfg.data.channels, preprocess="none", flip=False)
    input_key, target_key = ("A", "B") if cfg.data.direction == "AtoB" else ("B", "A")
    for index, pair in enumerate(pairs):
        item = dataset[index]
        yield pair.a, translator(item[input_key][None], size=size).cpu(), item[target_key][None]
        if progress:
            progress(1)


def score_pairs(translations: Iterable[tuple[Path, Tensor, Tensor]], direction: str) -> dict[str, Any]:
    """Per-image and summary L1/PSNR/SSIM of `translate_pairs` output."""
    rows = [{"file": str(file), **{k: float(v[0]) for k, v in image_scores(output, target).items()}}
            for file, output, target in translations]
    return {"n": len(rows), "direction": direction, "summary": summarise(rows), "images": rows}


def evaluate_pairs(translator: Translator, data_root: str | Path, size: int | None = None,
                   progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Translate every pair's input at its own resolution (or `size`) and score it against the truth."""
    return score_pairs(translate_pairs(translator, data_root, size, progress), translator.config.data.direction)


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation of each score over the rows."""
    summary = {}
    for key in SCORES:
        values = torch.tensor([r[key] for r in rows], dtype=torch.float64)
        std = values.std().item() if len(values) > 1 else 0.0
        summary[key] = {"mean": values.mean().item(), "std": std if math.isfinite(std) else 0.0}
    return summary


def _scores(prediction: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    if prediction.shape[-2:] != target.shape[-2:]:
        prediction = F.interpolate(prediction, size=target.shape[-2:], mode="bicubic", align_corners=False)
    return {k: float(v[0]) for k, v in image_scores(prediction.cpu(), target).items()}


def evaluate_cycle(a2b: Translator, b2a: Translator, dir_a: str | Path, dir_b: str | Path, paired: bool = False,
                   size: int | None = None, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """CycleGAN test scores. Cycle reconstruction in both directions (F(G(a)) against a, G(F(b))
    against b), and with `paired` (files of the two folders correspond by name) the translations
    G(a) against b and F(b) against a. Each image is translated at its own size (or `size`)."""
    results: dict[str, Any] = {}
    for name, domain, folder, forward, backward in (("a2b2a", "A", dir_a, a2b, b2a), ("b2a2b", "B", dir_b, b2a, a2b)):
        rows = []
        for path in domain_images(folder, domain):
            image = load_tensor(path, forward.in_channels)
            reconstruction = backward(forward(image, size=size), size=size)
            rows.append({"file": str(path), **_scores(reconstruction, image)})
            if progress:
                progress(1)
        results[f"cycle_{name}"] = {"n": len(rows), "summary": summarise(rows), "images": rows}
    if paired:
        results["paired_a2b"] = paired_scores(a2b, dir_a, dir_b, False, size, progress)
        results["paired_b2a"] = paired_scores(b2a, dir_a, dir_b, True, size, progress)
    return results


def paired_scores(translator: Translator, dir_a: str | Path, dir_b: str | Path, from_b: bool = False,
                  size: int | None = None, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """L1/PSNR/SSIM of the translations of --a's files (of --b's with `from_b`) against the files of
    the other folder with the same names."""
    rows = []
    for file_a, file_b in match_by_name(Path(dir_a), Path(dir_b)):
        source, target = (file_b, file_a) if from_b else (file_a, file_b)
        output = translator(load_tensor(source, translator.in_channels), size=size).cpu()
        rows.append({"file": str(source), **_scores(output, load_tensor(target, translator.out_channels))})
        if progress:
            progress(1)
    return {"n": len(rows), "summary": summarise(rows), "images": rows}


def evaluate_one_way(a2b: Translator, dir_a: str | Path, dir_b: str | Path, paired: bool = False,
                     size: int | None = None, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Test scores of a one-way model (CUT): the sliced Wasserstein distance of the translations of
    --a's images to --b's images (both at the model's training size), and with `paired` (files
    correspond by name) L1/PSNR/SSIM of each translation against its ground truth."""
    from gantool.metrics.swd import swd

    side = a2b.config.data.image_size
    files_a, files_b = domain_images(dir_a, "A"), domain_images(dir_b, "B")
    fakes = []
    for path in files_a:
        fakes.append(_resized(a2b(load_tensor(path, a2b.in_channels), size=size).cpu(), side))
        if progress:
            progress(1)
    reals = torch.cat([_resized(load_tensor(path, a2b.out_channels), side) for path in files_b])
    results: dict[str, Any] = {"swd_a2b": {"n_translated": len(fakes), "n_real": len(reals), "size": side,
                                           **swd(torch.cat(fakes), reals)}}
    if paired:
        results["paired_a2b"] = paired_scores(a2b, dir_a, dir_b, False, size, progress)
    return results


def _resized(images: Tensor, side: int) -> Tensor:
    return F.interpolate(images, size=(side, side), mode="bicubic", align_corners=False).clamp(-1, 1)


def results_folder(checkpoint: str | Path) -> Path:
    """Where evaluation results of `checkpoint` belong: its run folder, beside metrics.jsonl, where
    `gantool report` finds them (a run folder or export given as such; the run folder of a file in
    its checkpoints/; ./eval/NAME for a published model from the cache; otherwise the folder that
    holds the file)."""
    from gantool.pretrained import cache_dir

    path = Path(checkpoint).expanduser()
    if cache_dir().resolve() in path.resolve().parents:
        return Path("eval") / path.stem  # a published model: not into the download cache
    if path.is_dir():
        return path
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


def write_json(result: dict[str, Any], path: str | Path) -> None:
    atomic_write(Path(path), lambda f: f.write(json.dumps(result, indent=2).encode()))
