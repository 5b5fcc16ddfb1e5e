"""Using trained generators: rebuild from a checkpoint (or export) alone, then sample.

Nothing here needs architecture flags: the config and metadata saved with the weights rebuild
the networks. Everything runs under `torch.inference_mode` with generators in eval mode
(batch-norm running statistics, no dropout), so results are deterministic for a fixed seed.
"""

from __future__ import annotations

import math
from pathlib import Path
import torch
from torch import Tensor, nn

from gantool.checkpoint import load_generator_state
from gantool.config import Config
from gantool.errors import GantoolError
from gantool.recipes import RECIPES
from gantool.weights import check_fits_first, load_weights


class ConditionalSampler:
    """A class-conditional generator loaded for sampling."""

    def __init__(self, generator: nn.Module, class_names: list[str], z_dim: int, config: Config,
                 device: torch.device) -> None:
        self.generator, self.class_names, self.z_dim = generator, class_names, z_dim
        self.config, self.device = config, device

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def label_index(self, label: str | int) -> int:
        """A class by name ("7", "cat") or by index; the error lists the valid classes."""
        text = str(label)
        if text in self.class_names:
            return self.class_names.index(text)
        if text.isdigit() and int(text) < self.num_classes:  # index into non-numeric class names
            return int(text)
        shown = ", ".join(self.class_names[:20]) + (" ..." if self.num_classes > 20 else "")
        raise GantoolError(f"label {label!r} is not a class of this model; valid: {shown}")

    def noise(self, n: int, seed: int | None = None) -> Tensor:
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        return torch.randn(n, self.z_dim, generator=generator)

    @torch.inference_mode()
    def sample(self, labels: Tensor, z: Tensor | None = None, seed: int | None = None,
               batch_size: int = 256) -> Tensor:
        """Images in [-1, 1] on the CPU, one per label."""
        labels = labels.long()
        if z is None:
            z = self.noise(len(labels), seed)
        outputs = []
        for start in range(0, len(labels), batch_size):
            zb = z[start:start + batch_size].to(self.device)
            lb = labels[start:start + batch_size].to(self.device)
            outputs.append(self.generator(zb, lb).float().cpu())
        return torch.cat(outputs) if outputs else torch.empty(0)


SAMPLING_RECIPES = ("cgan", "gan")  # noise-to-image recipes: what load_sampler reads


class UnconditionalSampler:
    """An unconditional generator (the `gan` recipe) loaded for sampling: no classes."""

    class_names: list[str] = []
    num_classes = 0

    def __init__(self, generator: nn.Module, z_dim: int, config: Config, device: torch.device) -> None:
        self.generator, self.z_dim, self.config, self.device = generator, z_dim, config, device

    def noise(self, n: int, seed: int | None = None) -> Tensor:
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        return torch.randn(n, self.z_dim, generator=generator)

    @torch.inference_mode()
    def sample(self, n: int | Tensor | None = None, z: Tensor | None = None, seed: int | None = None,
               batch_size: int = 256) -> Tensor:
        """`n` images (or one per row of `z`) in [-1, 1] on the CPU. `n` may also be a tensor of
        labels, as a class-conditional sampler takes them (`grid_labels`): one image per entry."""
        if isinstance(n, Tensor):
            n = len(n)
        if z is None:
            if n is None:
                raise GantoolError("give the number of samples or their noise vectors")
            z = self.noise(n, seed)
        return torch.cat([self.generator(z[i:i + batch_size].to(self.device)).float().cpu()
                          for i in range(0, len(z), batch_size)]) if len(z) else torch.empty(0)


