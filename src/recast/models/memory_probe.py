"""Measure a face model's memory counts on torch's ``meta`` device and check them before allocating.

The model is built and run on ``meta`` tensors (shapes only: nothing is allocated, a 640 px
model with ``ae_dims`` 1024 costs a few MB of Python objects), counting its parameters and the
output elements of every leaf module in one forward pass. :mod:`recast.models.memory` turns the
counts into an estimate per rank; :func:`check_training_memory` and :func:`check_inference_memory`
refuse in one line before the real model or batch exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recast.models.memory import (
    MemoryEstimate,
    available_memory,
    check_fits,
    estimate_inference,
    estimate_training,
)
from recast.models.registry import check_saved_model, model_from_saved
from recast.runtime.devices import resolve_device


@dataclass(frozen=True)
class ModelCounts:
    """Element counts of one face model (see :mod:`recast.models.memory`).

    Attributes:
        parameters: every parameter element.
        train_activations, train_largest: leaf-module output elements of one training sample
            (both sides, src and dst), and the largest single one.
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
    schedule = getattr(model, "schedule", None)
    if schedule is not None:  # a growing model: count its last, largest stage (the growth state is read as data)
        model.register_buffer("growth_state", torch.tensor([len(schedule.sizes) - 1, 1.0, 0.0]))
    side = int(model.train_resolution)
    faces = torch.empty(1, 3, side, side, device="meta")
    total, largest = _activations(model, lambda: model(faces, faces))
    swap_side = int(model.resolution)
    _swap_total, swap_largest = _activations(model, lambda: model.swap(torch.empty(1, 3, swap_side, swap_side,
                                                                                   device="meta")))
    return ModelCounts(
        parameters=sum(p.numel() for p in model.parameters()),
        train_activations=total, train_largest=largest, swap_largest=swap_largest,
        input_elements=2 * (2 * 3 + 1) * side * side, swap_input_elements=3 * swap_side * swap_side,
    )


def device_available(device: torch.device) -> int | None:
    """Bytes free on ``device``: the CUDA device's free memory, or this process's RAM allowance."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "cpu":
        return available_memory()
    return None


def check_training_memory(name: str, config: dict[str, Any], batch: int, optimizer: str, device: torch.device,
                          shards: int = 1) -> MemoryEstimate:
    """Refuse a training run whose estimate does not fit ``device``; the estimate otherwise.

    Raises:
        OptionError: one line naming the estimate and the settings to lower.
    """
    counts = measure(name, config)
    estimate = estimate_training(parameters=counts.parameters, trainable=counts.parameters,
                                 activation_elements=counts.train_activations, largest_activation=counts.train_largest,
                                 input_elements=counts.input_elements, batch=batch, optimizer=optimizer, shards=shards)
    check_fits(estimate, device_available(device), f"training {name} on {device.type}",
               "lower --batch-size (or, for a new model, its resolution or dims)")
    return estimate


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
