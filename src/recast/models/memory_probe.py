"""Measure a face model's memory counts on torch's ``meta`` device and check them before allocating.

The model is built and run on ``meta`` tensors (shapes only: nothing is allocated, a 640 px
model with ``ae_dims`` 1024 costs a few MB of Python objects), counting its parameters, the tensors
autograd saves for backward in one training sample's forward pass and loss
(:func:`saved_activations`, by checkpointable block too) and the output elements of every leaf module
of one swap. :mod:`recast.models.memory` turns the counts into an estimate per rank;
:func:`check_inference_memory` (and :mod:`recast.train.memcheck` for training) refuse in one line
before the real model or batch exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recast.models.base import FaceSwapModel
from recast.models.losses import reconstruction_loss
from recast.models.memory import (
    FLOAT_BYTES,
    MemoryEstimate,
    available_memory,
    check_fits,
    estimate_inference,
)
from recast.models.registry import check_saved_model, model_from_saved
from recast.runtime.devices import resolve_device

TRAIN_CHANGES = ("lower --batch-size, add --checkpoint-activations, or spread the model over several devices "
                 "with --shard (or, for a new model, lower its resolution or dims)")
"""What a refused training run names to change, in the order that costs the user least."""


@dataclass(frozen=True)
class ModelCounts:
    """Element counts of one face model (see :mod:`recast.models.memory`).

    Attributes:
        parameters: every parameter element.
        train_activations, train_largest: elements autograd saves for backward in one training
            sample's forward and loss (both sides, src and dst), and the largest single tensor.
        swap_largest: the largest leaf-module output of one swapped face.
        input_elements: batch tensor elements per training sample (warped and target faces and
            masks, both sides).
        swap_input_elements: elements of one face given to the swap.
    """

    parameters: int
    train_activations: int
    train_largest: int
    swap_largest: int
    input_elements: int
    swap_input_elements: int


def measure(name: str, config: dict[str, Any]) -> ModelCounts:
    """Count a registry model of ``config`` (its full config dict) on the meta device."""
    with torch.device("meta"):
        model = model_from_saved(name, config)
    saved = saved_activations(model)
    swap_side = int(model.resolution)
    _swap_total, swap_largest = _activations(model, lambda: model.swap(torch.empty(1, 3, swap_side, swap_side,
                                                                                   device="meta")))
    side = int(model.train_resolution)
    return ModelCounts(
        parameters=sum(p.numel() for p in model.parameters()),
        train_activations=saved.total, train_largest=saved.largest, swap_largest=swap_largest,
        input_elements=2 * (2 * 3 + 1) * side * side, swap_input_elements=3 * swap_side * swap_side,
    )


@dataclass(frozen=True)
class SavedActivations:
    """What autograd keeps for backward in one training sample's forward and loss, in fp32 elements (unique
    storages; parameters and the batch itself left out).

    Attributes:
        total: everything kept. largest: the largest single tensor (the transient peak of backward).
        outside: kept by operations outside ``blocks`` (and, with blocks, outside the two losses).
        block_inputs: the inputs of the block and loss calls (what activation checkpointing keeps of them).
        largest_block: the most one block or loss call keeps (what recomputing it in backward holds at once).
    """

    total: int
    largest: int
    outside: int
    block_inputs: int
    largest_block: int

    @property
    def checkpointed(self) -> int:
        """Kept with the blocks and losses checkpointed: outside them, their inputs, and one call's recomputation."""
        return self.outside + self.block_inputs + self.largest_block


