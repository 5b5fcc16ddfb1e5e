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
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from gantool.distributed import check_global_batch
from gantool.errors import GantoolError


def epoch_plan(n: int, batch_size: int, seed: int, epoch: int) -> tuple[Tensor, Tensor]:
    """(order of the sample indices, one augmentation seed per sample) of one epoch."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator), torch.randint(0, 2**31 - 1, (n,), generator=generator)


def epoch_keys(n: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1) -> tuple[Tensor, Tensor]:
    """(this process's share of epoch `epoch`'s sample order, every sample's seed). The share comes
    from torch's DistributedSampler, whose permutation for (seed * 1_000_003, epoch) is exactly
    `epoch_plan`'s, so with one process it is the whole order, and the global batch b of N processes
    (batch b of each process's share, together) holds the same samples as batch b of one process."""
    sampler = DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=True,
                                 seed=seed * 1_000_003, drop_last=True)
    sampler.set_epoch(epoch)
    _, seeds = epoch_plan(n, 1, seed, epoch)
    return torch.tensor(list(sampler), dtype=torch.long), seeds


class _PlanSampler(Sampler):
    """Yields lists of (index, sample seed) keys of this process's batches from `start` onwards, forever."""

    def __init__(self, n: int, batch_size: int, seed: int, start: int, rank: int, world_size: int) -> None:
        self.n, self.seed, self.start, self.rank, self.world_size = n, seed, start, rank, world_size
        self.per_epoch = max(1, n // batch_size)
        self.local_batch = batch_size // world_size

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        position = self.start
        while True:
            epoch, offset = divmod(position, self.per_epoch)
            order, seeds = epoch_keys(self.n, self.seed, epoch, self.rank, self.world_size)
            for b in range(offset, self.per_epoch):
                chosen = order[b * self.local_batch:(b + 1) * self.local_batch]
                yield [(int(i), int(seeds[i])) for i in chosen]
            position = (epoch + 1) * self.per_epoch


class _WithSeed(Dataset):
    """Adds each sample's seed to its item, for recipes that draw per-sample noise from it."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Tensor]:
        return {**self.dataset[key], "seed": torch.tensor(key[1])}


class BatchStream:
    """Global batches of `batch_size` samples, of which this process (`rank` of `world_size`)
    yields its share of batch_size / world_size; `position` counts global batches."""

    def __init__(self, dataset: Dataset, batch_size: int, seed: int, num_workers: int = 0,
                 pin_memory: bool = False, position: int = 0, rank: int = 0, world_size: int = 1) -> None:
        n = len(dataset)
        if n == 0:
            raise GantoolError("the dataset is empty")
        check_global_batch(batch_size, world_size)
        if n < world_size:
            raise GantoolError(f"the dataset has {n} samples, fewer than the {world_size} processes")
        self.dataset, self.seed, self.position = dataset, seed, position
        self.rank, self.world_size = rank, world_size
        self.batch_size = min(batch_size, n // world_size * world_size)
        self.local_batch = self.batch_size // world_size
        self.per_epoch = max(1, n // self.batch_size)
        self._direct = hasattr(dataset, "get_batch") and num_workers == 0
        if self._direct:
            self._plan: tuple[int, Tensor, Tensor] | None = None
        else:
            sampler = _PlanSampler(n, self.batch_size, seed, position, rank, world_size)
            # a generator of its own: the loader draws its worker seed from it, not from the global
            # RNG, which a resumed run has restored and must leave as the interrupted run had it
            own_rng = torch.Generator().manual_seed(seed * 1_000_003 + position)
            self._iter = iter(DataLoader(_WithSeed(dataset), batch_sampler=sampler, num_workers=num_workers,
                                         pin_memory=pin_memory, persistent_workers=num_workers > 0,
                                         generator=own_rng))

    def __iter__(self) -> "BatchStream":
        return self

    def __next__(self) -> dict[str, Tensor]:
        if self._direct:
            epoch, offset = divmod(self.position, self.per_epoch)
            if self._plan is None or self._plan[0] != epoch:
                self._plan = (epoch, *epoch_keys(len(self.dataset), self.seed, epoch, self.rank, self.world_size))
            _, order, seeds = self._plan
            chosen = order[offset * self.local_batch:(offset + 1) * self.local_batch]
            batch = {**self.dataset.get_batch(chosen, seeds[chosen]), "seed": seeds[chosen]}
        else:
            batch = next(self._iter)
        self.position += 1
        return batch

    @property
    def epoch(self) -> int:
        return self.position // self.per_epoch
