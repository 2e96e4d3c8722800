"""torchrun / DDP plumbing: one code path for 1 process, N GPUs or N CPU processes (gloo).

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK (and the rendezvous address); without them this is
a single process and every helper here is a no-op, so the training loop never branches on it.

Two kinds of traffic go between ranks:
- tensors that live on the training device (the loss for the log, the carried hidden state when
  saving, DDP's gradient all-reduce): the default group, NCCL on CUDA, gloo on CPU;
- small host-side values (stop flags, the clock, barriers): a gloo group on CPU tensors. On CUDA
  this keeps them off the GPU stream, so checking them every step never makes the host wait for
  the GPU (no per-step host sync).
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from ..errors import CharwiseError

# How long the host-side (gloo) collectives wait. The other ranks wait in one while rank 0
# validates over the whole validation split, which on a large corpus can take far longer than
# gloo's default 30 minutes.
HOST_TIMEOUT = timedelta(hours=4)


@dataclass(frozen=True)
class Dist:
    """This process's place in the job: global `rank` of `world`, `local_rank` on its node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    # gloo group for host-side collectives; None means the default group (already gloo on CPU).
    cpu_group: Any = field(default=None, compare=False, repr=False)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def launched_rank() -> int:
    """This process's rank as torchrun set it (0 when not launched by torchrun); readable before
    any process group exists, e.g. to print a message from one process instead of N."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def setup(device_type: str) -> Dist:
    """Join the process group torchrun describes (NCCL on CUDA, gloo otherwise), if any.

    On CUDA each process is pinned to GPU LOCAL_RANK before the group starts, so NCCL binds
    each rank to its own card.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device_type == "cuda":
        n = torch.cuda.device_count()
        if local_rank >= n:
            raise CharwiseError(
                f"torchrun started more processes on this node than it has GPUs "
                f"({n}); use --nproc_per_node {n} or fewer"
            )
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        if device_type == "cuda":
            dist.init_process_group(backend="nccl")
        else:
            dist.init_process_group(backend="gloo", timeout=HOST_TIMEOUT)
    cpu_group = (
        dist.new_group(backend="gloo", timeout=HOST_TIMEOUT)
        if dist.get_backend() != "gloo"
        else None
    )
    return Dist(dist.get_rank(), dist.get_world_size(), local_rank, cpu_group)


def rank_device(d: Dist, device: torch.device) -> torch.device:
    """The device this rank trains on: under torchrun on CUDA, GPU LOCAL_RANK of its node."""
    if d.enabled and device.type == "cuda":
        device = torch.device("cuda", d.local_rank)
        torch.cuda.set_device(device)
    return device


def wrap(d: Dist, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """`model` as the training step calls it: in DistributedDataParallel (which all-reduces the
    gradients in backward) when the job has several ranks; `model` itself otherwise."""
    if not d.enabled:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def teardown(d: Dist) -> None:
    """Leave the job together: every rank reaches the barrier before any closes its connections,
    and the groups are destroyed while Python is fully alive (the caller drops its DDP wrapper
    first). Letting gloo's groups die during interpreter shutdown can abort the process."""
    if d.enabled and dist.is_initialized():
        barrier(d)
        gc.collect()  # free objects (DDP reducers, finished work) that still hold the groups
        dist.destroy_process_group()


def any_flag(d: Dist, flag: bool) -> bool:
    """True on every rank if it is True on any rank (so all ranks stop at the same step)."""
    if not d.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=d.cpu_group)
    return bool(t.item())


def broadcast_float(d: Dist, value: float) -> float:
    """Rank 0's value on every rank (wall-clock time, so the LR schedule agrees everywhere)."""
    if not d.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.broadcast(t, src=0, group=d.cpu_group)
    return float(t.item())


def mean(d: Dist, t: torch.Tensor) -> torch.Tensor:
    """The average over ranks of a device tensor (e.g. each rank's mean loss -> the global mean,
    which is what one process with the whole global batch would have computed)."""
    if not d.enabled:
        return t
    t = t.detach().clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)  # gloo has no AVG
    return t / d.world


def gather_streams(d: Dist, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """Each rank's (L, B/world, H) carried state -> the global (L, B, H) state, on every rank.

    Rank r holds global streams [r*B/world, (r+1)*B/world), so concatenating in rank order
    restores the global stream order (see batches.StreamBatcher)."""
    if not d.enabled:
        return state
    out = []
    for s in state:
        parts = [torch.empty_like(s) for _ in range(d.world)]
        dist.all_gather(parts, s.contiguous())
        out.append(torch.cat(parts, dim=1))
    return tuple(out)


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier(group=d.cpu_group)


@contextmanager
def local_first(d: Dist):
    """Run the body on local rank 0 of every node first, then on the other ranks.

    For work that fills a per-node cache (encoding the corpus): one process per node does it,
    the others then find it cached instead of all encoding the same text at once."""
    if d.enabled and d.local_rank != 0:
        barrier(d)
    try:
        yield
    finally:
        if d.enabled and d.local_rank == 0:
            barrier(d)
