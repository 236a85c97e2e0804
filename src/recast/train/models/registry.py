"""Model registry: names → (family class, config preset, training defaults), like timm's.

``create_model("saehd", resolution=128, archi="df-ud")`` builds a model; ``list_models()`` feeds CLI
choices and the parametrised tests. A saved model records its registry name and full config in
``config.json``, and :func:`model_from_saved` rebuilds it from there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from recast.errors import OptionError
from recast.train.models.amp import AMP, AMPConfig
from recast.train.models.base import FaceSwapModel, ModelConfig
from recast.train.models.quick96 import QUICK96_CONFIG, QUICK96_TRAIN_DEFAULTS
from recast.train.models.saehd import SAEHD, SAEHDConfig


@dataclass(frozen=True)
class ModelEntry:
    """One registered model name.

    model_class / config_class: the family. preset: config values this name sets. fixed: refuse
    any config override (Quick96). train_defaults: TrainOptions values this name starts from.
    """

    name: str
    model_class: type[FaceSwapModel]
    config_class: type[ModelConfig]
    description: str
    preset: dict[str, Any] = field(default_factory=dict)
    fixed: bool = False
    train_defaults: dict[str, Any] = field(default_factory=dict)

    def build_config(self, **overrides: Any) -> ModelConfig:
        if self.fixed and overrides:
            raise OptionError(f"model {self.name!r} has fixed settings; it does not accept "
                              f"{', '.join(sorted(overrides))} (use 'saehd' to choose them)")
        return self.config_class.from_dict({**self.preset, **overrides})


MODELS: dict[str, ModelEntry] = {
    "saehd": ModelEntry(
        "saehd", SAEHD, SAEHDConfig,
        "DeepFaceLab SAEHD: df/liae with u/d/t/c variants, resolution 64–640 (default liae-ud 128).",
        train_defaults={"batch_size": 8, "optimizer": "adabelief", "lr": 5e-5},
    ),
    "quick96": ModelEntry(
        "quick96", SAEHD, SAEHDConfig,
        "DeepFaceLab Quick96: fixed 96 px full-face df-ud, ae 128, e/d 64, mask 16; RMSprop 2e-4.",
        preset=QUICK96_CONFIG, fixed=True, train_defaults=QUICK96_TRAIN_DEFAULTS,
    ),
    "amp": ModelEntry(
        "amp", AMP, AMPConfig,
        "DeepFaceLab AMP: morphable src/dst inters, shared decoder, default 224 px whole face.",
        train_defaults={"batch_size": 8, "optimizer": "adabelief", "lr": 5e-5, "eyes_mouth_prio": True,
                        "masked_training": True},
    ),
    "cpu": ModelEntry(
        "cpu", SAEHD, SAEHDConfig,
        "Small SAEHD sized for a 2-core CPU: 64 px df-ud, ae 128, e 32, d 32, mask 8.",
        preset={"resolution": 64, "face_type": "full", "archi": "df-ud", "ae_dims": 128, "e_dims": 32,
                "d_dims": 32, "d_mask_dims": 8},
        train_defaults={"batch_size": 8, "optimizer": "adam", "lr": 2e-4},
    ),
}


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(MODELS)


def get_entry(name: str) -> ModelEntry:
    try:
        return MODELS[name.lower()]
    except KeyError:
        raise OptionError(f"unknown model {name!r}; choose one of {', '.join(list_models())}") from None


def create_model(name: str, **config: Any) -> FaceSwapModel:
    """Build a freshly initialised model from a registry name plus config overrides."""
    entry = get_entry(name)
    return entry.model_class(entry.build_config(**config))


def model_from_saved(name: str, config: dict[str, Any]) -> FaceSwapModel:
    """Rebuild a model from the name and full config stored in a model folder's config.json."""
    entry = get_entry(name)
    return entry.model_class(entry.config_class.from_dict(dict(config)))


def config_fields(name: str) -> list[str]:
    """The config field names a registry name accepts (empty for fixed models)."""
    entry = get_entry(name)
    return [] if entry.fixed else [f.name for f in dataclasses.fields(entry.config_class)]