def saved_activations(model: FaceSwapModel, blocks: list[nn.Module] | tuple[nn.Module, ...] = ()) -> SavedActivations:
    """Run one training sample (src and dst faces at ``model.train_resolution``) through ``model`` (built on the
    meta device, or any other: the count is the same) and the default reconstruction loss of both sides with
    gradients on, counting the tensors autograd saves for backward
    (``torch.autograd.graph.saved_tensors_hooks``), by block of ``blocks``.

    With ``blocks`` (activation checkpointing) each side's loss is one more block call, as
    :class:`recast.train.step.TrainStep` checkpoints it with them: its inputs are the predictions it keeps
    (unless already kept outside the blocks; the batch is counted apart)."""
    schedule = getattr(model, "schedule", None)
    if schedule is not None:  # a growing model: count its last, largest stage (the growth state is read as data)
        model.register_buffer("growth_state", torch.tensor([len(schedule.sizes) - 1, 1.0, 0.0]))
    side = int(model.train_resolution)
    device = next(model.parameters()).device
    faces = torch.rand(1, 3, side, side, device=device)
    masks = torch.rand(1, 1, side, side, device=device)
    known = {p.untyped_storage()._cdata for p in model.parameters()}
    known |= {t.untyped_storage()._cdata for t in (faces, masks)}
    storages: dict[int, tuple[int, int]] = {}  # storage → (elements, owner: -1 outside, else block call index)
    calls: list[int] = []
    active: list[int] = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        key = tensor.untyped_storage()._cdata
        if key not in known and key not in storages:
            storages[key] = (tensor.untyped_storage().nbytes() // FLOAT_BYTES, active[-1] if active else -1)
        return tensor

    def call_start(kept: int) -> None:
        calls.append(kept)
        active.append(len(calls) - 1)

    def block_start(_module: nn.Module, inputs: Any) -> None:
        call_start(sum(t.numel() for t in inputs if isinstance(t, torch.Tensor)))

    def block_end(_module: nn.Module, _inputs: Any, _output: Any) -> None:
        active.pop()

    def side_loss(pred: torch.Tensor, pred_mask: torch.Tensor) -> torch.Tensor:
        if blocks:  # a checkpointed call: keeps the predictions, unless already kept outside the blocks
            keys = {t.untyped_storage()._cdata: t.numel() for t in (pred, pred_mask)}
            call_start(sum(n for key, n in keys.items() if key not in known and storages.get(key, (0, 0))[1] >= 0))
        loss = reconstruction_loss(faces, pred, masks, pred_mask, None, resolution=side, masked=True,
                                   eyes_mouth_weight=0.0, learn_mask=True)[0].sum()
        if blocks:
            active.pop()
        return loss

    handles = [h for block in blocks for h in (block.register_forward_pre_hook(block_start),
                                                block.register_forward_hook(block_end))]
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            out = model(faces, faces)
            loss = side_loss(out.pred_src_src, out.pred_src_srcm) + side_loss(out.pred_dst_dst, out.pred_dst_dstm)
    finally:
        for handle in handles:
            handle.remove()
    del loss
    per_block = [0] * len(calls)
    for elements, owner in storages.values():
        if owner >= 0:
            per_block[owner] += elements
    sizes = [elements for elements, _owner in storages.values()]
    return SavedActivations(total=sum(sizes), largest=max(sizes, default=0),
                            outside=sum(e for e, owner in storages.values() if owner < 0),
                            block_inputs=sum(calls), largest_block=max(per_block, default=0))


def device_available(device: torch.device) -> int | None:
    """Bytes free on ``device``: the CUDA device's free memory, or this process's RAM allowance."""
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return None
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "cpu":
        return available_memory()
    return None


def check_inference_memory(name: str, config: dict[str, Any], batch: int, device: torch.device) -> MemoryEstimate:
    """Refuse running a model whose estimate at ``batch`` faces does not fit ``device``.

    Raises:
        OptionError: one line naming the estimate and the setting to lower.
    """
    counts = measure(name, config)
    estimate = estimate_inference(parameters=counts.parameters, largest_activation=counts.swap_largest,
                                  input_elements=counts.swap_input_elements, batch=batch)
    check_fits(estimate, device_available(device), f"running {name} on {device.type}", "lower --batch-size")
    return estimate


def check_saved_inference(model_dir: Path, batch: int, device: str) -> MemoryEstimate:
    """:func:`check_inference_memory` for the model saved in ``model_dir`` on ``device`` (a device name).

    Raises:
        InputError: an invalid model folder. OptionError: an unknown device, or it does not fit.
    """
    name, config = check_saved_model(model_dir)
    return check_inference_memory(name, config, batch, torch.device(resolve_device(device)))


def _activations(model: nn.Module, run: Any) -> tuple[int, int]:
    """(sum, largest) of the output elements of every leaf module during ``run()``."""
    sizes: list[int] = []

    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        sizes.extend(item.numel() for item in outputs if isinstance(item, torch.Tensor))

    handles = [module.register_forward_hook(hook) for module in model.modules() if not list(module.children())]
    try:
        with torch.no_grad():
            run()
    finally:
        for handle in handles:
            handle.remove()
    return sum(sizes), max(sizes, default=0)
