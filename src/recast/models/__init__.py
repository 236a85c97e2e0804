"""Face-swap models: the families (SAEHD, Quick96, AMP), discriminators, the registry, the
checkpoint format (:mod:`recast.models.checkpoint`), the model card, the training losses the families
use (:mod:`recast.models.losses`) and merge-time inference: the :class:`~recast.models.swapmodel.SwapModel`
protocol, a model folder in PyTorch (:class:`recast.models.inference.FaceSwapper`), a ``.dfm`` / ``.onnx``
file in onnxruntime (:mod:`recast.models.contract`, :mod:`recast.models.onnx_swapper`) and one loader for
both (:func:`recast.models.loader.load_face_model`). Nothing here imports the trainer.

Adding a family means one module with its config and :class:`FaceSwapModel` subclass, and one entry
in :data:`recast.models.registry.MODELS`. Names are imported on first use: the registry and the
configs load without torch (the command line builds its flags from them); a model class loads torch
when first asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AMP": "recast.models.amp", "AMPConfig": "recast.models.amp_config",
    "FaceSwapModel": "recast.models.base", "ModelConfig": "recast.models.config",
    "TrainOutputs": "recast.models.base", "MODELS": "recast.models.registry",
    "create_model": "recast.models.registry", "list_models": "recast.models.registry",
    "model_from_saved": "recast.models.registry", "SAEHD": "recast.models.saehd",
    "SAEHDConfig": "recast.models.saehd_config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'recast.models' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
