"""A tiny recipe with two auxiliary modules, to test the trainer's auxiliary-module mechanism
apart from any real method: `head` is trained with G's loss at its own learning rate, `critic_head`
with D's loss at another; G's loss also runs `critic_head`, which must stay frozen there.

Run as a module (`python -m tests.dummy_recipe OUT STEPS`, possibly under torchrun) it trains
the recipe into OUT."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from gantool.config import Config, register_model_config
from gantool.recipes.base import AuxiliaryOptim, Batch, Recipe, Stats
from gantool.recipes.registry import RECIPES

NAME = "dummy_aux"
DEFAULTS = {"data": {"dataset": "noise", "image_size": 8, "batch_size": 4},
            "train": {"steps": 6, "log_every": 1, "sample_every": 3, "checkpoint_every": 3, "ema_decay": 0.9,
                      "device": "cpu", "samples_per_class": 2}}


@register_model_config(NAME, defaults=DEFAULTS)
@dataclass(frozen=True)
class DummyModelConfig:
    lr_head: float = 1e-3
    lr_critic_head: float = 5e-4


class NoiseImages(Dataset):
    """16 fixed 1x8x8 random images."""

    def __init__(self) -> None:
        self.images = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(5)) * 2 - 1

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Tensor]:
        return {"x": self.images[key[0]]}


@RECIPES.register(NAME)
class DummyAuxRecipe(Recipe):
    name = NAME

    def __init__(self, cfg: Config, meta: dict[str, Any]) -> None:
        super().__init__(cfg, meta)
        self.generators["G"] = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Tanh())
        self.discriminators["D"] = nn.Conv2d(1, 1, 3, padding=1)
        self.auxiliaries["head"] = nn.Conv2d(1, 2, 1)
        self.auxiliaries["critic_head"] = nn.Conv2d(1, 1, 1)

    def auxiliary_optim(self, name: str) -> AuxiliaryOptim:
        m = self.cfg.model
        return AuxiliaryOptim("g", m.lr_head) if name == "head" else AuxiliaryOptim("d", m.lr_critic_head)

    @classmethod
    def build_data(cls, cfg: Config) -> tuple[Dataset, None, dict[str, Any]]:
        return NoiseImages(), None, {}

    def generate(self, batch: Batch) -> Batch:
        self.last_batch = batch  # tests recompute a loss from it
        return {"fake": self.generators["G"](batch["x"])}

    def discriminator_loss(self, batch: Batch, fakes: Batch, step: int, d_step: int) -> tuple[Tensor, Stats]:
        D, real = self.discriminators["D"], batch["x"]
        adv = (D(real) - 1).pow(2).mean() + D(fakes["fake"].detach()).pow(2).mean()
        aux = critic_head_loss(self.auxiliaries["critic_head"], real)
        return adv + aux, {"loss_critic_head": aux.detach()}

    def generator_loss(self, batch: Batch, fakes: Batch, step: int) -> tuple[Tensor, Stats]:
        fake = fakes["fake"]
        adv = (self.discriminators["D"](fake) - 1).pow(2).mean()
        head = (self.auxiliaries["head"](fake)[:, :1] - batch["x"]).pow(2).mean()
        # gradient flows through the D-phase head into G, never into that head
        frozen = self.auxiliaries["critic_head"](fake).pow(2).mean()
        return adv + head + 10 * frozen, {"loss_head": head.detach()}

    def fixed_sample_inputs(self, device: Any, train_set: Dataset, val_set: Dataset | None) -> Batch:
        return {"x": train_set.images[:2].to(device)}

    def sample_grid(self, generators: nn.ModuleDict, inputs: Batch) -> tuple[Tensor, int]:
        return torch.cat([inputs["x"], generators["G"](inputs["x"])]), 2


def critic_head_loss(critic_head: nn.Module, real: Tensor) -> Tensor:
    return (critic_head(real) - real).pow(2).mean()


if __name__ == "__main__":
    from gantool.config import default_config
    from gantool.run import train

    train(default_config(NAME).replace(name="dummy"), out=sys.argv[1], steps=int(sys.argv[2]), quiet=True)
