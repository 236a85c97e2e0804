"""Refuse a training run that cannot fit in memory, before the model or a batch is allocated.

Called by :class:`recast.train.trainer.Trainer` first thing in its setup: the model (new or saved)
is measured on the meta device (:mod:`recast.models.memory_probe`) and its per-rank estimate at
the run's batch compared with the device's free memory, so ``--batch-size 4096`` or a 640 px
SAEHD with ``ae_dims`` 1024 is one line naming the estimate instead of an allocator traceback.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from recast.errors import InputError, OptionError
from recast.models import checkpoint as ckpt
from recast.models.memory import MemoryEstimate
from recast.models.memory_probe import check_training_memory
from recast.models.registry import DEFAULT_MODEL, check_saved_model, create_model, get_entry
from recast.train.options import TrainOptions, resolve_settings


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
    return check_training_memory(name, config, per_rank, settings.optimizer, device)
