"""From an image back to the generator's code: encode, reconstruct, edit the class, refine.

An `Editor` holds a trained encoder E_z and the frozen class-conditional generator G it was
trained for (both from the encoder's checkpoint alone). For a real image x of class y (read by
the digit judge, or given), E_z(x) is the code; G(E_z(x), y) its reconstruction and G(E_z(x), k)
the same style drawn as class k (Perarnau et al. 2016). `invert` refines E_z's guess by gradient
descent on z against the image's pixels and its digit-judge features.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gantool.errors import GantoolError
from gantool.inference import ConditionalSampler


@dataclass
class Editor:
    encoder: nn.Module
    sampler: ConditionalSampler  # the frozen generator, its classes and z size
    checkpoint: Path  # the encoder's
    generator: dict[str, Any]  # the encoder metadata's record of its generator (path, sha256, ...)
    notes: list[str] = field(default_factory=list)  # how the encoder was found

    @property
    def device(self) -> torch.device:
        return self.sampler.device

    @property
    def image_size(self) -> int:
        return self.encoder.image_size

    @property
    def channels(self) -> int:
        return self.encoder.channels

    def generate(self, z: Tensor, labels: Tensor) -> Tensor:
        """G(z, labels) on the CPU, in [-1, 1]."""
        return self.sampler.sample(labels, z=z.detach().cpu())

    @torch.inference_mode()
    def encode(self, images: Tensor, batch_size: int = 256) -> Tensor:
        """E_z(images) on the CPU."""
        return torch.cat([self.encoder(images[i:i + batch_size].to(self.device).float()).float().cpu()
                          for i in range(0, len(images), batch_size)])

    def digit_judge(self) -> nn.Module | None:
        """The cached digit judge when this is a 10-class 28x28 grayscale model, else None."""
        if self.sampler.num_classes != 10 or self.image_size != 28 or self.channels != 1:
            return None
        from gantool.metrics.judge import cached_judge

        judge = cached_judge()
        return judge.to(self.device).eval().requires_grad_(False) if judge is not None else None

    def read_classes(self, images: Tensor, label: str | None = None) -> tuple[Tensor, list[str]]:
        """(class index of each image, how it was read): `label` for all when given, else the
        digit judge's reading with its confidence."""
        if label is not None:
            index = self.sampler.label_index(label)
            return torch.full((len(images),), index, dtype=torch.long), ["class given (--label)"] * len(images)
        judge = self.digit_judge()
        if judge is None:
            if self.sampler.num_classes == 10 and self.image_size == 28 and self.channels == 1:
                raise GantoolError("no cached digit judge to read the input's class: train it once with "
                                   "`gantool eval judge --data MNIST_DIR`, or give the class with --label")
            raise GantoolError("the digit judge reads only 28x28 grayscale digits; give the input's class with "
                               f"--label (one of {', '.join(self.sampler.class_names[:20])})")
        with torch.inference_mode():
            probs = judge(images.to(self.device).float()).softmax(1).cpu()
        confidence, labels = probs.max(1)
        names = self.sampler.class_names
        return labels, [f"read as {names[int(c)]} by the digit judge (p = {float(p):.2f})"
                        for c, p in zip(labels, confidence)]

    def targets(self, spec: str) -> list[int]:
        """Class indices from 'all' or a comma-separated list of class names."""
        if spec.strip() == "all":
            return list(range(self.sampler.num_classes))
        parts = [part.strip() for part in spec.split(",") if part.strip()]
        if not parts:
            raise GantoolError("--to: give a class, a comma-separated list of classes, or all")
        return [self.sampler.label_index(part) for part in parts]

    def edit_grid(self, images: Tensor, labels: Tensor, targets: list[int], z: Tensor | None = None) -> Tensor:
        """Per image: the image, its reconstruction G(z, y), then G(z, k) for each target k; z is
        E_z(image) unless given."""
        z = self.encode(images) if z is None else z
        n, columns = len(images), 2 + len(targets)
        classes = torch.stack([labels] + [torch.full_like(labels, k) for k in targets], dim=1)  # (n, 1 + K)
        drawn = self.generate(z.repeat_interleave(1 + len(targets), 0), classes.flatten())
        drawn = drawn.view(n, 1 + len(targets), *drawn.shape[1:])
        return torch.cat([images.float().cpu()[:, None], drawn], dim=1).view(n * columns, *drawn.shape[2:])


