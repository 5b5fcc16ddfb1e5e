"""A generator made ready for a deployment format (ONNX, TorchScript): test-time choices baked in,
and the description that the exported file carries so that it alone says what it expects.

Translation generators take one image batch (N, C_in, H, W) in [-1, 1] whose H and W are
multiples of the network's size multiple; batch, height and width stay free in the export.
Sampling generators (class-conditional: z and label) keep the batch free. pix2pix's test-time
choices are made here: dropout off, and batch norm from the training statistics ("running") or
from each batch's own ("batch", written out as plain arithmetic, which every runtime executes
the same way, rather than as a training-mode batch norm, which some do not).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gantool import __version__
from gantool.errors import GantoolError

VALUE_RANGE = [-1.0, 1.0]


class BatchStatisticsNorm(nn.Module):
    """Batch norm that normalises with the statistics of the batch it is given (the reference
    pix2pix's test-time behaviour), as explicit mean and variance: one image per batch makes it
    per-image normalisation."""

    def __init__(self, norm: nn.modules.batchnorm._BatchNorm) -> None:
        super().__init__()
        self.eps = norm.eps
        self.weight = None if norm.weight is None else nn.Parameter(norm.weight.detach().clone(), requires_grad=False)
        self.bias = None if norm.bias is None else nn.Parameter(norm.bias.detach().clone(), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        var = (x - mean).square().mean(dim=(0, 2, 3), keepdim=True)  # biased, as batch norm normalises
        y = (x - mean) * torch.rsqrt(var + self.eps)
        if self.weight is not None:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y


def _swap_batch_norms(module: nn.Module) -> int:
    swapped = 0
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, BatchStatisticsNorm(child))
            swapped += 1
        else:
            swapped += _swap_batch_norms(child)
    return swapped


@dataclass
class Deployable:
    """What an exporter needs: a frozen module, example inputs, input and output names, the
    dimensions left free, and the description stored in the file."""

    module: nn.Module
    example_inputs: tuple[Tensor, ...]
    input_names: list[str]
    output_name: str
    # per input: dimension -> (name, multiple); e.g. {0: ("batch", 1), 2: ("height", 256)}
    free_dims: list[dict[int, tuple[str, int]]]
    info: dict[str, Any] = field(default_factory=dict)


def bake(generator: nn.Module, bn_stats: str = "running") -> nn.Module:
    """A frozen copy of `generator` on the CPU: eval mode (dropout off), batch norm as `bn_stats` says."""
    if bn_stats not in ("running", "batch"):
        raise GantoolError(f"unknown batch-norm statistics {bn_stats!r}; valid: running, batch")
    module = copy.deepcopy(generator).cpu().float()
    if bn_stats == "batch":
        _swap_batch_norms(module)
    return module.eval().requires_grad_(False)


def translation_deployable(generator: nn.Module, bn_stats: str = "running", info: dict[str, Any] | None = None
                           ) -> Deployable:
    """An image-to-image generator (in_channels, out_channels, size_multiple) for export."""
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in generator.modules()):
        bn_stats = "none"  # instance norm (CycleGAN) or no norm: nothing to choose
    module = bake(generator, "running" if bn_stats == "none" else bn_stats)
    multiple = int(generator.size_multiple)
    side = 2 * max(multiple, 4)  # free sizes must not be traced at 0 or 1 times their multiple
    example = torch.Generator().manual_seed(0)
    image = torch.rand(2, generator.in_channels, side, side, generator=example) * 2 - 1
    described = {
        "task": "translation",
        "inputs": {"image": f"float32 (batch, {generator.in_channels}, height, width) in [-1, 1]; height and width "
                            f"multiples of {multiple}"},
        "outputs": {"translated": f"float32 (batch, {generator.out_channels}, height, width) in [-1, 1]"},
        "in_channels": generator.in_channels, "out_channels": generator.out_channels, "size_multiple": multiple,
        "value_range": VALUE_RANGE, "bn_stats": bn_stats, "dropout": "off",
        **(info or {}),
    }
    if bn_stats == "batch":
        described["note"] = ("batch norm uses the statistics of the batch given: feed one image per call for "
                             "per-image results, as gantool translate does")
    free = {0: ("batch", 1), 2: ("height", multiple), 3: ("width", multiple)}
    return Deployable(module, (image,), ["image"], "translated", [free], described)


def sampling_deployable(generator: nn.Module, info: dict[str, Any] | None = None) -> Deployable:
    """A generator that draws images from noise z (and a class label, when conditional)."""
    module = bake(generator)
    with torch.random.fork_rng(devices=[]):  # fixed example inputs, the caller's random stream untouched
        torch.manual_seed(0)
        example = tuple(t.cpu() for t in generator.example_inputs(2))
    names = ["z", "label"][: len(example)]
    z_dim = int(example[0].shape[1])
    inputs = {"z": f"float32 (batch, {z_dim}) standard normal noise"}
    if len(example) > 1:
        inputs["label"] = f"int64 (batch,) class index in [0, {getattr(generator, 'num_classes', '?')})"
    channels, size = getattr(generator, "channels", None), getattr(generator, "image_size", None)
    described = {
        "task": "sampling", "inputs": inputs,
        "outputs": {"image": f"float32 (batch, {channels}, {size}, {size}) in [-1, 1]"},
        "z_dim": z_dim, "channels": channels, "image_size": size, "value_range": VALUE_RANGE,
        "bn_stats": "running", "dropout": "off", **(info or {}),
    }
    if len(example) > 1:
        described["num_classes"] = int(generator.num_classes)
    return Deployable(module, example, names, "image", [{0: ("batch", 1)} for _ in example], described)


def prepare(checkpoint: str | Path, direction: str | None = None, bn_stats: str = "auto",
            use_ema: bool = True) -> Deployable:
    """The generator of a checkpoint, run folder or safetensors export, ready to export: a
    translation model's `direction` (default a2b) with `bn_stats` as `gantool translate` resolves
    it; a sampling model's generator. The description holds gantool's config and metadata."""
    from gantool.checkpoint import load_generator_state
    from gantool.networks.layers import per_image_statistics
    from gantool.recipes import RECIPES
    from gantool.translate import load_translator

    state = load_generator_state(checkpoint, use_ema)
    recipe = state["recipe"]
    common = {"format": "gantool-deploy", "gantool_version": __version__, "recipe": recipe,
              "config": state["config"], "meta": state["meta"]}
    if RECIPES.get(recipe).translation_generators:
        chosen = direction or "a2b"
        translator = load_translator(checkpoint, "cpu", dropout=False, bn_stats=bn_stats, direction=chosen,
                                     use_ema=use_ema)
        if bn_stats == "auto":  # as translate resolves it
            bn_stats = "batch" if per_image_statistics(translator.config.data.batch_size) else "running"
        return translation_deployable(translator.generator, bn_stats, {**common, "direction": chosen})
    if direction is not None:
        raise GantoolError(f"--direction is for translation models; {checkpoint} holds a {recipe!r} model")
    from gantool.inference import load_generators

    _, meta, generators = load_generators(checkpoint, (recipe,), "", use_ema=use_ema)
    if len(generators) != 1:
        raise GantoolError(f"{checkpoint}: a {recipe!r} model with {len(generators)} generators and no translation "
                           "directions cannot be exported as one network")
    generator = next(iter(generators.values()))
    extra = {"class_names": list(meta["class_names"])} if "class_names" in meta else {}
    return sampling_deployable(generator, {**common, **extra})
