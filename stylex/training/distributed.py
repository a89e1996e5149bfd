"""Multi-process training helpers (torch.distributed, launched by `torchrun`, env:// rendezvous).

Gradients are averaged by hand (one flat all-reduce per optimizer step) rather than by wrapping
the networks in DistributedDataParallel: StylEx switches which networks take gradients from phase
to phase and differentiates twice for R1 and path-length regularization, and DDP supports
neither `torch.autograd.grad` nor modules whose parameters only sometimes get gradients. The
effect is the same: every process applies the same averaged gradient, so the weights stay equal.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from stylex.runtime import resolve_device


@dataclass
class DistInfo:
    """Where this process stands: rank among world_size processes, and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_spec: str = "auto") -> DistInfo:
    """Join the process group when started by torchrun (WORLD_SIZE > 1): gloo on CPU, nccl on CUDA,
    one GPU per process (cuda:LOCAL_RANK). Otherwise a single process on `device_spec`."""
    device = resolve_device(device_spec)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(device=device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method="env://")
    return DistInfo(rank, world, local_rank, device)


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_mean(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Average a tensor over processes (in place; returned for chaining)."""
    if info.enabled:
        dist.all_reduce(tensor)
        tensor /= info.world_size
    return tensor


def any_process(flag: bool, info: DistInfo) -> bool:
    """True on every process if it is true on any (used to stop all processes at the same step)."""
    if not info.enabled:
        return flag
    t = torch.tensor([float(flag)], device=info.device)
    dist.all_reduce(t)
    return bool(t.item() > 0)


def broadcast_module(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every process."""
    if info.enabled:
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def gather_objects(obj, info: DistInfo) -> list:
    """Every process's `obj`, in rank order (on every process)."""
    if not info.enabled:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
