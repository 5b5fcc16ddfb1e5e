"""pix2pix (Isola et al. 2017): paired translation with a U-Net G, a conditional PatchGAN D, L1 + GAN loss.

D judges (input, output) pairs concatenated on channels, so it learns whether an output fits its
input. The defaults follow the paper and its reference code: "vanilla" GAN loss (binary cross
entropy, which for G is the non-saturating form), lambda_L1 = 100, D loss halved, Adam 2e-4 with
betas (0.5, 0.999), constant learning rate then a linear decay over the second half, lowered once
per epoch as the reference does (`optim.decay_every=step` lowers it every step, to 0), batch size 1,
batch norm, dropout 0.5, 286 -> 256 random crops with horizontal flips.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from gantool.adversarial import AdversarialLoss
from gantool.config import Config, register_model_config
from gantool.data.paired import PairedImages, find_pairs, holdout_split
from gantool.errors import GantoolError
from gantool.losses import l1_loss
from gantool.networks import DISCRIMINATORS, GENERATORS
from gantool.networks.layers import batch_norm_from_batch, per_image_statistics
from gantool.recipes.base import Batch, Recipe, Stats
from gantool.recipes.registry import RECIPES

PIX2PIX_DEFAULTS = {
    "data": {"dataset": "paired", "image_size": 256, "channels": 3, "batch_size": 1, "hflip": True,
             "preprocess": "resize_and_crop"},
    # the reference's once-per-epoch linear rule: on held-out facades it matched per-step decay on
    # L1/SSIM and scored a few points better in Inception FID (benchmarks/pix2pix_facades_variants.py)
    "optim": {"lr_decay_fraction": 0.5, "decay_every": "epoch"},
    "train": {"steps": 20000, "ema_decay": 0.0, "samples_per_class": 4, "log_every": 100,
              "sample_every": 1000, "checkpoint_every": 1000, "val_every": 1000},
}


@register_model_config("pix2pix", defaults=PIX2PIX_DEFAULTS)
@dataclass(frozen=True)
class Pix2PixModelConfig:
    # resnet generators: what the reference's --netG resnet_9blocks gives pix2pix (imported models)
    generator: Literal["unet_64", "unet_128", "unet_256", "resnet_6blocks", "resnet_9blocks"] = "unet_256"
    discriminator: Literal["patchgan", "pixel"] = "patchgan"
    ngf: int = 64
    ndf: int = 64
    n_layers_d: int = 3  # PatchGAN depth: 3 judges 70x70 patches
    norm: Literal["batch", "syncbatch", "instance", "none"] = "batch"
    dropout: float = 0.5
    spectral_norm: bool = False
    lambda_l1: float = 100.0
    d_loss_weight: float = 0.5  # the reference halves D's loss to slow D relative to G


def direction_channels(cfg: Config) -> tuple[int, int]:
    """(input channels, output channels) after applying the direction."""
    a, b = cfg.data.channels, cfg.data.channels_b or cfg.data.channels
    return (a, b) if cfg.data.direction == "AtoB" else (b, a)


def as_rgb(images: Tensor) -> Tensor:
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


@RECIPES.register("pix2pix")
class Pix2PixRecipe(Recipe):
    name = "pix2pix"
    translation_generators = {"a2b": "G"}  # one direction: the one it was trained in (data.direction)
    selection_metric = "val_l1"
    architecture_keys = ("model.generator", "model.discriminator", "model.ngf", "model.ndf", "model.n_layers_d",
                         "model.norm", "model.dropout", "data.channels", "data.channels_b")

    def __init__(self, cfg: Config, meta: dict[str, Any]) -> None:
        super().__init__(cfg, meta)
        m = cfg.model
        in_ch, out_ch = direction_channels(cfg)
        self.input_key, self.target_key = ("A", "B") if cfg.data.direction == "AtoB" else ("B", "A")
        self.generators["G"] = GENERATORS.get(m.generator)(
            in_channels=in_ch, out_channels=out_ch, ngf=m.ngf, norm=m.norm, dropout=m.dropout)
        d_cls = DISCRIMINATORS.get(m.discriminator)
        d_kwargs = {"n_layers": m.n_layers_d} if m.discriminator == "patchgan" else {}
        self.discriminators["D"] = d_cls(in_channels=in_ch + out_ch, ndf=m.ndf, norm=m.norm,
                                         spectral_norm=m.spectral_norm, **d_kwargs)
        # D sees (input, output) pairs, so augmentation and noise act on the pair as one image
        self.adversarial = AdversarialLoss(cfg.loss, in_ch + out_ch, cfg.train.steps)
        multiple = self.generators["G"].size_multiple
        if cfg.data.image_size % multiple:
            raise GantoolError(
                f"data.image_size {cfg.data.image_size} does not suit {m.generator}: training crops must be a "
                f"multiple of {multiple} (e.g. {max(multiple, cfg.data.image_size // multiple * multiple)}); "
                "choose unet_128 for small crops"
            )

    @classmethod
    def build_data(cls, cfg: Config) -> tuple[Dataset, Dataset | None, dict[str, Any]]:
        d = cfg.data
        if not d.root:
            raise GantoolError("pix2pix needs paired data: pass --data DIR (A|B images, or A/ and B/ subfolders)")
        pairs = find_pairs(d.root, d.strict)
        val_pairs = None
        if d.val:
            val_pairs = find_pairs(d.val, d.strict)
        elif d.val_fraction > 0:
            pairs, val_pairs = holdout_split(pairs, d.val_fraction, cfg.train.seed)
        common = dict(size=d.image_size, channels_a=d.channels, channels_b=d.channels_b or d.channels,
                      preprocess=d.preprocess, load_size=d.load_size)
        train_set = PairedImages(pairs, flip=d.hflip, train=True, **common)
        val_set = PairedImages(val_pairs, flip=False, train=False, **common) if val_pairs else None
        meta = {"train_pairs": len(pairs), "val_pairs": len(val_pairs or [])}
        return train_set, val_set, meta

    def generate(self, batch: Batch) -> Batch:
        source, target = batch[self.input_key], batch[self.target_key]
        return {"input": source, "target": target, "fake": self.generators["G"](source)}

    def discriminator_loss(self, batch: Batch, fakes: Batch, step: int, d_step: int) -> tuple[Tensor, Stats]:
        source = fakes["input"]
        real_pair = torch.cat([source, fakes["target"]], dim=1)
        fake_pair = torch.cat([source, fakes["fake"].detach()], dim=1)
        loss, stats = self.adversarial.discriminator_loss(self.discriminators["D"], real_pair, fake_pair, step, d_step)
        return self.cfg.model.d_loss_weight * loss, stats

    def generator_loss(self, batch: Batch, fakes: Batch, step: int) -> tuple[Tensor, Stats]:
        fake_pair = torch.cat([fakes["input"], fakes["fake"]], dim=1)
        adv, stats = self.adversarial.generator_loss(self.discriminators["D"], fake_pair, step)
        l1 = l1_loss(fakes["fake"].float(), fakes["target"].float())
        stats["loss_l1"] = l1.detach()
        return adv + self.cfg.model.lambda_l1 * l1, stats

    def fixed_sample_inputs(self, device: Any, train_set: Dataset, val_set: Dataset | None) -> Batch:
        source = val_set if val_set is not None else train_set
        n = min(self.cfg.train.samples_per_class, len(source))
        items = [source[(i, 0)] for i in range(n)]
        return {k: torch.stack([item[k] for item in items]).to(device) for k in ("A", "B")}

    def sample_grid(self, generators: nn.ModuleDict, inputs: Batch) -> tuple[Tensor, int]:
        source, target = inputs[self.input_key], inputs[self.target_key]
        if per_image_statistics(self.cfg.data.batch_size):  # as translate does by default
            with batch_norm_from_batch(generators):
                fake = torch.cat([generators["G"](source[i:i + 1]) for i in range(len(source))])
        else:
            fake = generators["G"](source)
        rows = torch.stack([as_rgb(source), as_rgb(fake.float()), as_rgb(target)], dim=1)  # input | output | truth
        return rows.flatten(0, 1), 3

    def diversity_groups(self, grid: Tensor, inputs: Batch) -> list[tuple[Tensor, Tensor]]:
        return [(grid[1::3], grid[2::3])]  # rows of input | output | truth

    def validate(self, generators: nn.ModuleDict, dataset: Dataset, device: Any) -> dict[str, float]:
        """Mean L1/PSNR/SSIM on the validation pairs, with the test-time batch-norm choice that
        `gantool translate` makes by default (per-image statistics when trained at batch size 1)."""
        per_image_stats = per_image_statistics(self.cfg.data.batch_size)
        chunk = 1 if per_image_stats else 8
        totals = {"val_l1": 0.0, "val_psnr": 0.0, "val_ssim": 0.0}
        context = batch_norm_from_batch(generators) if per_image_stats else contextlib.nullcontext()
        with context:
            for start in range(0, len(dataset), chunk):
                items = [dataset[(i, 0)] for i in range(start, min(start + chunk, len(dataset)))]
                source = torch.stack([it[self.input_key] for it in items]).to(device)
                target = torch.stack([it[self.target_key] for it in items]).to(device)
                scores = image_scores(generators["G"](source).float(), target)
                for key, values in scores.items():
                    totals[f"val_{key}"] += values.sum().item()
        return {k: v / len(dataset) for k, v in totals.items()}


def image_scores(prediction: Tensor, target: Tensor) -> dict[str, Tensor]:
    """Per-image L1 (on [-1, 1]), PSNR (dB) and SSIM (11x11 Gaussian window) on [0, 1]."""
    import kornia  # imported on first use: loading a translator for inference never needs it

    p01, t01 = (prediction.clamp(-1, 1) + 1) / 2, (target.float() + 1) / 2
    l1 = (prediction.clamp(-1, 1) - target).abs().flatten(1).mean(1)
    mse = (p01 - t01).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    psnr = 10 * torch.log10(1.0 / mse)
    ssim = kornia.metrics.ssim(p01, t01, window_size=11).flatten(1).mean(1)
    return {"l1": l1, "psnr": psnr, "ssim": ssim}
