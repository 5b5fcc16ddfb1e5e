"""CycleGAN (Zhu et al. 2017): unpaired translation with two generators and two discriminators.

G maps domain A to B and F maps B to A. D_B tells real B images from G(A), D_A real A images from
F(B). Besides the adversarial losses, G and F are trained so that F(G(a)) = a and G(F(b)) = b
(cycle consistency, L1, weights lambda_a and lambda_b) and, optionally, so that each leaves images
already in its target domain unchanged (identity loss, weight lambda_identity * lambda, which
keeps colours from drifting). The discriminators see a history of generated images (an image
pool, Shrivastava et al. 2017) rather than only the latest ones, which damps oscillation.

The defaults match the paper and its reference code (pytorch-CycleGAN-and-pix2pix): LSGAN
objective, lambda 10 in both directions, identity 0.5, a pool of 50 images per discriminator,
D loss halved, Adam 2e-4 with betas (0.5, 0.999), 100 epochs at a constant learning rate then
100 of linear decay to 0, batch size 1, instance norm, 286 -> 256 random crops with flips,
a 9-block ResNet generator and a 70x70 PatchGAN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Literal

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from gantool.adversarial import AdversarialLoss
from gantool.config import Config, register_model_config
from gantool.data.paired import holdout_split
from gantool.data.unpaired import UnpairedImages, domain_folders, domain_images
from gantool.errors import GantoolError
from gantool.losses import l1_loss
from gantool.networks import DISCRIMINATORS, GENERATORS
from gantool.recipes.base import Batch, Recipe, Stats
from gantool.recipes.pix2pix import as_rgb, image_scores
from gantool.recipes.registry import RECIPES

CYCLEGAN_DEFAULTS = {
    "data": {"dataset": "unpaired", "image_size": 256, "channels": 3, "batch_size": 1, "hflip": True,
             "preprocess": "resize_and_crop"},
    "loss": {"objective": "lsgan"},
    "optim": {"lr_decay_fraction": 0.5},  # with --steps instead of epochs: decay over the second half
    "train": {"epochs": 100, "decay_epochs": 100, "ema_decay": 0.0, "samples_per_class": 4, "log_every": 100,
              "sample_every": 1000, "checkpoint_every": 1000, "val_every": 1000},
}


@register_model_config("cyclegan", defaults=CYCLEGAN_DEFAULTS)
@dataclass(frozen=True)
class CycleGANModelConfig:
    generator: Literal["resnet_9blocks", "resnet_6blocks", "unet_128", "unet_256"] = "resnet_9blocks"
    discriminator: Literal["patchgan", "pixel"] = "patchgan"
    ngf: int = 64
    ndf: int = 64
    n_layers_d: int = 3  # PatchGAN depth: 3 judges 70x70 patches
    norm: Literal["instance", "batch", "syncbatch", "none"] = "instance"
    dropout: float = 0.0
    upsampling: Literal["transposed", "resize"] = "transposed"  # resnet generators; resize avoids checkerboards
    spectral_norm: bool = False
    lambda_a: float = 10.0  # weight of the A -> B -> A cycle loss
    lambda_b: float = 10.0  # weight of the B -> A -> B cycle loss
    lambda_identity: float = 0.5  # identity loss weight, relative to lambda_a / lambda_b; 0 turns it off
    pool_size: int = 50  # generated images each discriminator remembers; 0: no pool
    d_loss_weight: float = 0.5  # the reference halves D's loss to slow D relative to G

    def __post_init__(self) -> None:
        for key in ("lambda_a", "lambda_b", "lambda_identity", "dropout", "d_loss_weight"):
            if getattr(self, key) < 0:
                raise GantoolError(f"config value model.{key}: must be >= 0")
        if self.pool_size < 0:
            raise GantoolError("config value model.pool_size: must be >= 0")


class ImagePool:
    """A history of generated images for a discriminator (Shrivastava et al. 2017).

    Until `size` images are stored, every query image is stored and returned as is. Afterwards
    each query image is, with probability 1/2, swapped for a random stored image (which it
    replaces in the pool), and otherwise returned as is. Random choices use torch's global
    generator, so they are part of a run's reproducible (and checkpointed) random state.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.images: list[Tensor] = []

    def __len__(self) -> int:
        return len(self.images)

    def state(self) -> Tensor:
        """The stored images as one tensor (empty when none), for checkpoints."""
        return torch.cat(self.images) if self.images else torch.empty(0)

    def load_state(self, images: Tensor) -> None:
        self.images = [image[None].clone() for image in images][: self.size]

    @torch.no_grad()
    def query(self, images: Tensor) -> Tensor:
        if self.size == 0:
            return images
        chosen = []
        for image in images.detach():
            image = image[None]
            if len(self.images) < self.size:
                self.images.append(image.clone())
                chosen.append(image)
            elif torch.rand(()) < 0.5:
                index = int(torch.randint(len(self.images), ()))
                chosen.append(self.images[index].to(image))
                self.images[index] = image.clone()
            else:
                chosen.append(image)
        return torch.cat(chosen)


