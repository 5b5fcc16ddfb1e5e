"""Training under torchrun: PyTorch's own process group and DistributedDataParallel, nothing invented.

`torchrun --nproc_per_node N -m gantool_cli train ...` starts N copies of the same command with
RANK, WORLD_SIZE and LOCAL_RANK set. Each copy joins one process group (NCCL on GPUs, gloo on the
CPU), takes its share of every global batch, and wraps each network that trains in DDP, which
averages gradients over the processes during backward. Only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterator, Sequence

import torch
from torch import Tensor, nn

from gantool.errors import GantoolError


@dataclass(frozen=True)
class Distributed:
    """This process's place in the run: rank among world_size processes, local_rank on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    # started by a launcher (torchrun sets MASTER_ADDR): even one process joins a process group,
    # so `--nproc 1` on one GPU exercises NCCL and DDP as a multi-GPU run would
    launched: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1 or self.launched

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE_PROCESS = Distributed()


def from_environment() -> Distributed:
    """The process's place as torchrun (or any launcher setting RANK/WORLD_SIZE) describes it."""
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise GantoolError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets them)") from None
    if not 0 <= rank < max(world_size, 1):
        raise GantoolError(f"RANK={rank} is outside WORLD_SIZE={world_size}")
    launched = "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ
    return Distributed(rank, world_size, local_rank, launched)


def check_global_batch(batch_size: int, world_size: int) -> None:
    """The global batch must split evenly over the processes."""
    if batch_size % world_size:
        suggestion = batch_size // world_size * world_size or world_size
        raise GantoolError(f"the batch size {batch_size} is the global batch of all {world_size} processes and "
                           f"must be a multiple of their number; use --batch-size {suggestion}")


def device_for(name: str, ctx: Distributed) -> str:
    """One GPU per process: `auto` or `cuda` becomes cuda:LOCAL_RANK when CUDA is present."""
    if not ctx.enabled:
        return name
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return f"cuda:{ctx.local_rank}"
    return name


@contextlib.contextmanager
def process_group(ctx: Distributed, device: torch.device) -> Iterator[None]:
    """Joins the run's process group for the duration (nothing when single-process)."""
    if not ctx.enabled or torch.distributed.is_initialized():
        yield
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.distributed.init_process_group(backend, rank=ctx.rank, world_size=ctx.world_size,
                                         timeout=timedelta(minutes=30))
    try:
        yield
        # leave together: a process that tears down gloo while a peer still works (rank 0 writing
        # the last checkpoint) can abort at exit
        torch.distributed.barrier()
    finally:
        torch.distributed.destroy_process_group()


def wrap(module: nn.Module, device: torch.device) -> nn.Module:
    """`module` in DistributedDataParallel; its parameters and buffers stay the same objects."""
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids)


def no_sync(modules: Sequence[nn.Module]) -> contextlib.AbstractContextManager:
    """Forward passes inside do not arm DDP's gradient averaging (for networks run frozen)."""
    stack = contextlib.ExitStack()
    for module in modules:
        if hasattr(module, "no_sync"):
            stack.enter_context(module.no_sync())
    return stack


def mean_over_processes(values: dict[str, Tensor], ctx: Distributed) -> dict[str, Tensor]:
    """Each scalar averaged over all processes (one collective for all of them)."""
    if not ctx.enabled or not values:
        return values
    keys = sorted(values)
    stacked = torch.stack([values[key].detach().float().reshape(()) for key in keys])
    torch.distributed.all_reduce(stacked)
    stacked /= ctx.world_size
    return dict(zip(keys, stacked.unbind()))


def any_process(flag: bool, ctx: Distributed, device: torch.device) -> bool:
    """True on every process when it is true on any (so all stop at the same step)."""
    if not ctx.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.MAX)
    return bool(value.item() > 0)


def from_main(obj: Any, ctx: Distributed) -> Any:
    """Rank 0's `obj` on every process (e.g. the run folder it chose)."""
    if not ctx.enabled:
        return obj
    holder = [obj]
    torch.distributed.broadcast_object_list(holder, src=0)
    return holder[0]


class _SumOverProcesses(torch.autograd.Function):
    """all_reduce(SUM) whose gradient is again summed over processes: every process's loss
    depends on every process's statistics."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor) -> Tensor:
        total = tensor.clone()
        torch.distributed.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        total = grad.clone()
        torch.distributed.all_reduce(total)
        return total


def sync_batch_stats(stats: Tensor) -> Tensor:
    """Sum of `stats` over processes, differentiable, for synchronised batch norm; the identity
    outside a distributed run."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return stats
    if torch.distributed.get_world_size() == 1:
        return stats
    return _SumOverProcesses.apply(stats)
