"""Training: DeepFaceLab's models (SAEHD, Quick96, AMP), losses and options in native PyTorch.

Entry points: :func:`train` with :class:`TrainOptions` → :class:`TrainResult`; :class:`Trainer` for the
loop in parts; :func:`create_model` / :data:`MODELS` for the model registry; the merger uses
:class:`recast.train.inference.FaceSwapper`. Names are imported on first use, so importing a
submodule (``recast.train.options``, ``recast.train.inference``) does not load the trainer.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MODELS": "recast.train.models.registry", "create_model": "recast.train.models.registry",
    "list_models": "recast.train.models.registry", "ProgressEvent": "recast.train.options",
    "TrainOptions": "recast.train.options", "TrainSettings": "recast.train.options",
    "Trainer": "recast.train.trainer", "TrainResult": "recast.train.trainer", "train": "recast.train.trainer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'recast.train' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
