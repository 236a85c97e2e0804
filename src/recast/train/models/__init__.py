"""Face-swap model families (SAEHD, Quick96, AMP), discriminators and the registry.

Names are imported on first use: the registry and the configs load without torch (the command line
builds its flags from them); a model class loads torch when first asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AMP": "recast.train.models.amp", "AMPConfig": "recast.train.models.amp_config",
    "FaceSwapModel": "recast.train.models.base", "ModelConfig": "recast.train.models.config",
    "TrainOutputs": "recast.train.models.base", "MODELS": "recast.train.models.registry",
    "create_model": "recast.train.models.registry", "list_models": "recast.train.models.registry",
    "model_from_saved": "recast.train.models.registry", "SAEHD": "recast.train.models.saehd",
    "SAEHDConfig": "recast.train.models.saehd_config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'recast.train.models' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
