"""CUT and FastCUT (Park, Efros, Zhang, Zhu 2020): one-way unpaired translation with one
generator, one PatchGAN and a patchwise contrastive loss (PatchNCE, gantool/patchnce.py).

G maps A to B; D tells real B from G(a). Instead of CycleGAN's second generator and cycle loss,
the content of the input is kept by PatchNCE: G's own encoder embeds a and G(a), layer by layer
(`nce_layers`, the reference's 0,4,8,12,16: the padded input, the two downsampling convolutions
and residual blocks 1 and 5), 256 patch locations per layer are sampled (the same for a and G(a)),
projected by 2-layer MLP heads of 256 units (the recipe's auxiliary module "heads": trained with
G's loss by an optimizer of its own, checkpointed, never exported) and compared with InfoNCE at
temperature 0.07, the negatives being the other sampled patches of the same image.

Modes, as the reference's --CUT_mode sets them: `cut` weighs PatchNCE 1 and adds the identity
term PatchNCE(b, G(b)) (the two averaged); `fastcut` weighs PatchNCE 10, has no identity term,
and adds flip-equivariance (with probability 1/2 the input is flipped left-right and G's
features of the output are flipped back before the comparison), trained 150 + 50 epochs
instead of 200 + 200 (`gantool train cut --mode fastcut`). Everything else follows the
reference defaults: resnet_9blocks G and 70x70 PatchGAN D with anti-aliased (blur-pooled)
down- and upsampling, instance norm, Xavier-normal init with gain 0.02, LSGAN with D's loss
halved, Adam 2e-4 with betas (0.5, 0.999) for G, D and the heads alike, batch size 1, 286 -> 256
random crops with flips, no image pool.

Where gantool differs, and why:
- the heads are built with the recipe from the generator's feature channels rather than at the
  first forward pass, so the optimizer, checkpoints and DDP see them from step 0;
- patch locations (and FastCUT's flips) are drawn per image from the image's sample seed rather
  than once per batch from the global generator: identical at the default batch size 1, and it
  lets N processes of a distributed run compute what one process computes, and a resumed run
  what the uninterrupted one did;
- the input's features (the keys) are taken from the pass that translates the input (G's
  weights are the same as in the reference's second pass, so the keys are too), detached as the
  reference detaches them; with flip-equivariance, whose translation pass sees the flipped
  input, they come from a second pass without autograd;
- G(b) of the identity term is computed in the generator phase instead of batched with G(a), so
  extra discriminator steps never pay for it (instance norm makes the two the same);
- the validation metric for best.pt is the sliced Wasserstein distance of the translations of
  the validation A images to the validation B images (metrics/swd.py); the reference has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Literal, Optional

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from gantool.config import Config, register_model_config
from gantool.errors import GantoolError
from gantool.networks import DISCRIMINATORS, GENERATORS
from gantool.networks.layers import init_weights
from gantool.patchnce import PatchProjection, patch_nce_loss, sample_patch_ids
from gantool.recipes.base import Batch, Recipe, Stats
from gantool.recipes.cyclegan import CYCLEGAN_DEFAULTS, build_unpaired_data, domain_channels, unpaired_sample_inputs
from gantool.recipes.pix2pix import as_rgb
from gantool.recipes.registry import RECIPES

# CycleGAN's data, objective and schedule, with CUT's 200 + 200 epochs
CUT_DEFAULTS = {**CYCLEGAN_DEFAULTS, "train": {**CYCLEGAN_DEFAULTS["train"], "epochs": 200, "decay_epochs": 200}}
FLIP_SALT = 7_777_777  # keeps the flip coins apart from the patch locations drawn from the same seeds
# what each mode sets where the config leaves a value open (None), and its training length
MODES: dict[str, dict[str, Any]] = {
    "cut": {"lambda_nce": 1.0, "nce_identity": True, "flip_equivariance": False, "epochs": 200, "decay_epochs": 200},
    "fastcut": {"lambda_nce": 10.0, "nce_identity": False, "flip_equivariance": True, "epochs": 150,
                "decay_epochs": 50},
}


@register_model_config("cut", defaults=CUT_DEFAULTS)
@dataclass(frozen=True)
class CUTModelConfig:
    mode: Literal["cut", "fastcut"] = "cut"
    generator: Literal["resnet_9blocks", "resnet_6blocks"] = "resnet_9blocks"
    ngf: int = 64
    ndf: int = 64
    n_layers_d: int = 3  # PatchGAN depth: 3 judges 70x70 patches
    norm: Literal["instance", "batch", "syncbatch", "none"] = "instance"
    antialias: bool = True  # blur-pooled down/upsampling in G and D (the reference's default); false: strided
    init: Literal["xavier", "normal"] = "xavier"  # of G, D and the heads; the reference's --init_type
    init_gain: float = 0.02
    lambda_gan: float = 1.0
    lambda_nce: Optional[float] = None  # None: the mode's (cut 1, fastcut 10)
    nce_identity: Optional[bool] = None  # PatchNCE(b, G(b)) too; None: the mode's (cut yes, fastcut no)
    flip_equivariance: Optional[bool] = None  # None: the mode's (cut no, fastcut yes)
    nce_layers: str = "0,4,8,12,16"  # entries of the generator's body whose outputs PatchNCE compares
    nce_patches: int = 256  # patch locations per layer and image
    nce_temperature: float = 0.07
    head_width: int = 256  # units of the MLP heads (the reference's --netF_nc)
    d_loss_weight: float = 0.5  # the reference halves D's loss

    def __post_init__(self) -> None:
        for key in ("lambda_gan", "d_loss_weight", "init_gain"):
            if getattr(self, key) < 0:
                raise GantoolError(f"config value model.{key}: must be >= 0")
        if self.lambda_nce is not None and self.lambda_nce < 0:
            raise GantoolError("config value model.lambda_nce: must be >= 0")
        if self.nce_patches < 1 or self.head_width < 1 or self.nce_temperature <= 0:
            raise GantoolError("config values model.nce_patches and model.head_width must be >= 1, "
                               "model.nce_temperature > 0")
        self.layers()

    def layers(self) -> list[int]:
        try:
            layers = sorted({int(part) for part in self.nce_layers.split(",") if part.strip()})
        except ValueError:
            layers = []
        if not layers:
            raise GantoolError(f"config value model.nce_layers={self.nce_layers!r}: give layer numbers, "
                               "e.g. 0,4,8,12,16")
        return layers

    def setting(self, key: str) -> Any:
        """The value in force: this config's, or the mode's where the config leaves it open."""
        value = getattr(self, key)
        return MODES[self.mode][key] if value is None else value


@RECIPES.register("cut")
class CUTRecipe(Recipe):
    name = "cut"
    translation_generators = {"a2b": "G"}
    selection_metric = "val_swd"
    architecture_keys = ("model.generator", "model.ngf", "model.ndf", "model.n_layers_d", "model.norm",
                         "model.antialias", "model.nce_layers", "model.head_width", "data.channels", "data.channels_b")

    def __init__(self, cfg: Config, meta: dict[str, Any]) -> None:
        super().__init__(cfg, meta)
        m = cfg.model
        ch_a, ch_b = domain_channels(cfg)
        if ch_a != ch_b:  # G's encoder embeds its own outputs (and B images for the identity term)
            raise GantoolError(f"CUT passes its outputs through its own encoder, so both domains need the same "
                               f"channels (A has {ch_a}, B has {ch_b}); set --channels-a and --channels-b alike")
        sampling = "antialias" if m.antialias else None
        G = GENERATORS.get(m.generator)(in_channels=ch_a, out_channels=ch_b, ngf=m.ngf, norm=m.norm,
                                        upsampling=sampling or "transposed", downsampling=sampling or "strided")
        D = DISCRIMINATORS.get("patchgan")(in_channels=ch_b, ndf=m.ndf, n_layers=m.n_layers_d, norm=m.norm,
                                           antialias=m.antialias)
        for net in (G, D):
            init_weights(net, m.init_gain, kind=m.init)
        self.generators["G"], self.discriminators["D"] = G, D
        self.layers = G.check_layers(m.layers())
        self.auxiliaries["heads"] = PatchProjection(G.feature_channels(self.layers), m.head_width, m.init, m.init_gain)
        self.lambda_nce, self.identity, self.flip = (m.setting(k) for k in ("lambda_nce", "nce_identity",
                                                                              "flip_equivariance"))
        if cfg.data.image_size % G.size_multiple:
            raise GantoolError(f"data.image_size {cfg.data.image_size} does not suit {m.generator}: training crops must "
                               f"be a multiple of {G.size_multiple}")

    @classmethod
    def build_data(cls, cfg: Config) -> tuple[Dataset, Dataset | None, dict[str, Any]]:
        return build_unpaired_data(cfg, "cut")

    def _flips(self, batch: Batch) -> Tensor | None:
        """FastCUT's flip-equivariance: which images of the batch are flipped (a fair coin per
        image, from its seed), or None when off."""
        if not self.flip:
            return None
        seeds, device = batch.get("seed"), batch["A"].device
        if seeds is None:
            return torch.rand(len(batch["A"]), device=device) < 0.5
        generator = torch.Generator()
        return torch.tensor([bool(torch.rand((), generator=generator.manual_seed(int(s) * 1_000_003 + FLIP_SALT)) < 0.5)
                             for s in seeds.tolist()], device=device)

    @staticmethod
    def _flipped(images: Tensor, flips: Tensor | None) -> Tensor:
        return images if flips is None else torch.where(flips[:, None, None, None], images.flip(3), images)

    def _translate(self, images: Tensor, flips: Tensor | None) -> tuple[Tensor, list[Tensor] | None]:
        """G(images, flipped per `flips`), and when nothing was flipped, G's encoder features of
        `images` from the same pass, detached: PatchNCE's keys, which the reference computes again
        in a second pass of the same G (its weights have not changed in between)."""
        G = self.generators["G"]
        if flips is not None or self.lambda_nce == 0:
            return G(self._flipped(images, flips)), None
        output, features = G(images, layers=self.layers, with_output=True)
        return output, [f.detach() for f in features]

    def generate(self, batch: Batch) -> Batch:
        flips = self._flips(batch)
        fake_b, keys = self._translate(batch["A"], flips)
        fakes = {"real_a": batch["A"], "real_b": batch["B"], "fake_b": fake_b}
        if keys is not None:
            fakes.update({f"keys_a_{i}": k for i, k in enumerate(keys)})
        if flips is not None:
            fakes["flips"] = flips
        if batch.get("seed") is not None:
            fakes["seed"] = batch["seed"]
        return fakes

    def discriminator_loss(self, batch: Batch, fakes: Batch, step: int, d_step: int) -> tuple[Tensor, Stats]:
        loss, stats = self.adversarial.discriminator_loss(self.discriminators["D"], fakes["real_b"],
                                                          fakes["fake_b"].detach(), step, d_step)
        return self.cfg.model.d_loss_weight * loss, stats

    def nce_loss(self, source: Tensor, output: Tensor, flips: Tensor | None, seeds: Tensor | None,
                 salt: int, keys: list[Tensor] | None = None) -> Tensor:
        """PatchNCE between `source` and G's `output` for it (made from `source` flipped per `flips`),
        averaged over the layers and weighted by lambda_nce; `keys`: G's features of `source`, when
        known."""
        m, G, heads = self.cfg.model, self.generators["G"], self.auxiliaries["heads"]
        queries = [self._flipped(f, flips) for f in G(output, layers=self.layers)]  # back in the source's frame
        with torch.no_grad():  # keys get no gradient (the reference detaches them in the loss)
            if keys is None:
                keys = G(source, layers=self.layers)
            ids = [sample_patch_ids(k.shape[2] * k.shape[3], m.nce_patches, seeds, salt * 100 + i, k.device)
                   for i, k in enumerate(keys)]
            projected_keys = heads(keys, ids)
        losses = [patch_nce_loss(q, k, m.nce_temperature).mean()
                  for q, k in zip(heads(queries, ids), projected_keys)]
        return self.lambda_nce * torch.stack(losses).mean()

    def generator_losses(self, batch: Batch, fakes: Batch, step: int) -> Iterator[tuple[Tensor, Stats]]:
        """Two parts, back-propagated one after the other: the adversarial and PatchNCE(a, G(a))
        terms, then the identity term PatchNCE(b, G(b)), whose G pass only it needs."""
        m = self.cfg.model
        flips, seeds = fakes.get("flips"), fakes.get("seed")
        adv, _ = self.adversarial.generator_loss(self.discriminators["D"], fakes["fake_b"], step)
        keys_a = [fakes[f"keys_a_{i}"] for i in range(len(self.layers))] if "keys_a_0" in fakes else None
        nce = (self.nce_loss(fakes["real_a"], fakes["fake_b"], flips, seeds, salt=1, keys=keys_a)
               if self.lambda_nce > 0 else torch.zeros((), device=adv.device))
        weight = 0.5 if self.identity else 1.0  # the reference averages the two PatchNCE terms
        yield m.lambda_gan * adv + weight * nce, {"loss_g_adv": adv.detach(), "loss_nce": nce.detach()}
        if self.identity and self.lambda_nce > 0:
            idt_b, keys_b = self._translate(fakes["real_b"], flips)
            nce_idt = self.nce_loss(fakes["real_b"], idt_b, flips, seeds, salt=2, keys=keys_b)
            yield weight * nce_idt, {"loss_nce_identity": nce_idt.detach()}

    def fixed_sample_inputs(self, device: Any, train_set: Dataset, val_set: Dataset | None) -> Batch:
        return unpaired_sample_inputs(self.cfg, device, train_set, val_set)

    def sample_grid(self, generators: nn.ModuleDict, inputs: Batch) -> tuple[Tensor, int]:
        G = generators["G"]
        columns = [inputs["A"], G(inputs["A"]), inputs["B"], G(inputs["B"])]  # A | G(A) | B | G(B)
        rows = torch.stack([as_rgb(c.float()) for c in columns], dim=1)
        return rows.flatten(0, 1), len(columns)

    def diversity_groups(self, grid: Tensor, inputs: Batch) -> list[tuple[Tensor, Tensor]]:
        return [(grid[1::4], grid[2::4])]  # G(A) against B

    def validate(self, generators: nn.ModuleDict, dataset: Dataset, device: Any) -> dict[str, float]:
        """Sliced Wasserstein distance (x 1e3) of the translated validation A images to the
        validation B images: lower is closer to the target domain."""
        from gantool.metrics.swd import swd

        G, chunk = generators["G"], 4
        files_a, files_b = len(dataset.files_a), len(dataset.files_b)
        fakes = []
        for start in range(0, files_a, chunk):
            real_a = torch.stack([dataset[(i, 0)]["A"] for i in range(start, min(start + chunk, files_a))])
            fakes.append(G(real_a.to(device)).float().cpu())
        reals = torch.stack([dataset[(i, 0)]["B"] for i in range(files_b)])
        values = swd(torch.cat(fakes), reals, seed=self.cfg.train.seed)
        return {"val_swd": values["swd"]}
