"""Image-to-image inference at any size: rebuild the generator from its checkpoint, then translate.

By default an image is translated at its own resolution: it is padded (reflection) up to what the
network needs (a multiple of 2**depth for a U-Net) and the output is cropped back, so the output
has exactly the input's size. Images larger than `tile` pixels on a side are cut into overlapping
tiles whose outputs are blended with linear ramps, so memory stays bounded. `size=N` instead
resizes to NxN for the network and the output back to the input's size.

Test-time behaviour of pix2pix is a choice: `dropout` (off by default: deterministic outputs) and
`bn_stats`: "running" uses the statistics gathered in training (eval mode), "batch" normalises
each image by its own statistics as the reference code does at test time (it never calls eval),
and "auto" picks "batch" when the model was trained with batch size 1 (there batch norm acted as
instance norm all along) and "running" otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gantool.config import Config
from gantool.data.images import load_tensor, readable_images
from gantool.errors import GantoolError
from gantool.inference import load_generators
from gantool.safe_paths import what_is
from gantool.networks.layers import per_image_statistics, use_batch_statistics

DIRECTIONS = ("a2b", "b2a")
BN_STATS = ("auto", "running", "batch")


def translation_recipes() -> tuple[str, ...]:
    from gantool.recipes import RECIPES

    return tuple(name for name in RECIPES.names() if RECIPES.get(name).translation_generators)


@dataclass
class Translator:
    # the network: a torch module, or an exported file's runtime (interop.onnx_format.OnnxNetwork);
    # everything else here (padding, tiling, precision, files) is the same for both
    generator: nn.Module | Callable[[Tensor], Tensor]
    in_channels: int
    out_channels: int
    multiple: int
    device: torch.device
    config: Config
    tile: int = 1024
    overlap: int = 64
    amp_dtype: torch.dtype | None = None  # autocast to bf16/fp16 (see training.device.autocast_dtype); None: fp32
    channels_last: bool = False

    @property
    def one_per_batch(self) -> bool:
        """Whether outputs depend on the other images of a batch (batch-norm statistics of the
        batch) or on a random stream (test-time dropout): then translate one image per batch."""
        if isinstance(self.generator, nn.Module):
            return self.generator.training or any(m.training for m in self.generator.modules())
        return bool(getattr(self.generator, "one_per_batch", False))

    def set_test_time(self, dropout: bool = False, bn_stats: str = "auto") -> None:
        """pix2pix's test-time choices (see the module docstring); a later call replaces them. An
        ONNX network has them baked in by its export (load_onnx_translator checks them)."""
        check_test_time(bn_stats)
        if not isinstance(self.generator, nn.Module):
            return
        self.generator.eval()
        if bn_stats == "auto":
            bn_stats = "batch" if per_image_statistics(self.config.data.batch_size) else "running"
        if bn_stats == "batch":
            use_batch_statistics(self.generator)
        for module in self.generator.modules():
            if isinstance(module, nn.Dropout) and dropout:
                module.train()

    def _forward(self, images: Tensor) -> Tensor:
        """The generator's fp32 output for `images`, under the chosen precision and memory layout."""
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            return self.generator(images).float()

    @torch.inference_mode()
    def __call__(self, images: Tensor, size: int | None = None) -> Tensor:
        """(B, C, H, W) in [-1, 1] -> (B, C_out, H, W) in [-1, 1]."""
        images = images.to(self.device, torch.float32)
        h, w = images.shape[-2:]
        if size is not None:
            if size < 1 or size % self.multiple:
                raise GantoolError(f"--size {size} does not suit this network: use a "
                                   f"{'positive ' if size < 1 else ''}multiple of {self.multiple}")
            resized = F.interpolate(images, size=(size, size), mode="bicubic", align_corners=False,
                                    antialias=True)  # shrinking: like PIL, no aliasing (issue 22)
            out = self._forward(resized)
            return F.interpolate(out, size=(h, w), mode="bicubic", align_corners=False).clamp(-1, 1)
        if max(h, w) > self.tile:
            return self._tiled(images)
        return self._padded(images)

    def _padded(self, images: Tensor) -> Tensor:
        h, w = images.shape[-2:]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        if ph or pw:
            top, left = ph // 2, pw // 2
            mode = "reflect" if ph < h and pw < w else "replicate"
            images = F.pad(images, (left, pw - left, top, ph - top), mode=mode)
            return self._forward(images)[..., top:top + h, left:left + w]
        return self._forward(images)

    def _tiled(self, images: Tensor) -> Tensor:
        b, _, h, w = images.shape
        tile = max(self.multiple, self.tile // self.multiple * self.multiple)
        step = max(self.multiple, tile - self.overlap)
        out = torch.zeros(b, self.out_channels, h, w, device=images.device)
        weight = torch.zeros(1, 1, h, w, device=images.device)
        ramp = _blend_window(tile, self.overlap, images.device)
        for top in _starts(h, tile, step):
            for left in _starts(w, tile, step):
                crop = images[..., top:top + tile, left:left + tile]
                result = self._padded(crop)
                window = ramp[..., : result.shape[-2], : result.shape[-1]]
                out[..., top:top + result.shape[-2], left:left + result.shape[-1]] += result * window
                weight[..., top:top + result.shape[-2], left:left + result.shape[-1]] += window
        return out / weight.clamp_min(1e-8)


def _starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step)) + [length - tile]
    return sorted(set(starts))


