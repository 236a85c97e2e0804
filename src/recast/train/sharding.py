"""Memory for models that don't fit one device: FSDP2 sharding and activation checkpointing.

* :func:`prepare` applies ``--checkpoint-activations`` (the blocks the model lists keep only their
  inputs for backward and recompute the rest, ``torch.utils.checkpoint`` non-reentrant) and
  ``--shard`` (``torch.distributed.fsdp.fully_shard`` on each layer with parameters, then the model:
  parameters, gradients and optimiser state are split over the ranks; a layer's parameters are
  gathered only while it runs, forward and backward).
* :func:`full_weights` / :func:`full_optimizer_tensors` gather a part's weights and optimiser state on
  rank 0 as plain CPU tensors, so a checkpoint is one ordinary safetensors file whether or not the run
  was sharded (merge, export and resume read it the same way); :func:`load_weights` /
  :func:`load_optimizer` put a full checkpoint back into a sharded or plain part.

Every function that touches a sharded part is collective: all ranks call it.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, cast

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor
from torch.utils.checkpoint import checkpoint

from recast.models.base import FaceSwapModel
from recast.train.distributed import DistInfo
from recast.train.optim import load_optimizer_tensors, optimizer_tensors

log = logging.getLogger(__name__)

_FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)
"""Gather to full tensors on rank 0, in CPU memory (other ranks get an empty dict)."""


def shard_units(module: nn.Module) -> list[nn.Module]:
    """The modules that own trainable parameters themselves (convolutions, linear layers), ``module`` left
    out: FSDP2 gathers a unit's parameters in the unit's ``__call__``, and layers are always called, while
    blocks may be run through other methods (a decoder's ``forward_image``) or only iterated (a ModuleList)."""
    return [m for m in module.modules() if m is not module
            and any(p.requires_grad for p in m.parameters(recurse=False))]


def checkpoint_blocks(model: FaceSwapModel) -> int:
    """Recompute activations in backward instead of keeping them: each block the model lists
    (:meth:`~recast.models.base.FaceSwapModel.checkpoint_blocks`) keeps only its inputs. Parameter names
    and state dicts are unchanged. Returns the number of blocks checkpointed."""
    units = model.checkpoint_blocks()
    for unit in units:
        unit.forward = functools.partial(checkpoint, unit.forward, use_reentrant=False)  # type: ignore[method-assign]
    return len(units)


def prepare(model: FaceSwapModel, info: DistInfo, device: torch.device, *, shard: bool,
            checkpoint_activations: bool) -> bool:
    """Apply activation checkpointing and FSDP2 sharding to ``model`` (already on ``device``, the same
    weights on every rank) as asked; True when it is now sharded (``shard`` with more than one process)."""
    if checkpoint_activations:
        count = checkpoint_blocks(model)
        log.info("activation checkpointing on %d blocks", count)
    if not shard or not info.enabled:
        return False
    mesh = init_device_mesh(device.type, (info.world,))
    for unit in [*shard_units(model), model]:
        fully_shard(unit, mesh=mesh)
    return True


def full_weights(module: nn.Module, sharded: bool) -> dict[str, torch.Tensor]:
    """``module``'s state dict as full tensors (on rank 0 when ``sharded``; other ranks get {})."""
    if not sharded:
        return module.state_dict()
    return cast(dict[str, torch.Tensor], get_model_state_dict(module, options=_FULL))


def full_optimizer_tensors(module: nn.Module, optimizer: torch.optim.Optimizer, sharded: bool,
                           prefix: str) -> dict[str, torch.Tensor]:
    """The optimiser state as ``{prefix.<param name>.<key>: CPU tensor}``
    (:func:`recast.train.optim.optimizer_tensors`' layout), gathered on rank 0 when ``sharded``."""
    if not sharded:
        return optimizer_tensors(optimizer, {id(p): n for n, p in module.named_parameters()}, prefix)
    if not optimizer.state:  # get_optimizer_state_dict would first make one by a zero-lr step, counting a step
        return {}
    gathered = cast(dict[str, Any], get_optimizer_state_dict(module, optimizer, options=_FULL))
    state: dict[str, dict[str, Any]] = gathered.get("state", {})  # empty on ranks other than 0
    out: dict[str, torch.Tensor] = {}
    for name, entry in state.items():
        for key, value in entry.items():
            tensor = value if torch.is_tensor(value) else torch.tensor(float(value))
            out[f"{prefix}.{name}.{key}"] = tensor.detach().to("cpu", copy=True).contiguous()
    return out


def load_weights(module: nn.Module, weights: dict[str, torch.Tensor], sharded: bool) -> None:
    """Load full ``weights`` (the same on every rank) into ``module``, sharding them when ``sharded``."""
    if sharded:
        set_model_state_dict(module, cast(dict[str, Any], weights), options=StateDictOptions(full_state_dict=True))
    else:
        module.load_state_dict(weights)


def load_optimizer(module: nn.Module, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                   sharded: bool, prefix: str) -> bool:
    """Restore optimiser state written by :func:`full_optimizer_tensors` (the same on every rank);
    False (state untouched) when it does not fit the parameters."""
    if not sharded:
        return load_optimizer_tensors(optimizer, tensors, {id(p): n for n, p in module.named_parameters()}, prefix)
    state: dict[str, Any] = {}
    for name, param in module.named_parameters():
        base = f"{prefix}.{name}."
        entry = {k[len(base):]: v for k, v in tensors.items() if k.startswith(base)}
        if any(key != "step" and value.shape != param.shape for key, value in entry.items()):
            return False
        if entry:
            state[name] = entry
    template = get_optimizer_state_dict(module, optimizer, options=StateDictOptions(full_state_dict=True))
    set_optimizer_state_dict(module, optimizer, {"state": state, "param_groups": template["param_groups"]},
                             options=StateDictOptions(full_state_dict=True))
    return True


def local(tensor: torch.Tensor) -> torch.Tensor:
    """This rank's shard of a sharded tensor, or the tensor itself."""
    return tensor.to_local() if isinstance(tensor, DTensor) else tensor
