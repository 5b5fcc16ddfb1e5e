"""Learned approximate inference for a trained class-conditional generator (Goodfellow et al. 2014,
section 7; the E_z of Perarnau et al. 2016's invertible conditional GANs).

An encoder E_z learns x -> z on fresh samples of the frozen generator: each step draws (z, y),
makes x = G(z, y), and trains E_z on ||E_z(x) - z||^2 (the code) and ||G(E_z(x), y) - x||^2 (the
picture it makes). There is no discriminator, so the trainer runs no D phase; E_z is the
recipe's only trained network (`generators`, so it gets the EMA and the optimizer of G's phase).

The generator is named in the config (`model.generator`) and pinned in the checkpoint's metadata
by the SHA-256 of its file, with its config and class names; its weights are stored with the
encoder's (`recipe_state`), so an encoder checkpoint alone rebuilds both networks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from gantool.config import Config, register_model_config
from gantool.errors import GantoolError
from gantool.networks.encoder import Encoder
from gantool.recipes.base import Batch, Recipe, Stats
from gantool.recipes.cgan import sample_noise
from gantool.recipes.registry import RECIPES

# No weight EMA: on the default digits cgan, 3,000 steps, the raw encoder reconstructed 2,000 fresh
# samples with pixel MSE 0.0255 against 0.0354 for its EMA (0.999) and recovered z with MSE 0.59
# against 0.70; the averaged weights do not fit the batch-norm statistics of the raw ones.
ENCODER_DEFAULTS = {
    "data": {"dataset": "generator"},
    "optim": {"lr_g": 1e-3, "betas": [0.9, 0.999], "lr_decay_fraction": 0.3},
    "train": {"steps": 3000, "ema_decay": 0.0},
}
CODES_PER_EPOCH = 60_000  # the stream needs a length; every sample is fresh anyway
VALIDATION_SAMPLES = 500
GENERATOR_PREFIX = "generator."  # the frozen generator's tensors in recipe_state


@register_model_config("encoder", defaults=ENCODER_DEFAULTS)
@dataclass(frozen=True)
class EncoderModelConfig:
    generator: str = ""  # the class-conditional generator to invert: its checkpoint file
    nef: int = 32  # encoder width
    hidden: int = 512  # width of the linear layer before z
    lambda_z: float = 1.0  # weight of ||E(x) - z||^2
    lambda_x: float = 1.0  # weight of ||G(E(x), y) - x||^2

    def __post_init__(self) -> None:
        if self.lambda_z < 0 or self.lambda_x < 0 or self.lambda_z + self.lambda_x == 0:
            raise GantoolError("config values model.lambda_z and model.lambda_x: must be >= 0, not both 0")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def generator_weights(path: str | Path) -> dict[str, Tensor]:
    """The weights of the class-conditional generator G at `path` (its EMA weights when kept)."""
    from gantool.checkpoint import load_generator_state

    state = load_generator_state(path)
    if state["recipe"] != "cgan":
        raise GantoolError(f"{path} holds a {state['recipe']!r} model; an encoder inverts a class-conditional "
                           "generator (a cgan checkpoint)")
    return {k[2:]: v for k, v in state["weights"].items() if k.startswith("G.")}


def generator_identity(path: str | Path) -> dict[str, Any]:
    """What an encoder's metadata keeps of the class-conditional generator at `path` (a checkpoint,
    run folder or export): where it is, the SHA-256 of its weights file, its config and metadata."""
    from gantool.checkpoint import EXPORT_WEIGHTS, load_generator_state, resolve_checkpoint_path

    if not str(path) or str(path) == ".":
        raise GantoolError("no generator given: pass the class-conditional checkpoint to invert "
                           "(gantool train encoder CKPT)")
    path = Path(path).expanduser().resolve()
    state = load_generator_state(path)
    if state["recipe"] != "cgan":
        raise GantoolError(f"{path} holds a {state['recipe']!r} model; an encoder inverts a class-conditional "
                           "generator (a cgan checkpoint)")
    exported = path.is_dir() and (path / EXPORT_WEIGHTS).is_file()
    file = path / EXPORT_WEIGHTS if exported else resolve_checkpoint_path(path).resolve()
    return {"path": str(path), "file": str(file), "sha256": file_sha256(file), "recipe": state["recipe"],
            "config": state["config"], "meta": state["meta"]}


def generator_settings(path: str | Path) -> dict[str, Any]:
    """The config values an encoder for the generator at `path` must have (dotted keys)."""
    info = generator_identity(path)
    data = info["config"]["data"]
    return {"model.generator": info["path"], "data.image_size": data["image_size"], "data.channels": data["channels"]}


def build_frozen_generator(info: dict[str, Any]) -> nn.Module:
    """The generator's architecture (untrained) from an encoder's metadata, frozen in eval mode."""
    cfg = Config.from_dict(info["config"])
    return Frozen(RECIPES.get(info["recipe"])(cfg, info["meta"]).generators["G"])


def build_encoder(cfg: Config, z_dim: int) -> Encoder:
    return Encoder(cfg.data.channels, cfg.data.image_size, z_dim, cfg.model.nef, cfg.model.hidden)


class Frozen(nn.Module):
    """A network that is never trained: eval mode whatever its parent's mode, no parameter gradients
    (gradients still flow through it to its inputs)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> "Frozen":
        return super().train(False)

    def forward(self, *args: Any) -> Tensor:
        return self.module(*args)