def _blend_window(tile: int, overlap: int, device: torch.device) -> Tensor:
    ramp = torch.ones(tile, device=device)
    if overlap > 0:
        edge = torch.linspace(0.0, 1.0, overlap + 2, device=device)[1:-1]
        ramp[:overlap] = edge
        ramp[-overlap:] = edge.flip(0)
    return (ramp[:, None] * ramp[None, :])[None, None]


def load_translator(path: str | Path, device: str | torch.device = "cpu", dropout: bool = False,
                    bn_stats: str = "auto", tile: int = 1024, direction: str | None = None,
                    precision: str = "fp32", channels_last: bool = False, use_ema: bool = True) -> Translator:
    """A translator for the generator of `direction` ("a2b", the default: G; "b2a": F of a CycleGAN;
    a pix2pix model has only its training direction, "a2b"). `precision` bf16/fp16 runs the network
    under autocast (outputs differ from fp32 by about 1/256 of the range: invisible in 8-bit images).
    A `.onnx` file from `gantool export --format onnx` runs with ONNX Runtime through the same
    padding and tiling; the export fixed its test-time choices, so only `direction` and `bn_stats`
    equal to them (or left at their defaults) are accepted."""
    if Path(path).suffix.lower() == ".onnx":
        from gantool.interop.onnx_format import load_onnx_translator

        return load_onnx_translator(path, device, dropout=dropout, bn_stats=bn_stats, tile=tile, direction=direction,
                                    precision=precision, channels_last=channels_last)
    check_test_time(bn_stats)
    direction = direction or "a2b"
    if direction not in DIRECTIONS:
        raise GantoolError(f"unknown --direction {direction!r}; valid: {', '.join(DIRECTIONS)}")
    translators = load_translators(path, device, tile=tile, precision=precision, channels_last=channels_last,
                                   direction=direction, use_ema=use_ema)
    translator = translators[direction]
    translator.set_test_time(dropout=dropout, bn_stats=bn_stats)
    return translator


def load_translators(path: str | Path, device: str | torch.device = "cpu", tile: int = 1024,
                     precision: str = "fp32", channels_last: bool = False, direction: str | None = None,
                     use_ema: bool = True) -> dict[str, Translator]:
    """direction -> translator for every direction the model at `path` holds (or only `direction`,
    with an error that explains why it is missing), loaded once; test-time choices default to
    `set_test_time()`'s and can be changed per call."""
    from gantool.training.device import autocast_dtype

    amp_dtype = autocast_dtype(precision, torch.device(device))  # rejects fp16 on a CPU, unknown names, ...
    recipes = translation_recipes()
    cfg, _, generators = load_generators(
        path, recipes,
        f"which does not translate images; use a {' or '.join(recipes)} checkpoint (for cgan use gantool generate)",
        use_ema=use_ema)
    from gantool.recipes import RECIPES

    keys = RECIPES.get(cfg.recipe).translation_generators
    if direction is not None and direction not in keys:
        raise GantoolError(
            f"this {cfg.recipe} model translates in one direction only (the {cfg.data.direction} it was "
            f"trained in), given as --direction a2b; for both directions train a cyclegan")
    if direction is not None and keys[direction] not in generators:
        raise GantoolError(
            f"{path} holds one direction only ({', '.join(k for k in keys if keys[k] in generators)}: a single "
            f"published generator); it cannot translate {direction}. Import the reference's G_A and G_B together "
            "for both directions")
    translators = {}
    for name, key in keys.items():
        if key not in generators or direction not in (None, name):
            continue
        generator = generators[key].to(device)
        if channels_last:
            generator = generator.to(memory_format=torch.channels_last)
        translators[name] = Translator(generator, generator.in_channels, generator.out_channels,
                                       generator.size_multiple, torch.device(device), cfg, tile=tile,
                                       amp_dtype=amp_dtype, channels_last=channels_last)
        translators[name].set_test_time()
    return translators


def check_test_time(bn_stats: str) -> None:
    if bn_stats not in BN_STATS:
        raise GantoolError(f"unknown --bn-stats {bn_stats!r}; valid: {', '.join(BN_STATS)}")


def collect_inputs(inputs: Iterable[str | Path], skip: str | Path | None = None) -> list[tuple[Path, Path]]:
    """(file, path relative to its output folder) for every image among files and folders. A
    folder's subfolder `skip` (the output folder, when it lies inside an input folder) is not
    searched: a second run would otherwise take the first run's outputs for inputs."""
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            images = readable_images(path, "input folder", skip=skip)  # unreadable files: skipped with a warning
            found += [(p, p.relative_to(path)) for p in images]
        elif path.is_file():
            found.append((path, Path(path.name)))
        else:
            raise GantoolError(f"input {path} {what_is(path)}; give image files or folders of images")
    if not found:
        raise GantoolError("no input images given")
    return found


def read_for(translator: Translator, path: Path) -> Tensor:
    return load_tensor(path, translator.in_channels)


def batches_by_shape(plan: list[tuple[Path, Path]], translator: Translator, batch_size: int
                     ) -> Iterator[tuple[list[tuple[Path, Path]], Tensor]]:
    """Groups consecutive images of one shape into batches (batch statistics: one image each)."""
    if translator.one_per_batch:
        batch_size = 1
    group: list[tuple[Path, Path]] = []
    tensors: list[Tensor] = []
    for item in plan:
        tensor = read_for(translator, item[0])
        if tensors and (tensor.shape != tensors[0].shape or len(tensors) == batch_size):
            yield group, torch.cat(tensors)
            group, tensors = [], []
        group.append(item)
        tensors.append(tensor)
    if tensors:
        yield group, torch.cat(tensors)