def domain_channels(cfg: Config) -> tuple[int, int]:
    return cfg.data.channels, cfg.data.channels_b or cfg.data.channels


def unpaired_sample_inputs(cfg: Config, device: Any, train_set: Dataset, val_set: Dataset | None) -> Batch:
    """The first `train.samples_per_class` items (A and B) of the validation set, else the training set."""
    source = val_set if val_set is not None else train_set
    n = min(cfg.train.samples_per_class, len(source))
    items = [source[(i, i)] for i in range(n)]
    return {k: torch.stack([item[k] for item in items]).to(device) for k in ("A", "B")}


def build_unpaired_data(cfg: Config, recipe: str) -> tuple[Dataset, Dataset | None, dict[str, Any]]:
    """(training set, validation set or None, metadata) of an unpaired recipe's data config: two
    folders, or one in the CycleGAN layout; validation from `data.val` or held out per domain."""
    d = cfg.data
    if not d.root:
        raise GantoolError(f"{recipe} needs unpaired data: pass --a DIR --b DIR, or --data DIR with trainA/ and trainB/")
    folder_a, folder_b = (d.root, d.root_b) if d.root_b else domain_folders(d.root)
    files_a, files_b = domain_images(folder_a, "A", d.strict), domain_images(folder_b, "B", d.strict)
    val_a = val_b = None
    if d.val:
        val_folder_a, val_folder_b = domain_folders(d.val, split="test")
        val_a, val_b = domain_images(val_folder_a, "A", d.strict), domain_images(val_folder_b, "B", d.strict)
    elif d.val_fraction > 0:
        files_a, val_a = holdout_split(files_a, d.val_fraction, cfg.train.seed)
        files_b, val_b = holdout_split(files_b, d.val_fraction, cfg.train.seed)
    ch_a, ch_b = domain_channels(cfg)
    common = dict(size=d.image_size, channels_a=ch_a, channels_b=ch_b, preprocess=d.preprocess, load_size=d.load_size)
    train_set = UnpairedImages(files_a, files_b, flip=d.hflip, train=True, **common)
    val_set = UnpairedImages(val_a, val_b, flip=False, train=False, **common) if val_a else None
    meta = {"train_images_a": len(files_a), "train_images_b": len(files_b),
            "folder_a": str(folder_a), "folder_b": str(folder_b)}
    return train_set, val_set, meta


