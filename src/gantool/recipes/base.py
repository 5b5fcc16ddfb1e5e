"""What a recipe is: the networks of one method and the losses of its two phases.

A recipe never runs a loop. The trainer asks it to `generate` fakes from a batch, then for the
discriminator loss (phase "d") and the generator loss (phase "g"), and optimises
`generators` and `discriminators` with one optimizer each. A method that trains a third kind of
network (CUT's projection heads: trained, but neither part of G nor of D, and never exported)
puts it in `auxiliaries`: each gets an optimizer of its own, stepped after the backward of the
phase that `auxiliary_optim` names; the trainer checkpoints and resumes them and wraps them for
DDP like G and D, and neither the EMA nor exports see them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Literal

from torch import Tensor, nn
from torch.utils.data import Dataset

from gantool.adversarial import AdversarialLoss
from gantool.config import Config

Batch = dict[str, Tensor]
Stats = dict[str, Tensor]


@dataclass(frozen=True)
class AuxiliaryOptim:
    """How the trainer optimises one auxiliary module."""

    phase: Literal["g", "d"] = "g"  # the loss whose backward trains it; it steps with that phase
    lr: float | None = None  # its base learning rate (scheduled like the phase's); None: the phase's


class Recipe(nn.Module):
    name: ClassVar[str]
    # image-to-image recipes: translation direction ("a2b", "b2a") -> key of its generator
    translation_generators: ClassVar[dict[str, str]] = {}
    # the validation value (a key of `validate`'s result, lower is better) that picks best.pt
    selection_metric: ClassVar[str | None] = None
    # config keys that shape the networks: a run started --init-from a checkpoint takes them from it
    architecture_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: Config, meta: dict[str, Any]) -> None:
        super().__init__()
        self.cfg, self.meta = cfg, meta
        self.adversarial = AdversarialLoss(cfg.loss, cfg.data.channels, cfg.train.steps)
        self.generators = nn.ModuleDict()  # trained by the G optimizer; averaged by EMA
        self.discriminators = nn.ModuleDict()  # trained by the D optimizer
        self.auxiliaries = nn.ModuleDict()  # trained by optimizers of their own; never averaged or exported

    def auxiliary_optim(self, name: str) -> AuxiliaryOptim:
        """The phase and learning rate of auxiliary module `name` (by default: G's)."""
        return AuxiliaryOptim()

    @classmethod
    def build_data(cls, cfg: Config) -> tuple[Dataset, Dataset | None, dict[str, Any]]:
        """(training set, validation set or None, metadata that checkpoints keep: class names, ...)."""
        raise NotImplementedError

    def validates(self, dataset: Dataset | None) -> bool:
        """Whether `validate` has something to measure (by default: when there is validation data)."""
        return dataset is not None

    def validate(self, generators: nn.ModuleDict, dataset: Dataset | None, device: Any) -> dict[str, float]:
        """Validation metrics (prefixed val_) of `generators` on `dataset`; none by default."""
        return {}

    def diversity_groups(self, grid: Tensor, inputs: Batch) -> list[tuple[Tensor, Tensor]]:
        """(generated, real) image groups, taken from the images of `sample_grid` (so no extra
        generator pass) and the fixed inputs, whose spread the mode-collapse check compares:
        generated images that should differ as much as the real ones beside them."""
        return []

    def extra_state(self) -> dict[str, Tensor]:
        """State outside the networks that checkpoints must keep for an exact resume (e.g. image pools)."""
        return {}

    def load_extra_state(self, state: dict[str, Tensor]) -> None:
        """Restore what `extra_state` returned."""

    def generate(self, batch: Batch) -> Batch:
        """The generator outputs for this batch (with autograd graph when grad is enabled)."""
        raise NotImplementedError

    def discriminator_loss(self, batch: Batch, fakes: Batch, step: int, d_step: int) -> tuple[Tensor, Stats]:
        raise NotImplementedError

    def generator_loss(self, batch: Batch, fakes: Batch, step: int) -> tuple[Tensor, Stats]:
        raise NotImplementedError

    def generator_losses(self, batch: Batch, fakes: Batch, step: int) -> Iterator[tuple[Tensor, Stats]]:
        """The generator loss as parts that the trainer back-propagates one at a time, in order, so
        that one part's activations are freed before the next part is computed; their gradients
        add up to those of the sum. Parts must not share graph beyond what `generate` built, and
        each piece of that is used by one part only. By default the whole `generator_loss`."""
        yield self.generator_loss(batch, fakes, step)

    def fixed_sample_inputs(self, device: Any, train_set: Dataset, val_set: Dataset | None) -> Batch:
        """Inputs for the sample grids, drawn once and reused so progress is visible over time."""
        raise NotImplementedError

    def sample_grid(self, generators: nn.ModuleDict, inputs: Batch) -> tuple[Tensor, int]:
        """(images in [-1, 1], images per row) of the grid for `inputs` produced by `generators`."""
        raise NotImplementedError
