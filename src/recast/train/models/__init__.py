"""Face-swap model families (SAEHD, Quick96, AMP), discriminators and the registry."""

from recast.train.models.amp import AMP, AMPConfig
from recast.train.models.base import FaceSwapModel, ModelConfig, TrainOutputs
from recast.train.models.registry import MODELS, create_model, list_models, model_from_saved
from recast.train.models.saehd import SAEHD, SAEHDConfig

__all__ = [
    "AMP", "MODELS", "SAEHD", "AMPConfig", "FaceSwapModel", "ModelConfig", "SAEHDConfig", "TrainOutputs",
    "create_model", "list_models", "model_from_saved",
]
