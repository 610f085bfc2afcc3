"""Data-parallel training under ``torchrun``: the process group and the few collectives it needs.

Why this exists: one process saturates its cores on one point set; with ``torchrun
--nproc_per_node=K`` each of K processes (ranks) trains on its own share of the collocation points
and they average their losses and gradients, so every rank takes the same optimizer steps as one
process on the union of the points would. DistributedDataParallel is not used because the
derivative engines call the network's layers directly, bypassing ``Module.forward`` (where DDP
hooks in); gradients are averaged explicitly after each backward pass instead.

Without torchrun's environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``) every function here is a
no-op, so a plain run behaves and performs exactly as before.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

import torch
import torch.distributed as dist

TORCHRUN_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK")


def active() -> bool:
    """True in a process started by torchrun (its environment names the world and the rank)."""
    return all(name in os.environ for name in TORCHRUN_VARIABLES)


def world() -> int:
    """Number of training processes (1 without torchrun)."""
    return int(os.environ["WORLD_SIZE"]) if active() else 1


def rank() -> int:
    """This process's rank, 0 to world() - 1 (0 without torchrun)."""
    return int(os.environ["RANK"]) if active() else 0


def local_rank() -> int:
    """This process's index on its machine: which GPU it uses (0 without torchrun)."""
    return int(os.environ["LOCAL_RANK"]) if active() else 0


def is_main() -> bool:
    """True on the one process that writes results, checkpoints and progress (rank 0)."""
    return rank() == 0


def local_device(device: str) -> str:
    """Under torchrun a bare ``cuda`` means this rank's own GPU, ``cuda:<LOCAL_RANK>``."""
    return f"cuda:{local_rank()}" if active() and device == "cuda" else device


@contextmanager
def session(device: str) -> Iterator[None]:
    """Join torchrun's process group for the duration (gloo on CPU, nccl on CUDA) and leave it
    afterwards; does nothing without torchrun or when the group is already up (then its owner
    tears it down)."""
    if not active() or dist.is_initialized():
        yield
        return
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    try:
        yield
    finally:
        dist.destroy_process_group()


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """The mean of ``tensor`` over all ranks (identical on every rank), e.g. stacked loss terms.

    Differentiable: backward passes the gradient through unscaled, so each rank's parameter
    gradients stay those of its own loss, and ``all_reduce_gradients`` supplies the 1 / world of
    the mean. Without torchrun, ``tensor`` itself is returned.
    """
    if not active():
        return tensor
    return _MeanOverRanks.apply(tensor)


class _MeanOverRanks(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.detach().clone()
        dist.all_reduce(total)
        return total / world()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad


def all_reduce_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Replace every parameter's gradient by its mean over the ranks, in one collective on one
    flattened buffer (a call per tensor would pay the latency once per layer). A missing gradient
    counts as zero, so every rank ends with the same gradients."""
    if not active():
        return
    parameters = list(parameters)
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world()
    offset = 0
    for p in parameters:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p)
        offset += n


def min_over_ranks(value: float) -> float:
    """The smallest ``value`` over the ranks, for decisions that all ranks must take together."""
    if not active():
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
    return float(tensor)


def broadcast_module(module: torch.nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank, so all ranks start identical even
    if their initialization differed (one flattened broadcast)."""
    if not active():
        return
    tensors = [t for t in list(module.parameters()) + list(module.buffers()) if t.is_floating_point()]
    if not tensors:
        return
    flat = torch.cat([t.detach().reshape(-1) for t in tensors])
    dist.broadcast(flat, src=0)
    offset = 0
    with torch.no_grad():
        for t in tensors:
            t.copy_(flat[offset:offset + t.numel()].view_as(t))
            offset += t.numel()


def gather_objects(value: Any) -> list[Any]:
    """Every rank's ``value`` (picklable, on the CPU), in rank order; ``[value]`` without torchrun."""
    if not active():
        return [value]
    values: list[Any] = [None] * world()
    dist.all_gather_object(values, value)
    return values


def _collective_device() -> torch.device:
    """Where small tensors for collectives live: the current GPU for nccl, else the CPU."""
    if dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