def load_generators(path: str | Path, recipes: tuple[str, ...], wrong_recipe: str,
                    use_ema: bool = True) -> tuple[Config, dict, nn.ModuleDict]:
    """(config, metadata, generators with their trained weights: the EMA's unless `use_ema` is
    false) from a checkpoint, run folder or export; `wrong_recipe` finishes the error for a model
    of a recipe not in `recipes`."""
    state = load_generator_state(path, use_ema)
    if state["recipe"] not in recipes:
        raise GantoolError(f"{path} holds a {state['recipe']!r} model, {wrong_recipe}")
    cfg = Config.from_dict(state["config"])

    def build() -> dict[str, nn.Module]:
        recipe = RECIPES.get(state["recipe"])(cfg, state["meta"])
        directions = state["meta"].get("directions")  # an imported one-direction model has only that generator
        if directions:
            kept = {recipe.translation_generators[d] for d in directions}
            for key in [k for k in recipe.generators if k not in kept]:
                del recipe.generators[key]
        return {"generators": recipe.generators}

    check_fits_first(build, {"generators": state["weights"]}, path)  # before a config's networks take memory
    generators = build()["generators"]
    load_weights(generators, state["weights"], path)
    return cfg, state["meta"], generators


def load_sampler(path: str | Path, device: str | torch.device = "cpu") -> ConditionalSampler | UnconditionalSampler:
    """A checkpoint, run folder or exported generator folder of a noise-to-image model (cgan: a
    ConditionalSampler; gan: an UnconditionalSampler, whose `num_classes` is 0) -> a ready
    sampler (EMA weights if kept)."""
    cfg, meta, generators = load_generators(path, SAMPLING_RECIPES,
                                            "but sampling needs a noise-to-image (cgan or gan) checkpoint")
    device = torch.device(device)
    generator = generators["G"].to(device).eval()
    if cfg.recipe == "gan":
        return UnconditionalSampler(generator, cfg.model.z_dim, cfg, device)
    return ConditionalSampler(generator, list(meta["class_names"]), cfg.model.z_dim, cfg, device)


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between rows of a and b at fractions t (shape (T,))."""
    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    t = t[:, None]
    if float(so) < 1e-6:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def interpolation_codes(a: Tensor, b: Tensor, steps: int, mode: str) -> Tensor:
    t = torch.linspace(0, 1, steps)
    if mode == "linear":
        return (1 - t[:, None]) * a + t[:, None] * b
    if mode == "slerp":
        return slerp(a, b, t)
    raise GantoolError(f"unknown interpolation {mode!r}; valid: linear, slerp")


def grid_rows(n: int) -> int:
    return max(1, int(math.ceil(math.sqrt(n))))


def grid_labels(sampler: ConditionalSampler, label: str, count: int) -> tuple[Tensor, int]:
    """(labels, images per grid row) for `count` samples of `label`, or with "all" `count` of
    every class, one row per class (what `gantool generate` draws). A sampler without classes
    (an unconditional model) gets `count` samples whatever `label` says."""
    if not sampler.class_names:
        return torch.zeros(count, dtype=torch.long), grid_rows(count)
    if label == "all":
        return torch.arange(sampler.num_classes).repeat_interleave(count), count
    return torch.full((count,), sampler.label_index(label), dtype=torch.long), grid_rows(count)


INTERPOLATION_MODES = ("both", "linear", "slerp")


def interpolation_walks(sampler: ConditionalSampler, label: str, steps: int, pairs: int, mode: str = "both",
                        seed: int = 0) -> tuple[Tensor, Tensor, list[str]]:
    """(codes, labels, modes) of `pairs` walks of `steps` codes of one class between random code
    pairs, a linear then a slerp row per pair with "both" (what `gantool interpolate` draws)."""
    if mode not in INTERPOLATION_MODES:
        raise GantoolError(f"unknown interpolation {mode!r}; valid: {', '.join(INTERPOLATION_MODES)}")
    index = sampler.label_index(label) if sampler.class_names else 0  # unconditional: no class to keep
    ends = sampler.noise(2 * pairs, seed)
    modes = ["linear", "slerp"] if mode == "both" else [mode]
    codes = torch.cat([interpolation_codes(ends[2 * p], ends[2 * p + 1], steps, m)
                       for p in range(pairs) for m in modes])
    return codes, torch.full((len(codes),), index, dtype=torch.long), modes


__all__ = ["ConditionalSampler", "load_sampler", "interpolation_codes", "slerp", "grid_rows", "grid_labels",
           "interpolation_walks", "UnconditionalSampler", "SAMPLING_RECIPES"]