@RECIPES.register("cyclegan")
class CycleGANRecipe(Recipe):
    name = "cyclegan"
    translation_generators = {"a2b": "G", "b2a": "F"}
    selection_metric = "val_cycle_l1"
    architecture_keys = ("model.generator", "model.discriminator", "model.ngf", "model.ndf", "model.n_layers_d",
                         "model.norm", "model.dropout", "model.upsampling", "model.spectral_norm", "data.channels",
                         "data.channels_b")

    def __init__(self, cfg: Config, meta: dict[str, Any]) -> None:
        super().__init__(cfg, meta)
        m = cfg.model
        ch_a, ch_b = domain_channels(cfg)
        if m.lambda_identity > 0 and ch_a != ch_b:
            raise GantoolError(
                f"the identity loss needs both domains to have the same channels (A has {ch_a}, B has {ch_b}); "
                "turn it off with --lambda-identity 0"
            )
        g_cls = GENERATORS.get(m.generator)
        g_kwargs: dict[str, Any] = {"ngf": m.ngf, "norm": m.norm, "dropout": m.dropout}
        if m.generator.startswith("resnet"):
            g_kwargs["upsampling"] = m.upsampling
        self.generators["G"] = g_cls(in_channels=ch_a, out_channels=ch_b, **g_kwargs)  # A -> B
        self.generators["F"] = g_cls(in_channels=ch_b, out_channels=ch_a, **g_kwargs)  # B -> A
        d_cls = DISCRIMINATORS.get(m.discriminator)
        d_kwargs = {"n_layers": m.n_layers_d} if m.discriminator == "patchgan" else {}
        for domain, channels in (("A", ch_a), ("B", ch_b)):
            self.discriminators[f"D_{domain}"] = d_cls(in_channels=channels, ndf=m.ndf, norm=m.norm,
                                                       spectral_norm=m.spectral_norm, **d_kwargs)
        self.adversarial_a = AdversarialLoss(cfg.loss, ch_a, cfg.train.steps)
        self.adversarial_b = AdversarialLoss(cfg.loss, ch_b, cfg.train.steps)
        self.pool_a, self.pool_b = ImagePool(m.pool_size), ImagePool(m.pool_size)
        multiple = self.generators["G"].size_multiple
        if cfg.data.image_size % multiple:
            raise GantoolError(
                f"data.image_size {cfg.data.image_size} does not suit {m.generator}: training crops must be a "
                f"multiple of {multiple} (e.g. {max(multiple, cfg.data.image_size // multiple * multiple)})"
            )

    def extra_state(self) -> dict[str, Tensor]:
        # the pools are part of the training state: a resumed run shows D the same history
        return {"pool_a": self.pool_a.state(), "pool_b": self.pool_b.state()}

    def load_extra_state(self, state: dict[str, Tensor]) -> None:
        device = next(self.parameters()).device
        for key, pool in (("pool_a", self.pool_a), ("pool_b", self.pool_b)):
            if key in state:
                pool.load_state(state[key].to(device))

    @classmethod
    def build_data(cls, cfg: Config) -> tuple[Dataset, Dataset | None, dict[str, Any]]:
        return build_unpaired_data(cfg, "cyclegan")

    def generate(self, batch: Batch) -> Batch:
        """Only the translations, which both phases need; the G-only outputs (reconstructions,
        identities) are computed in `generator_loss`, so extra D steps never pay for them."""
        real_a, real_b = batch["A"], batch["B"]
        return {"real_a": real_a, "real_b": real_b,
                "fake_b": self.generators["G"](real_a), "fake_a": self.generators["F"](real_b)}

    def discriminator_loss(self, batch: Batch, fakes: Batch, step: int, d_step: int) -> tuple[Tensor, Stats]:
        fake_b = self.pool_b.query(fakes["fake_b"].detach())
        fake_a = self.pool_a.query(fakes["fake_a"].detach())
        loss_b, stats_b = self.adversarial_b.discriminator_loss(self.discriminators["D_B"], fakes["real_b"], fake_b,
                                                                step, d_step)
        loss_a, stats_a = self.adversarial_a.discriminator_loss(self.discriminators["D_A"], fakes["real_a"], fake_a,
                                                                step, d_step)
        stats = {f"{key}_a": value for key, value in stats_a.items()}
        stats.update({f"{key}_b": value for key, value in stats_b.items()})
        stats["d_real"] = (stats_a["d_real"] + stats_b["d_real"]) / 2  # for the progress bar
        stats["d_fake"] = (stats_a["d_fake"] + stats_b["d_fake"]) / 2
        if "d_accuracy" in stats_a:
            stats["d_accuracy"] = (stats_a["d_accuracy"] + stats_b["d_accuracy"]) / 2
        return self.cfg.model.d_loss_weight * (loss_a + loss_b), stats

    def generator_losses(self, batch: Batch, fakes: Batch, step: int) -> Iterator[tuple[Tensor, Stats]]:
        """The generators' loss in three parts that the trainer back-propagates one after another:
        the identity terms, then all that depends on G(a) (adversarial for D_B, cycle A), then all
        that depends on F(b). Each part's activations are freed before the next part runs, so at
        most four generator passes hold activations at once instead of six; the gradients add up to
        those of the whole loss."""
        m = self.cfg.model
        G, F = self.generators["G"], self.generators["F"]
        if m.lambda_identity > 0:  # G should leave B as it is, F should leave A
            identity = cycle_losses({**fakes, "idt_b": G(fakes["real_b"]), "idt_a": F(fakes["real_a"])},
                                    m.lambda_a, m.lambda_b, m.lambda_identity)
            yield sum(identity.values()), _detached(identity)
        for name, fake, discriminator, adversarial, reconstruction, back in (
                ("b", "fake_b", "D_B", self.adversarial_b, "rec_a", F),
                ("a", "fake_a", "D_A", self.adversarial_a, "rec_b", G)):
            adv, _ = adversarial.generator_loss(self.discriminators[discriminator], fakes[fake], step)
            cycle = cycle_losses({**fakes, reconstruction: back(fakes[fake])}, m.lambda_a, m.lambda_b, 0.0)
            yield adv + sum(cycle.values()), {f"loss_g_adv_{name}": adv.detach(), **_detached(cycle)}

    def fixed_sample_inputs(self, device: Any, train_set: Dataset, val_set: Dataset | None) -> Batch:
        return unpaired_sample_inputs(self.cfg, device, train_set, val_set)

    def sample_grid(self, generators: nn.ModuleDict, inputs: Batch) -> tuple[Tensor, int]:
        G, F = generators["G"], generators["F"]
        real_a, real_b = inputs["A"], inputs["B"]
        fake_b, fake_a = G(real_a), F(real_b)
        columns = [real_a, fake_b, F(fake_b), real_b, fake_a, G(fake_a)]  # A | G(A) | F(G(A)) | B | F(B) | G(F(B))
        rows = torch.stack([as_rgb(c.float()) for c in columns], dim=1)
        return rows.flatten(0, 1), len(columns)

    def diversity_groups(self, grid: Tensor, inputs: Batch) -> list[tuple[Tensor, Tensor]]:
        return [(grid[1::6], grid[3::6]), (grid[4::6], grid[0::6])]  # G(A) against B, F(B) against A

    def validate(self, generators: nn.ModuleDict, dataset: Dataset, device: Any) -> dict[str, float]:
        """Mean cycle-reconstruction L1 in each direction on the validation images, and their mean."""
        totals = {"val_cycle_l1_a": 0.0, "val_cycle_l1_b": 0.0}
        G, F = generators["G"], generators["F"]
        chunk = 4
        for start in range(0, len(dataset), chunk):
            items = [dataset[(i, 0)] for i in range(start, min(start + chunk, len(dataset)))]
            real_a = torch.stack([it["A"] for it in items]).to(device)
            real_b = torch.stack([it["B"] for it in items]).to(device)
            totals["val_cycle_l1_a"] += image_scores(F(G(real_a)).float(), real_a)["l1"].sum().item()
            totals["val_cycle_l1_b"] += image_scores(G(F(real_b)).float(), real_b)["l1"].sum().item()
        values = {key: value / len(dataset) for key, value in totals.items()}
        values["val_cycle_l1"] = (values["val_cycle_l1_a"] + values["val_cycle_l1_b"]) / 2
        return values