def _encoder_networks(state: dict[str, Any], device: torch.device) -> tuple[nn.Module, ConditionalSampler]:
    from gantool.config import Config
    from gantool.recipes.encoder import GENERATOR_PREFIX, build_encoder, build_frozen_generator
    from gantool.weights import check_fits_first, load_weights

    cfg, meta = Config.from_dict(state["config"]), state["meta"]
    info = meta["generator"]
    z_dim = int(info["config"]["model"]["z_dim"])
    weights = state["ema"] if state.get("ema") is not None else state["generators"]
    encoder_weights = {k[2:]: v for k, v in weights.items() if k.startswith("E.")}
    generator_weights = {k[len(GENERATOR_PREFIX):]: v for k, v in (state.get("recipe_state") or {}).items()
                         if k.startswith(GENERATOR_PREFIX)}
    # both configs come from the file: their networks are checked against its tensors before they are built
    check_fits_first(lambda: {"E": build_encoder(cfg, z_dim)}, {"E": encoder_weights}, "encoder checkpoint")
    check_fits_first(lambda: {"G": build_frozen_generator(info).module}, {"G": generator_weights}, "encoder checkpoint",
                     what="generator recorded in the encoder's metadata")
    encoder = build_encoder(cfg, z_dim)
    load_weights(encoder, encoder_weights, "encoder checkpoint")
    frozen = build_frozen_generator(info)
    load_weights(frozen.module, generator_weights, "encoder checkpoint", what="generator recorded in the encoder's metadata")
    sampler = ConditionalSampler(frozen.module.to(device).eval(), list(meta["class_names"]), z_dim,
                                 Config.from_dict(info["config"]), device)
    return encoder.to(device).eval(), sampler


def find_encoder(generator: str | Path, search: list[Path]) -> Path:
    """The newest encoder checkpoint under the `search` folders that was trained for the generator
    at `generator` (the SHA-256 of its file matches); an error that says how to train one."""
    from gantool.checkpoint import load_checkpoint
    from gantool.recipes.encoder import generator_identity

    sha = generator_identity(generator)["sha256"]
    found = []
    for folder in dict.fromkeys(path.resolve() for path in search if path.is_dir()):
        for latest in folder.glob("**/checkpoints/latest.pt"):
            config = latest.parent.parent / "config.yaml"
            if not config.is_file() or "recipe: encoder" not in config.read_text():
                continue
            try:
                state = load_checkpoint(latest, recipe="encoder")
            except GantoolError:
                continue
            if state["meta"]["generator"]["sha256"] == sha:
                found.append((latest.stat().st_mtime, latest))
    if not found:
        where = ", ".join(str(p) for p in search)
        raise GantoolError(f"{generator} is a class-conditional generator, and no encoder trained for it (this "
                           f"exact file) is under {where}; train one with `gantool train encoder {generator}`, or "
                           "pass the encoder's run folder as --checkpoint")
    return max(found)[1]


def load_editor(checkpoint: str | Path, device: str | torch.device = "cpu", runs_dir: str | Path = "runs") -> Editor:
    """An encoder checkpoint or run folder; or a cgan one, whose encoder is then looked up under
    `runs_dir` and beside the cgan's run folder (by the generator's SHA-256)."""
    from gantool.checkpoint import EXPORT_CONFIG, load_checkpoint, load_generator_state, resolve_checkpoint_path
    from gantool.resume import run_dir_of

    path, notes = Path(checkpoint).expanduser(), []
    if path.is_dir() and (path / EXPORT_CONFIG).is_file():  # an exported generator: no optimizers, no copies
        state = {"recipe": load_generator_state(path)["recipe"]}
        if state["recipe"] == "encoder":
            raise GantoolError(f"{path} is an exported encoder, which holds no generator; give the encoder's "
                               "checkpoint or run folder")
        search = [Path(runs_dir), path.parent]
    else:
        state = load_checkpoint(path)
        search = [Path(runs_dir), run_dir_of(resolve_checkpoint_path(path)).parent]
    if state["recipe"] == "cgan":
        found = find_encoder(path, search)
        notes.append(f"using the encoder {run_dir_of(found)} trained for this generator")
        path, state = found, load_checkpoint(found)
    elif state["recipe"] != "encoder":
        raise GantoolError(f"{checkpoint} holds a {state['recipe']!r} model; give an encoder checkpoint (gantool "
                           "train encoder CKPT) or the class-conditional generator it was trained for")
    device = torch.device(device)
    encoder, sampler = _encoder_networks(state, device)
    return Editor(encoder, sampler, path, state["meta"]["generator"], notes)


