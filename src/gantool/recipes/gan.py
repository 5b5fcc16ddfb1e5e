"""Unconditional GAN (Goodfellow et al. 2014): G(z) against D(x), on any folder of images.

Networks: `dcgan` (convolutional, any size base * 2**n) or the paper's own MNIST model, `mlp` G
and `maxout` D. Every objective and stabiliser of the trainer applies, as for the other recipes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from gantool.config import Config, register_model_config
from gantool.data.unlabelled import build_unlabelled_datasets
from gantool.networks import DISCRIMINATORS, GENERATORS
from gantool.networks.conditional import base_resolution
from gantool.networks.unconditional import BASES
from gantool.recipes.base import Batch, Recipe, Stats
from gantool.recipes.cgan import sample_noise
from gantool.recipes.registry import RECIPES

# DCGAN's recipe (Radford et al. 2016): Adam 2e-4 with beta1 0.5 and the non-saturating loss; D
# with spectral norm (Miyato et al. 2018), which kept the 28 px digit runs of issue 16 stable
GAN_DEFAULTS = {
    "loss": {"objective": "nonsaturating"},
    "optim": {"lr_g": 2e-4, "lr_d": 2e-4, "betas": [0.5, 0.999]},
    "train": {"steps": 4000, "samples_per_class": 8},
}

JUDGE_SAMPLES = 1000  # generated and held-out digits in the cheap metric: about a second on a CPU
PIXEL_MARGINALS = "_pixel_marginals"  # meta key that carries the data's pixel means to G's init only


@register_model_config("gan", defaults=GAN_DEFAULTS)
@dataclass(frozen=True)
class GANModelConfig:
    generator: Literal["dcgan", "mlp"] = "dcgan"
    discriminator: Literal["dcgan", "maxout"] = "dcgan"
    z_dim: int = 100  # Gaussian noise, fed to the bottom layer of G only
    ngf: int = 64  # dcgan widths
    ndf: int = 64
    spectral_norm: bool = True  # dcgan D
    norm: Literal["batch", "syncbatch"] = "batch"  # dcgan G; syncbatch: statistics over all processes
    mlp_hidden: int = 1200  # mlp G: units of each ReLU layer (the paper: 1200, 1200)
    mlp_layers: int = 2
    maxout_units: int = 240  # maxout D: units x pieces per layer (the paper: 240 x 5, twice)
    maxout_pieces: int = 5
    maxout_layers: int = 2
    dropout: float = 0.5  # maxout D: drop probability of hidden units
    input_dropout: float = 0.2  # ... and of input pixels (the paper kept 0.8 of them)


def build_generator(cfg: Config) -> nn.Module:
    m, d = cfg.model, cfg.data
    shape = dict(channels=d.channels, image_size=d.image_size, z_dim=m.z_dim)
    if m.generator == "mlp":
        return GENERATORS.get("mlp")(**shape, hidden=m.mlp_hidden, layers=m.mlp_layers)
    return GENERATORS.get(m.generator)(**shape, ngf=m.ngf, norm=m.norm)


def build_discriminator(cfg: Config) -> nn.Module:
    m, d = cfg.model, cfg.data
    shape = dict(channels=d.channels, image_size=d.image_size)
    if m.discriminator == "maxout":
        return DISCRIMINATORS.get("maxout")(**shape, units=m.maxout_units, pieces=m.maxout_pieces,
                                            layers=m.maxout_layers, dropout=m.dropout,
                                            input_dropout=m.input_dropout)
    return DISCRIMINATORS.get(m.discriminator)(**shape, ndf=m.ndf, spectral_norm=m.spectral_norm)


def pixel_marginals(dataset: Dataset, limit: int = 10000) -> Tensor:
    """Mean of each pixel in [0, 1] over (up to `limit` of) the training images."""
    if hasattr(dataset, "images"):  # digits in memory: all of them, cheaply
        return dataset.images[:limit].float().mean(0) / 255
    picks = range(min(limit, len(dataset)))
    return torch.stack([(dataset[(i, 0)]["images"] + 1) / 2 for i in picks]).mean(0)


@RECIPES.register("gan")
class GANRecipe(Recipe):
    name = "gan"
    # judge-space FID of samples against held-out digits (digit models, when the judge is cached)
    selection_metric = "val_judge_fid"
    architecture_keys = ("model.generator", "model.discriminator", "model.z_dim", "model.ngf", "model.ndf",
                         "model.spectral_norm", "model.norm", "model.mlp_hidden", "model.mlp_layers",
                         "model.maxout_units", "model.maxout_pieces", "model.maxout_layers",
                         "data.image_size", "data.channels")

    def __init__(self, cfg: Config, meta: dict[str, Any]) -> None:
        marginals = meta.get(PIXEL_MARGINALS)
        super().__init__(cfg, {k: v for k, v in meta.items() if k != PIXEL_MARGINALS})
        self.z_dim = cfg.model.z_dim
        self.generators["G"] = build_generator(cfg)
        self.discriminators["D"] = build_discriminator(cfg)
        if marginals is not None and hasattr(self.generators["G"], "init_output_bias"):
            self.generators["G"].init_output_bias(marginals)

    @classmethod
    def build_data(cls, cfg: Config) -> tuple[Dataset, Dataset | None, dict[str, Any]]:
        if "dcgan" in (cfg.model.generator, cfg.model.discriminator):  # a size it cannot make: say so first
            base_resolution(cfg.data.image_size, BASES, "unconditional")
        train, held_out = build_unlabelled_datasets(cfg.data)
        meta: dict[str, Any] = {"images": len(train)}
        if cfg.model.generator == "mlp":  # the paper's G starts at the data's mean image
            meta[PIXEL_MARGINALS] = pixel_marginals(train)
        return train, held_out, meta

    def judge(self) -> nn.Module | None:
        """The cached digit judge for 28x28 grayscale models, else None (never trains it here)."""
        if "_judge" not in self.__dict__:  # kept outside the module tree: not part of checkpoints
            d, judge = self.cfg.data, None
            if d.image_size == 28 and d.channels == 1:
                from gantool.metrics.judge import cached_judge
                judge = cached_judge()
            self.__dict__["_judge"] = judge
        return self.__dict__["_judge"]

    def validates(self, dataset: Dataset | None) -> bool:
        return dataset is not None and self.judge() is not None

    def validate(self, generators: nn.ModuleDict, dataset: Dataset | None, device: Any) -> dict[str, float]:
        """Judge-space FID of fixed samples against held-out digits, and how evenly the judge
        spreads the samples over the ten digits (KL to uniform: mode collapse shows here)."""
        from gantool.data.images import to_unit_range
        from gantool.metrics.digits import class_coverage, judge_features
        from gantool.metrics.distances import fid

        judge = self.judge().to(device)
        if "_real_features" not in self.__dict__:  # held-out digits (in memory, at the model's size)
            real = to_unit_range(dataset.images[:JUDGE_SAMPLES])
            self.__dict__["_real_features"] = judge_features(judge, real.to(device)).cpu()
        z = torch.randn(JUDGE_SAMPLES, self.z_dim, generator=torch.Generator().manual_seed(self.cfg.train.seed + 54321))
        images = generators["G"](z.to(device)).float()
        fake_features = judge_features(judge, images).cpu()
        predicted = judge.classify(fake_features.to(device)).argmax(1).cpu()
        return {"val_judge_fid": fid(fake_features, self.__dict__["_real_features"]),
                "val_coverage_kl": class_coverage(predicted)["kl_to_uniform"]}

    def diversity_groups(self, grid: Tensor, inputs: Batch) -> list[tuple[Tensor, Tensor]]:
        """All fixed samples against real images: a G that ignores z draws one image, collapsed."""
        return [(grid, inputs["real_images"])]

    def generate(self, batch: Batch) -> Batch:
        images = batch["images"]
        z = sample_noise(batch.get("seed"), images.shape[0], self.z_dim).to(images.device)
        return {"fake": self.generators["G"](z)}

    def discriminator_loss(self, batch: Batch, fakes: Batch, step: int, d_step: int) -> tuple[Tensor, Stats]:
        return self.adversarial.discriminator_loss(self.discriminators["D"], batch["images"], fakes["fake"],
                                                   step, d_step)

    def generator_loss(self, batch: Batch, fakes: Batch, step: int) -> tuple[Tensor, Stats]:
        return self.adversarial.generator_loss(self.discriminators["D"], fakes["fake"], step)

    def fixed_sample_inputs(self, device: Any, train_set: Dataset, val_set: Dataset | None) -> Batch:
        per_row = self.cfg.train.samples_per_class
        generator = torch.Generator().manual_seed(self.cfg.train.seed + 12345)
        z = torch.randn(per_row * per_row, self.z_dim, generator=generator)
        picks = torch.randperm(len(train_set), generator=generator)[:min(len(train_set), 64)]
        real = torch.stack([train_set[(int(i), 0)]["images"] for i in picks])
        return {"z": z.to(device), "real_images": real.to(device)}

    def sample_grid(self, generators: nn.ModuleDict, inputs: Batch) -> tuple[Tensor, int]:
        return generators["G"](inputs["z"]), self.cfg.train.samples_per_class