def cycle_losses(fakes: Batch, lambda_a: float, lambda_b: float, lambda_identity: float) -> dict[str, Tensor]:
    """The weighted cycle-consistency and identity L1 terms of the generators' loss, for the
    outputs present in `fakes` (rec_a, rec_b, idt_b, idt_a):

    loss_cycle_a = lambda_a * |F(G(a)) - a|, loss_cycle_b = lambda_b * |G(F(b)) - b|,
    loss_idt_b = lambda_b * lambda_identity * |G(b) - b|, loss_idt_a = lambda_a * lambda_identity * |F(a) - a|.
    """
    real_a, real_b = fakes["real_a"].float(), fakes["real_b"].float()
    terms = {"loss_cycle_a": ("rec_a", real_a, lambda_a), "loss_cycle_b": ("rec_b", real_b, lambda_b)}
    if lambda_identity > 0:
        terms.update(loss_idt_b=("idt_b", real_b, lambda_b * lambda_identity),
                     loss_idt_a=("idt_a", real_a, lambda_a * lambda_identity))
    return {name: weight * l1_loss(fakes[key].float(), real)
            for name, (key, real, weight) in terms.items() if key in fakes}


def _detached(losses: dict[str, Tensor]) -> Stats:
    return {key: value.detach() for key, value in losses.items()}
