"""The reference implementation's parameter names, and what its state dicts say about their networks.

pytorch-CycleGAN-and-pix2pix builds the same layers as gantool's networks (networks/unet.py,
resnet.py, patchgan.py), in the same order, under other names:

- ResNet generator: one `model` Sequential, residual blocks as `conv_block` Sequentials. gantool
  uses `body` for both, with the same indices.
- U-Net: nested `UnetSkipConnectionBlock`s, each `model` a Sequential holding the next block.
  Level 0 (outermost) is [down conv, block, ReLU, up conv, Tanh]; an intermediate level is
  [LeakyReLU, down conv, norm, block, ReLU, up conv, norm, (Dropout)]; the innermost is
  [LeakyReLU, down conv, ReLU, up conv, norm]. Each block returns cat([its input, its output]),
  so every up conv but the innermost reads [skip, up] where gantool's reads [up, skip]: the two
  halves of dim 0 (input channels) of those transposed-conv weights swap.
- PatchGAN ("basic" / "n_layers") discriminator: `model` where gantool has `body`, same indices.

`infer_*` read the architecture off the tensors; `*_names` map every gantool key to its reference
key (with a flag for the channel swap), so a conversion is exact and checked key by key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from torch import Tensor

from gantool.errors import GantoolError

Names = dict[str, tuple[str, bool]]  # gantool key -> (reference key, swap the halves of dim 0)


@dataclass(frozen=True)
class Architecture:
    generator: str  # gantool's registered name: resnet_9blocks, unet_256, ...
    ngf: int
    in_channels: int
    out_channels: int
    norm: str  # batch or instance
    dropout: bool | None  # None: the tensors cannot tell (U-Net dropout has no parameters)
    depth: int  # residual blocks, or U-Net levels

    def describe(self) -> str:
        words = f"{self.generator}, ngf {self.ngf}, {self.in_channels} -> {self.out_channels} channels, {self.norm} norm"
        return words + (f", dropout {'0.5' if self.dropout else 'off'}" if self.dropout is not None else "")


UNET_DEPTHS = {6: "unet_64", 7: "unet_128", 8: "unet_256"}
LEGACY_INSTANCE_NORM = ("running_mean", "running_var", "num_batches_tracked")


def _norm_of(weights: Mapping[str, Tensor], norm_prefix: str, conv_prefix: str) -> str:
    if f"{norm_prefix}weight" in weights:
        return "batch"
    if f"{conv_prefix}bias" in weights:
        return "instance"  # the reference's instance norm has no parameters, so convs keep their bias
    raise GantoolError("this generator has neither normalisation parameters nor convolution biases (the "
                       "reference's --norm none); gantool cannot rebuild it exactly")


def drop_legacy_instance_norm_keys(weights: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], int]:
    """Remove the running statistics that PyTorch < 0.4 saved on InstanceNorm layers (a module with
    running_mean but no weight is such a layer; the reference drops them on load too)."""
    modules_with_weight = {k.rsplit(".", 1)[0] for k in weights if k.endswith(".weight")}
    kept, dropped = {}, 0
    for key, tensor in weights.items():
        module, _, leaf = key.rpartition(".")
        if leaf in LEGACY_INSTANCE_NORM and module not in modules_with_weight:
            dropped += 1
            continue
        kept[key] = tensor
    return kept, dropped


def looks_like_discriminator(weights: Mapping[str, Tensor]) -> str | None:
    """"PatchGAN" or "pixel" when a state dict is a reference discriminator, else None."""
    if "model.0.weight" not in weights or any("conv_block" in k for k in weights) or "model.model.0.weight" in weights:
        return None
    convs = sorted((int(m.group(1)), k) for k in weights if (m := re.fullmatch(r"model\.(\d+)\.weight", k))
                   and weights[k].dim() == 4)
    if not convs or weights[convs[-1][1]].shape[0] != 1:
        return None
    return "pixel" if weights[convs[0][1]].shape[-1] == 1 else "PatchGAN"


def _unet_prefix(level: int) -> str:
    prefix = "model.model."
    for k in range(1, level + 1):
        prefix += "1.model." if k == 1 else "3.model."
    return prefix


def infer_generator(weights: Mapping[str, Tensor]) -> Architecture:
    """The architecture of a reference generator from its tensors alone."""
    blocks = sorted({int(m.group(1)) for k in weights if (m := re.match(r"model\.(\d+)\.conv_block\.", k))})
    if blocks:
        stem = weights.get("model.1.weight")
        if stem is None or stem.shape[-1] != 7:
            raise GantoolError("a ResNet-like state dict without the 7x7 stem convolution (model.1): not a "
                               "reference ResnetGenerator")
        last = max(int(m.group(1)) for k in weights if (m := re.fullmatch(r"model\.(\d+)\.weight", k)))
        dropout = f"model.{blocks[0]}.conv_block.6.weight" in weights  # Dropout shifts the second conv by one
        name = {6: "resnet_6blocks", 9: "resnet_9blocks"}.get(len(blocks))
        if name is None:
            raise GantoolError(f"a ResNet generator with {len(blocks)} residual blocks; gantool builds 6 or 9 "
                               "(resnet_6blocks, resnet_9blocks)")
        return Architecture(name, stem.shape[0], stem.shape[1], weights[f"model.{last}.weight"].shape[0],
                            _norm_of(weights, "model.2.", "model.1."), dropout, len(blocks))
    if "model.model.0.weight" in weights:
        depth = 1
        while f"{_unet_prefix(depth)}1.weight" in weights:
            depth += 1
        name = UNET_DEPTHS.get(depth)
        if name is None:
            raise GantoolError(f"a U-Net with {depth} levels; gantool builds 6, 7 or 8 (unet_64, unet_128, unet_256)")
        first, last = weights["model.model.0.weight"], weights["model.model.3.weight"]
        return Architecture(name, first.shape[0], first.shape[1], last.shape[1],
                            _norm_of(weights, f"{_unet_prefix(1)}2.", f"{_unet_prefix(1)}1."), None, depth)
    kind = looks_like_discriminator(weights)
    if kind:
        raise GantoolError(f"looks like a {kind} discriminator, not a generator")
    raise GantoolError("not a state dict of a reference generator (no ResnetGenerator or UnetGenerator "
                       f"parameters; first keys: {', '.join(list(weights)[:3]) or 'none'})")


def _param_keys(gantool_keys: list[str], gantool_module: str, reference_module: str, swap: bool = False) -> Names:
    prefix = gantool_module + "."
    return {k: (reference_module + "." + k[len(prefix):], swap) for k in gantool_keys if k.startswith(prefix)}


def generator_names(arch: Architecture, gantool_keys: list[str]) -> Names:
    """Every key of a gantool generator of `arch` -> its reference key."""
    names: Names = {}
    if arch.generator.startswith("resnet"):
        for key in gantool_keys:
            names[key] = (re.sub(r"^body\.(\d+)\.body\.", r"model.\1.conv_block.", key).replace("body.", "model.", 1),
                          False)
        return names
    n = arch.depth
    for level in range(n):
        ref = _unet_prefix(level)
        up = f"ups.{n - 1 - level}"
        if level == 0:
            names |= _param_keys(gantool_keys, "downs.0.0", ref + "0")
            names |= _param_keys(gantool_keys, f"{up}.1", ref + "3", swap=True)
        elif level == n - 1:
            names |= _param_keys(gantool_keys, f"downs.{level}.1", ref + "1")
            names |= _param_keys(gantool_keys, f"{up}.1", ref + "3")
            names |= _param_keys(gantool_keys, f"{up}.2", ref + "4")
        else:
            names |= _param_keys(gantool_keys, f"downs.{level}.1", ref + "1")
            names |= _param_keys(gantool_keys, f"downs.{level}.2", ref + "2")
            names |= _param_keys(gantool_keys, f"{up}.1", ref + "5", swap=True)
            names |= _param_keys(gantool_keys, f"{up}.2", ref + "6")
    return names


def discriminator_names(gantool_keys: list[str]) -> Names:
    return {key: (key.replace("body.", "model.", 1), False) for key in gantool_keys}


def swap_halves(tensor: Tensor) -> Tensor:
    half = tensor.shape[0] // 2
    return tensor.roll(half, dims=0).clone() if tensor.dim() == 4 else tensor


def to_gantool(reference: Mapping[str, Tensor], names: Names, what: str) -> dict[str, Tensor]:
    """The reference tensors under gantool's keys; every key on both sides must be accounted for."""
    wanted = {ref for ref, _ in names.values()}
    missing = sorted(wanted - set(reference))
    extra = sorted(set(reference) - wanted)
    if missing or extra:
        example = f"{missing[0]} is missing" if missing else f"{extra[0]} is unexpected"
        raise GantoolError(f"{what} does not fit a reference network of the inferred architecture "
                           f"({len(missing)} tensors missing, {len(extra)} unexpected, e.g. {example})")
    return {key: swap_halves(reference[ref]) if swap else reference[ref] for key, (ref, swap) in names.items()}


def to_reference(weights: Mapping[str, Tensor], names: Names) -> dict[str, Tensor]:
    return {ref: (swap_halves(weights[key]) if swap else weights[key]).contiguous() for key, (ref, swap) in names.items()}
