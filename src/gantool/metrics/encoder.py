"""How well an encoder inverts its digit generator, measured on real MNIST test digits (which
neither the encoder, trained on generated digits only, nor the generator, trained on MNIST
train, has seen):

- reconstruction: pixel MSE (images in [0, 1]) and digit-judge feature MSE between a digit and
  G(z, y), for z from the encoder and after `invert`'s refinement; beside them the same for a
  random sample of the digit's class, which needs no encoder at all;
- edit accuracy: the share of edits G(E(x), k) that the judge reads as k, over every source
  class x and target k (the 10 x 10 matrix), from encoder and from refined codes;
- style kept: the encoder's code of an edit against the source's (cosine similarity; a random
  other source as the baseline), and the correlation between source and edit of two shape
  measures read off the image, slant (from the second moments) and stroke width;
- linear probes (gantool.metrics.probe) on the discriminator's penultimate features, the
  encoder's codes and raw pixels, with 10, 100 and 1,000 labels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

from gantool.data.digits import load_mnist
from gantool.data.images import to_unit_range
from gantool.data.scanned import stroke_width
from gantool.editing import Editor, invert
from gantool.metrics.digits import judge_features
from gantool.metrics.judge import DigitJudge, predict
from gantool.metrics.probe import probe_accuracy


def slant(images: Tensor) -> Tensor:
    """Horizontal shift per unit of height of each image's ink (mu11 / mu02 of the intensity
    moments; 0 is upright, positive leans right), images in [-1, 1]."""
    ink = (images.float().clamp(-1, 1) + 1)[:, 0] / 2
    h, w = ink.shape[-2:]
    ys = -torch.arange(h, dtype=torch.float32)[:, None]  # up is positive
    xs = torch.arange(w, dtype=torch.float32)[None, :]
    mass = ink.sum((1, 2)).clamp_min(1e-6)
    my, mx = (ink * ys).sum((1, 2)) / mass, (ink * xs).sum((1, 2)) / mass
    dy, dx = ys - my[:, None, None], xs - mx[:, None, None]
    return (ink * dx * dy).sum((1, 2)) / (ink * dy * dy).sum((1, 2)).clamp_min(1e-6)


def widths(images: Tensor) -> Tensor:
    return torch.from_numpy(np.asarray(stroke_width(((images.float().clamp(-1, 1) + 1) / 2)[:, 0].numpy()))).float()


def _correlation(a: Tensor, b: Tensor) -> float:
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-12))


def balanced_test_digits(images: Tensor, labels: Tensor, per_class: int) -> tuple[Tensor, Tensor]:
    """The first `per_class` test digits of each class, in [-1, 1]."""
    picks = torch.cat([torch.nonzero(labels == c).flatten()[:per_class] for c in range(10)])
    return to_unit_range(images[picks]), labels[picks]


def reconstruction(editor: Editor, judge: DigitJudge, images: Tensor, z: Tensor, labels: Tensor) -> dict[str, float]:
    drawn = editor.generate(z, labels)
    pixel = ((drawn - images) / 2).square().flatten(1).mean(1)  # in [0, 1] units
    feature = (judge_features(judge, drawn) - judge_features(judge, images)).square().mean(1)
    return {"pixel_mse": pixel.mean().item(), "judge_feature_mse": feature.mean().item(),
            "judge_reads_class": (predict(judge, drawn) == labels).float().mean().item()}


def edits(editor: Editor, judge: DigitJudge, z: Tensor, sources: Tensor) -> tuple[Tensor, dict[str, Any]]:
    """(edits, shape (n, 10, C, H, W); their judge accuracy per source and target class)."""
    n = len(z)
    targets = torch.arange(10).repeat(n)
    drawn = editor.generate(z.repeat_interleave(10, 0), targets)
    correct = (predict(judge, drawn) == targets).float().view(n, 10)
    matrix = torch.stack([correct[sources == s].mean(0) for s in range(10)])  # (source, target)
    off = ~torch.eye(10, dtype=torch.bool)
    result = {"accuracy": matrix.mean().item(), "accuracy_other_class": matrix[off].mean().item(),
              "accuracy_same_class": matrix.diagonal().mean().item(), "worst_pair": matrix.min().item(),
              "matrix": [[round(v, 4) for v in row] for row in matrix.tolist()]}
    return drawn.view(n, 10, *drawn.shape[1:]), result


def style_kept(editor: Editor, images: Tensor, sources: Tensor, z: Tensor, drawn: Tensor,
               generator: torch.Generator) -> dict[str, Any]:
    """Codes and shape measures of edits to other classes against their source's."""
    n = len(z)
    other = (sources[:, None] != torch.arange(10)[None, :])  # (n, 10): edits to another class
    flat = drawn[other]  # (m, C, H, W)
    owner = torch.arange(n)[:, None].expand(n, 10)[other]
    shuffled = owner[torch.randperm(len(owner), generator=generator)]
    z_edit = editor.encode(flat)
    cos = torch.nn.functional.cosine_similarity
    result: dict[str, Any] = {
        "code_cosine": cos(z_edit, z[owner]).mean().item(),
        "code_cosine_random_source": cos(z_edit, z[shuffled]).mean().item(),
        "code_distance_ratio": ((z_edit - z[owner]).norm(dim=1).mean() / (z[shuffled] - z[owner]).norm(dim=1).mean()
                                ).item(),
    }
    for name, measure in (("slant", slant), ("stroke_width", widths)):
        source_values, edit_values = measure(images), measure(flat)
        result[f"{name}_correlation"] = _correlation(source_values[owner], edit_values)
        result[f"{name}_correlation_random_source"] = _correlation(source_values[shuffled], edit_values)
    return result