@dataclass
class Inversion:
    start: Tensor  # E_z's guess
    z: Tensor  # refined codes
    curve: list[dict[str, float]]  # per step: mean total, pixel and feature loss over the images
    features: bool  # whether the digit judge's features were part of the loss


def invert(editor: Editor, images: Tensor, labels: Tensor, steps: int = 300, lr: float = 0.05,
           feature_weight: float = 1.0, z: Tensor | None = None) -> Inversion:
    """E_z's guess refined by `steps` of Adam on z, per image: pixel MSE of G(z, y) against the
    image, plus `feature_weight` times the MSE of their digit-judge features (when the judge
    applies and is cached). Images are independent (each loss is summed, never averaged over the
    batch, and Adam works per coordinate), so a batch refines as its images would one by one."""
    device = editor.device
    start = editor.encode(images) if z is None else z.detach().cpu()
    target = images.to(device).float().clone()  # a normal tensor, even when made under inference mode
    labels = labels.to(device)
    judge = editor.digit_judge() if feature_weight > 0 else None
    target_features = judge.embed(target).detach() if judge is not None else None
    code = start.clone().to(device).requires_grad_(True)
    optimizer = torch.optim.Adam([code], lr=lr)
    generator = editor.sampler.generator
    curve = []
    for step in range(steps + 1):
        drawn = generator(code, labels).float()
        pixel = F.mse_loss(drawn, target, reduction="none").flatten(1).mean(1)
        feature = (F.mse_loss(judge.embed(drawn), target_features, reduction="none").mean(1)
                   if judge is not None else torch.zeros_like(pixel))
        loss = pixel + feature_weight * feature
        curve.append({"step": step, "loss": loss.mean().item(), "pixel_mse": pixel.mean().item(),
                      "feature_mse": feature.mean().item()})
        if step == steps:  # the curve's last point is the returned code's loss
            break
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimizer.step()
    return Inversion(start, code.detach().cpu(), curve, judge is not None)


def prepare_inputs(paths: list[Path], editor: Editor, as_is: bool = False) -> tuple[Tensor, list[str]]:
    """The images at `paths` as the model's inputs, and what was done to each. Grayscale models
    get MNIST's preparation of real digits (gantool.data.scanned) unless `as_is`; otherwise
    each image is resized to the model's size."""
    from gantool.data.images import load_tensor
    from gantool.data.scanned import prepare_digit

    size, images, notes = editor.image_size, [], []
    for path in paths:
        if editor.channels == 1 and not as_is:
            prepared = prepare_digit(path, size)
            images.append(prepared.image)
            notes.append(prepared.describe())
            continue
        image = load_tensor(path, editor.channels)
        h, w = image.shape[-2:]
        if (h, w) != (size, size):
            image = F.interpolate(image, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        images.append(image[0])
        notes.append(f"{w}x{h} used as it is" + (f", resized to {size}x{size}" if (h, w) != (size, size) else ""))
    return torch.stack(images), notes


def write_loss_curve(curve: list[dict[str, float]], path: Path) -> Path:
    """The refinement's losses against the step, as a PNG."""
    from gantool.report import _plot as plot_series  # the report's panel: one look for every curve

    keys = ["loss", "pixel_mse"] + (["feature_mse"] if any(r["feature_mse"] for r in curve) else [])
    plot_series(path, "Inversion: loss per step (mean over the images)", curve, keys, [], ylabel="loss",
                log_scale=True)
    return path
