"""Training: DeepFaceLab's models (SAEHD, Quick96, AMP), losses and options in native PyTorch.

Entry points: :func:`train` with :class:`TrainOptions` → :class:`TrainResult`; :class:`Trainer` for the
loop in parts; :func:`create_model` / :data:`MODELS` for the model registry; the merger uses
:class:`recast.train.inference.FaceSwapper`.
"""

from recast.train.models.registry import MODELS, create_model, list_models
from recast.train.options import ProgressEvent, TrainOptions, TrainSettings
from recast.train.trainer import Trainer, TrainResult, train

__all__ = ["MODELS", "ProgressEvent", "TrainOptions", "TrainResult", "TrainSettings", "Trainer", "create_model",
           "list_models", "train"]