def discriminator(editor: Editor) -> tuple[nn.Module | None, str]:
    """The generator's discriminator from the generator's checkpoint, when that file is still the
    one the encoder was trained for; else (None, why)."""
    from gantool.checkpoint import load_checkpoint
    from gantool.config import Config
    from gantool.recipes import RECIPES
    from gantool.recipes.encoder import file_sha256
    from gantool.weights import check_fits_first, load_weights

    info = editor.generator
    file = Path(info["file"])
    if not file.is_file() or file.suffix != ".pt" or file_sha256(file) != info["sha256"]:
        return None, f"{file} is gone, changed or an export without D"
    state = load_checkpoint(file)
    saved = {k[2:]: v for k, v in (state.get("discriminators") or {}).items() if k.startswith("D.")}
    cfg = Config.from_dict(info["config"])
    check_fits_first(lambda: {"D": RECIPES.get(info["recipe"])(cfg, info["meta"]).discriminators["D"]}, {"D": saved}, file)
    recipe = RECIPES.get(info["recipe"])(cfg, info["meta"])
    D = recipe.discriminators["D"]
    if not hasattr(D, "embed"):
        return None, "the discriminator is not a projection discriminator (its features depend on the label)"
    load_weights(D, saved, file)
    return D.eval(), ""


@torch.inference_mode()
def _features(function: Callable[[Tensor], Tensor], images: Tensor, batch_size: int = 1000) -> Tensor:
    return torch.cat([function(to_unit_range(images[i:i + batch_size])).float().flatten(1).cpu()
                      for i in range(0, len(images), batch_size)])


def linear_probes(editor: Editor, data_root: str | Path, sizes: tuple[int, ...], repeats: int, seed: int,
                  pool: int = 10000) -> dict[str, Any]:
    """Probes whose labelled digits are drawn from the first `pool` MNIST training digits (all of
    them, unlabelled, give the standardisation), tested on all of MNIST test."""
    train_images, train_labels = (part[:pool] for part in load_mnist(data_root, train=True))
    test_images, test_labels = load_mnist(data_root, train=False)
    D, why = discriminator(editor)
    feature_maps: dict[str, Callable[[Tensor], Tensor]] = {"pixels": lambda x: x,
                                                          "encoder_z": lambda x: editor.encoder(x.to(editor.device))}
    if D is not None:  # penultimate layer: the sum-pooled features before the linear head and projection
        D = D.to(editor.device)
        feature_maps["discriminator"] = lambda x: D.features(x.to(editor.device)).sum(dim=(2, 3))
    result: dict[str, Any] = {} if D is not None else {"discriminator": {"skipped": why}}
    for name, function in feature_maps.items():
        train, test = _features(function, train_images), _features(function, test_images)
        result[name] = {"dim": train.shape[1], **probe_accuracy(train, train_labels, test, test_labels, sizes,
                                                                  repeats, seed)}
    return result


def evaluate_encoder(editor: Editor, judge: DigitJudge, data_root: str | Path, per_class: int = 30,
                     refine_steps: int = 300, probe_sizes: tuple[int, ...] = (10, 100, 1000), probe_repeats: int = 5,
                     seed: int = 0, log: Callable[[str], None] = print) -> tuple[dict[str, Any], Tensor]:
    """Every measurement above; also the figure's images: the first test digit of each class,
    its reconstruction and its edits to 0-9 (rows of 12)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    images, truth = balanced_test_digits(*load_mnist(data_root, train=False), per_class)
    labels = predict(judge, images)  # as gantool edit reads them
    result: dict[str, Any] = {"n": len(images), "judge_reads_source_class": (labels == truth).float().mean().item()}
    log(f"encoding {len(images)} MNIST test digits ({per_class} per class)")
    z = editor.encode(images)
    random_codes = editor.sampler.noise(len(images), seed)
    result["random_sample_of_class"] = reconstruction(editor, judge, images, random_codes, labels)
    result["encoder"] = reconstruction(editor, judge, images, z, labels)
    log(f"refining the codes by {refine_steps} gradient steps")
    refined = invert(editor, images, labels, steps=refine_steps).z
    result["refined"] = {**reconstruction(editor, judge, images, refined, labels), "steps": refine_steps}
    log("editing every digit to every class")
    drawn, result["edit_encoder"] = edits(editor, judge, z, truth)
    _, result["edit_refined"] = edits(editor, judge, refined, truth)
    result["style"] = style_kept(editor, images, truth, z, drawn, generator)
    if probe_sizes:
        log(f"linear probes with {', '.join(map(str, probe_sizes))} labels, {probe_repeats} draws each")
        result["probe"] = linear_probes(editor, data_root, probe_sizes, probe_repeats, seed)
    firsts = torch.tensor([int(torch.nonzero(truth == c)[0]) for c in range(10)])
    recon = editor.generate(z[firsts], labels[firsts])
    figure = torch.cat([images[firsts][:, None], recon[:, None], drawn[firsts]], 1).flatten(0, 1)
    return result, figure
