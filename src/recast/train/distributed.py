"""Data-parallel training across processes started by ``torchrun`` (gloo on CPU, nccl on CUDA).

Each rank runs the same model on its slice of the global batch. The trained modules are wrapped in
``torch.nn.parallel.DistributedDataParallel`` (:func:`wrap_ddp`), which averages gradients in buckets
while the backward pass still runs, so every rank takes the same optimiser step and the weights stay
identical; :mod:`recast.train.sharding` shards them with FSDP2 instead (``--shard``). Only rank 0
writes files.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from recast.errors import OptionError


@dataclass(frozen=True)
class DistInfo:
    """rank / world size / local rank of this process (0 / 1 / 0 when not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def setup(device: str) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); otherwise single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank)


def rank_device(device: str, info: DistInfo) -> torch.device:
    """The device this rank trains on: a bare ``cuda`` becomes this rank's own GPU (``cuda:<local rank>``)."""
    chosen = torch.device(device)
    if chosen.type == "cuda" and chosen.index is None:
        return torch.device("cuda", info.local_rank)
    return chosen


def check_batch(batch: int, info: DistInfo, name: str = "--batch-size") -> None:
    """Refuse a global batch the processes cannot split evenly: OptionError naming ``name``, one line."""
    if batch % info.world:
        raise OptionError(f"{name} {batch} must be divisible by the {info.world} training processes")


def teardown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def wrap_ddp(module: nn.Module, info: DistInfo, device: torch.device, find_unused: bool = False) -> nn.Module:
    """``module`` in ``DistributedDataParallel`` (the module itself for one process).

    The wrapper's forward is the module's; its parameters stay the module's own, so optimisers, state
    dicts and checkpoints keep using ``module``. ``find_unused``: some parameters may get no gradient
    in an iteration (a growing model's unused stages, an output left out of the loss); DDP then marks
    them ready itself instead of waiting for them.
    """
    if not info.enabled or not any(p.requires_grad for p in module.parameters()):
        return module
    ids = [device.index if device.index is not None else 0] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids, find_unused_parameters=find_unused)


class RankSlice(torch.utils.data.Sampler):
    """This rank's equal slice of each global batch of key lists from ``plan`` (an infinite batch sampler
    deciding every global batch from its seed alone, e.g. :class:`recast.train.xseg_samples.XSegPlan`)."""

    def __init__(self, plan: Iterable[list[Any]], info: DistInfo) -> None:
        self.plan, self.info = plan, info

    def __iter__(self) -> Iterator[list[Any]]:
        for keys in self.plan:
            local = len(keys) // self.info.world
            yield keys[self.info.rank * local:(self.info.rank + 1) * local]


def average_scalars(values: dict[str, float], info: DistInfo, device: torch.device) -> dict[str, float]:
    """Mean of each scalar over ranks (same keys on every rank)."""
    if not info.enabled or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return {k: float(v) / info.world for k, v in zip(keys, tensor.tolist(), strict=True)}


def shared_clock(info: DistInfo, device: torch.device) -> Callable[[], float]:
    """A clock every rank reads alike (rank 0's ``time.monotonic()``; the plain one for one process), for
    decisions all ranks must take at the same iteration (time limits, autosaves). Collective per call."""
    if not info.enabled:
        return time.monotonic

    def now() -> float:
        value = torch.tensor([time.monotonic()], dtype=torch.float64, device=device)
        dist.broadcast(value, src=0)
        return float(value.item())

    return now


def broadcast_module(module: nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if not info.enabled:
        return
    for tensor in [*module.parameters(), *module.buffers()]:
        dist.broadcast(tensor.data, src=0)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
