"""An endless, resumable stream of batches.

The order is a pure function of (seed, position): epoch e is a permutation drawn from a generator
seeded with (seed, e), and each sample gets a seed of its own drawn with it, from which the dataset
makes its random choices (flips, crops). So a
stream rebuilt at position p continues exactly where the interrupted one was, with or without
worker processes.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from gantool.errors import GantoolError


def epoch_plan(n: int, batch_size: int, seed: int, epoch: int) -> tuple[Tensor, Tensor]:
    """(order of the sample indices, one augmentation seed per sample) of one epoch."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator), torch.randint(0, 2**31 - 1, (n,), generator=generator)


class _PlanSampler(Sampler):
    """Yields lists of (index, sample seed) keys from `start` batches onwards, forever."""

    def __init__(self, n: int, batch_size: int, seed: int, start: int) -> None:
        self.n, self.batch_size, self.seed, self.start = n, batch_size, seed, start
        self.per_epoch = max(1, n // batch_size)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        position = self.start
        while True:
            epoch, offset = divmod(position, self.per_epoch)
            order, seeds = epoch_plan(self.n, self.batch_size, self.seed, epoch)
            for b in range(offset, self.per_epoch):
                chosen = order[b * self.batch_size:(b + 1) * self.batch_size]
                yield [(int(i), int(seeds[i])) for i in chosen]
            position = (epoch + 1) * self.per_epoch


class BatchStream:
    def __init__(self, dataset: Dataset, batch_size: int, seed: int, num_workers: int = 0,
                 pin_memory: bool = False, position: int = 0) -> None:
        n = len(dataset)
        if n == 0:
            raise GantoolError("the dataset is empty")
        self.dataset, self.seed, self.position = dataset, seed, position
        self.batch_size = min(batch_size, n)
        self.per_epoch = max(1, n // self.batch_size)
        self._direct = hasattr(dataset, "get_batch") and num_workers == 0
        if self._direct:
            self._plan: tuple[int, Tensor, Tensor] | None = None
        else:
            sampler = _PlanSampler(n, self.batch_size, seed, position)
            # a generator of its own: the loader draws its worker seed from it, not from the global
            # RNG, which a resumed run has restored and must leave as the interrupted run had it
            own_rng = torch.Generator().manual_seed(seed * 1_000_003 + position)
            self._iter = iter(DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers,
                                         pin_memory=pin_memory, persistent_workers=num_workers > 0,
                                         generator=own_rng))

    def __iter__(self) -> "BatchStream":
        return self

    def __next__(self) -> dict[str, Tensor]:
        if self._direct:
            epoch, offset = divmod(self.position, self.per_epoch)
            if self._plan is None or self._plan[0] != epoch:
                self._plan = (epoch, *epoch_plan(len(self.dataset), self.batch_size, self.seed, epoch))
            _, order, seeds = self._plan
            chosen = order[offset * self.batch_size:(offset + 1) * self.batch_size]
            batch = self.dataset.get_batch(chosen, seeds[chosen])
        else:
            batch = next(self._iter)
        self.position += 1
        return batch

    @property
    def epoch(self) -> int:
        return self.position // self.per_epoch
