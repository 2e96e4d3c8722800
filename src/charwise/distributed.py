"""torchrun / DDP plumbing: one code path for 1 process, N GPUs or N CPU processes (gloo).

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; without them this is a single process and every
helper here is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def setup(device_type: str) -> Dist:
    """Join the process group torchrun describes (NCCL on CUDA, gloo on CPU), if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def teardown(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()


def any_flag(d: Dist, flag: bool, device: torch.device) -> bool:
    """True on every rank if it is True on any rank (so all ranks stop at the same step)."""
    if not d.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def broadcast_float(d: Dist, value: float, device: torch.device) -> float:
    """Rank 0's value on every rank (wall-clock time, so the LR schedule agrees everywhere)."""
    if not d.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    return float(t.item())


def gather_streams(d: Dist, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """Each rank's (L, B/world, H) carried state -> the global (L, B, H) state, on every rank."""
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
        dist.barrier()
