"""Refuse a training run that cannot fit in memory, before the model or a batch is allocated.

Called by :class:`recast.train.trainer.Trainer` first thing in its setup: the model (new or saved)
is measured on the meta device (:mod:`recast.models.memory_probe`) and its per-rank estimate at
the run's batch compared with the device's free memory, so ``--batch-size 4096`` or a 640 px
SAEHD with ``ae_dims`` 1024 is one line naming the estimate instead of an allocator traceback.

The estimate counts, per rank: fp32 weights, gradients and optimiser state; what autograd saves for
backward in the forward pass and the loss at the per-rank batch; the batch; communication buffers
(DDP's gradient buckets, a second copy of the gradients); and, on the CPU, the process's own resident
memory (interpreter, torch, the distributed backend) when the check runs. ``--shard`` divides weights,
gradients and optimiser state over the ranks (each rank also holds one gathered layer and its gradient
while that layer runs); ``--checkpoint-activations`` keeps only the inputs of the checkpointed blocks and
of each side's reconstruction loss (checkpointed too), what is saved outside them and one block's or loss's
recomputation (:func:`checkpointed_activations`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from recast.errors import InputError, OptionError
from recast.models import checkpoint as ckpt
from recast.models.memory import MemoryEstimate, check_fits, estimate_training, resident_memory
from recast.models.memory_probe import TRAIN_CHANGES, device_available, measure, saved_activations
from recast.models.registry import DEFAULT_MODEL, check_saved_model, create_model, get_entry, model_from_saved
from recast.train.options import TrainOptions, resolve_settings
from recast.train.sharding import shard_units


def check_train_memory(options: TrainOptions, device: torch.device, ranks: int = 1) -> MemoryEstimate | None:
    """The per-rank estimate of ``options``' run on ``device``; None when its options are invalid
    (the trainer's own checks then report them).

    Raises:
        OptionError: the estimate does not fit the device's free memory.
    """
    model_dir = Path(options.model_dir)
    try:
        if (model_dir / ckpt.CONFIG_FILE).is_file():
            name, config = check_saved_model(model_dir)
            saved = dict((ckpt.read_state(model_dir) or {}).get("settings", {}))
        else:
            name = (options.model or DEFAULT_MODEL).lower()
            with torch.device("meta"):
                config = dataclasses.asdict(create_model(name, **options.model_config).config)
            saved = {}
        settings = resolve_settings(get_entry(name).train_defaults, saved, options.settings)
    except (InputError, OptionError, TypeError, KeyError):
        return None
    per_rank = -(-settings.batch_size // max(1, ranks))
    sharded = options.shard and ranks > 1
    counts = measure(name, config)
    parameters, buffers = counts.parameters, 0
    if sharded:  # its shard, plus the largest unit FSDP2 gathers whole while it runs (weights and gradient)
        with torch.device("meta"):
            units = shard_units(model_from_saved(name, config))
        largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in units)
        parameters, buffers = -(-parameters // ranks), 2 * largest
    elif ranks > 1:  # DDP's gradient buckets: a second copy of the gradients
        buffers = parameters
    activations = checkpointed_activations(name, config) if options.checkpoint_activations else counts.train_activations
    estimate = estimate_training(parameters=parameters, trainable=parameters, activation_elements=activations,
                                 largest_activation=counts.train_largest, input_elements=counts.input_elements,
                                 batch=per_rank, optimizer=settings.optimizer, buffer_elements=buffers,
                                 process_bytes=(resident_memory() or 0) if device.type == "cpu" else 0)
    check_fits(estimate, device_available(device), f"training {name} on {device.type}", TRAIN_CHANGES)
    return estimate


def checkpointed_activations(name: str, config: dict[str, Any]) -> int:
    """Activation elements one training sample keeps for backward with ``--checkpoint-activations``: what is
    saved outside the model's ``checkpoint_blocks()`` and the two losses, each block and loss call's inputs,
    and the most one such call saves (recomputed in its backward), measured on the meta device."""
    with torch.device("meta"):
        model = model_from_saved(name, config)
    return saved_activations(model, model.checkpoint_blocks()).checkpointed