class GeneratorCodes(Dataset):
    """The encoder's training 'data': class labels, uniform over the classes; the stream's
    per-sample seed draws each z, so every step sees new samples of the generator."""

    def __init__(self, num_classes: int, n: int = CODES_PER_EPOCH) -> None:
        self.num_classes, self.n = num_classes, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Tensor]:
        return {"labels": torch.tensor(key[0] % self.num_classes)}

    def get_batch(self, indices: Tensor, seeds: Tensor) -> dict[str, Tensor]:
        return {"labels": indices % self.num_classes}


@RECIPES.register("encoder")
class EncoderRecipe(Recipe):
    name = "encoder"
    selection_metric = "val_recon_mse"
    architecture_keys = ("model.nef", "model.hidden", "data.image_size", "data.channels")

    def __init__(self, cfg: Config, meta: dict[str, Any]) -> None:
        super().__init__(cfg, meta)
        info = meta["generator"]
        self.num_classes = len(meta["class_names"])
        self.z_dim = int(info["config"]["model"]["z_dim"])
        self.generators["E"] = build_encoder(cfg, self.z_dim)
        self.frozen = build_frozen_generator(info)
        # a fresh run reads the generator's weights from its file; a resumed one may find the file
        # changed or gone and gets them from its own checkpoint (load_extra_state)
        self.generator_loaded = False
        file = Path(info["file"])
        if file.is_file() and file_sha256(file) == info["sha256"]:
            self._load_generator(generator_weights(info["path"]), file)

    def _load_generator(self, weights: dict[str, Tensor], source: str | Path) -> None:
        from gantool.weights import load_weights

        load_weights(self.frozen.module, weights, source, what="generator named in the encoder's config")
        self.generator_loaded = True

    @classmethod
    def build_data(cls, cfg: Config) -> tuple[Dataset, None, dict[str, Any]]:
        info = generator_identity(cfg.model.generator)
        gdata = info["config"]["data"]
        for key in ("image_size", "channels"):
            if getattr(cfg.data, key) != gdata[key]:
                raise GantoolError(f"config value data.{key}={getattr(cfg.data, key)} does not fit the generator "
                                   f"{info['path']} ({gdata[key]}); leave it out, the encoder takes the generator's")
        names = list(info["meta"]["class_names"])
        return GeneratorCodes(len(names)), None, {"class_names": names, "generator": info}

    def extra_state(self) -> dict[str, Tensor]:
        return {GENERATOR_PREFIX + k: v for k, v in self.frozen.module.state_dict().items()}

    def load_extra_state(self, state: dict[str, Tensor]) -> None:
        weights = {k[len(GENERATOR_PREFIX):]: v for k, v in state.items() if k.startswith(GENERATOR_PREFIX)}
        if weights:
            self._load_generator(weights, "the encoder checkpoint")

    def _samples(self, z: Tensor, labels: Tensor) -> Tensor:
        if not self.generator_loaded:
            raise GantoolError(f"the generator {self.meta['generator']['file']} is missing or changed since the "
                               "encoder was started, and no checkpoint holds its weights; train a new encoder for it")
        with torch.no_grad():
            return self.frozen(z, labels)

    def generate(self, batch: Batch) -> Batch:
        labels = batch["labels"]
        z = sample_noise(batch.get("seed"), labels.shape[0], self.z_dim).to(labels.device)
        images = self._samples(z, labels)
        return {"images": images, "z": z, "labels": labels, "z_hat": self.generators["E"](images)}

    def generator_loss(self, batch: Batch, fakes: Batch, step: int) -> tuple[Tensor, Stats]:
        m = self.cfg.model
        loss_z = F.mse_loss(fakes["z_hat"].float(), fakes["z"])
        recon = self.frozen(fakes["z_hat"], fakes["labels"])  # gradients reach E through the frozen G
        loss_x = F.mse_loss(recon.float(), fakes["images"].float())
        return m.lambda_z * loss_z + m.lambda_x * loss_x, {"loss_z": loss_z.detach(), "loss_x": loss_x.detach()}

    def validates(self, dataset: Dataset | None) -> bool:
        return True

    def validate(self, generators: nn.ModuleDict, dataset: Dataset | None, device: Any) -> dict[str, float]:
        """z and picture errors on fixed samples that training never draws (their own seed)."""
        generator = torch.Generator().manual_seed(self.cfg.train.seed + 777)
        labels = torch.arange(VALIDATION_SAMPLES, device=device) % self.num_classes
        z = torch.randn(VALIDATION_SAMPLES, self.z_dim, generator=generator).to(device)
        images = self._samples(z, labels).float()
        z_hat = generators["E"](images).float()
        recon = self.frozen(z_hat, labels).float()
        return {"val_z_mse": F.mse_loss(z_hat, z).item(), "val_recon_mse": F.mse_loss(recon, images).item()}

    def fixed_sample_inputs(self, device: Any, train_set: Dataset, val_set: Dataset | None) -> Batch:
        per_class = self.cfg.train.samples_per_class
        generator = torch.Generator().manual_seed(self.cfg.train.seed + 12345)
        z = torch.randn(self.num_classes * per_class, self.z_dim, generator=generator)
        labels = torch.arange(self.num_classes).repeat_interleave(per_class)
        return {"z": z.to(device), "labels": labels.to(device)}

    def sample_grid(self, generators: nn.ModuleDict, inputs: Batch) -> tuple[Tensor, int]:
        """Per class, a row of generated images and below it their reconstructions G(E(x), y)."""
        per_class = self.cfg.train.samples_per_class
        images = self._samples(inputs["z"], inputs["labels"])
        recon = self.frozen(generators["E"](images), inputs["labels"])
        rows = torch.stack([images.view(self.num_classes, per_class, *images.shape[1:]),
                            recon.view(self.num_classes, per_class, *recon.shape[1:]).to(images.dtype)], dim=1)
        return rows.flatten(0, 2), per_class
