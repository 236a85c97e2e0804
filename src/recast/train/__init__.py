"""Training: data, augmentation, optimisers, options and the trainer loop (the losses the families use are
:mod:`recast.models.losses`).

The models themselves (families, registry, checkpoint format, merge-time inference) live in
:mod:`recast.models`; this package trains them. Entry points: :func:`train` with :class:`TrainOptions`
→ :class:`TrainResult`; :class:`Trainer` for the loop in parts. Names are imported on first use, so
importing a submodule (``recast.train.options``) does not load the trainer.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ProgressEvent": "recast.train.options",
    "TrainOptions": "recast.train.options", "TrainSettings": "recast.train.options",
    "Trainer": "recast.train.trainer", "TrainResult": "recast.train.trainer", "train": "recast.train.trainer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'recast.train' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
