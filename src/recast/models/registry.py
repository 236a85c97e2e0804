"""Model registry: names → (family class, config preset, training defaults), like timm's.

``create_model("saehd", resolution=128, archi="df-ud")`` builds a model; ``list_models()`` feeds CLI
choices and the parametrised tests. A saved model records its registry name and full config in
``config.json``, and :func:`model_from_saved` rebuilds it from there.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recast.errors import InputError, OptionError
from recast.models.amp_config import AMPConfig
from recast.models.config import ModelConfig
from recast.models.hd_config import HDConfig
from recast.models.quick96 import QUICK96_CONFIG, QUICK96_TRAIN_DEFAULTS
from recast.models.saehd_config import SAEHDConfig
from recast.options import OptionField, option_fields

if TYPE_CHECKING:
    from recast.models.base import FaceSwapModel


@dataclass(frozen=True)
class ModelEntry:
    """One registered model name.

    model: the family's class as ``"module:Class"`` (imported on first use, so the registry and the
    configs load without torch). config_class: its config. preset: config values this name sets.
    fixed: refuse any config override (Quick96). train_defaults: TrainSettings values this name
    starts from.
    """

    name: str
    model: str
    config_class: type[ModelConfig]
    description: str
    preset: dict[str, Any] = field(default_factory=dict)
    fixed: bool = False
    train_defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def model_class(self) -> type[FaceSwapModel]:
        """The family class (imports its module, and torch, the first time)."""
        module, _, name = self.model.partition(":")
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]

    def build_config(self, **overrides: Any) -> ModelConfig:
        """The config of this name with ``overrides`` (refused for fixed names), validated."""
        if self.fixed and overrides:
            raise OptionError(f"model {self.name!r} has fixed settings; it does not accept "
                              f"{', '.join(sorted(overrides))} (use 'saehd' to choose them)")
        return self.config_class.from_dict({**self.preset, **overrides})


_SAEHD = "recast.models.saehd:SAEHD"

CPU_PRESET: dict[str, Any] = {"resolution": 64, "face_type": "full", "archi": "df-ud", "ae_dims": 128, "e_dims": 32,
                              "d_dims": 32, "d_mask_dims": 8}
"""Model config of the ``cpu`` preset (and the base of ``cpu-grow``)."""

SAEHD_256_PRESET: dict[str, Any] = {"resolution": 256, "face_type": "whole", "archi": "liae-udt", "ae_dims": 256,
                                    "e_dims": 64, "d_dims": 64, "d_mask_dims": 22}
"""Model config of ``saehd-256``: DeepFaceLab's usual 256 px whole-face liae-udt (its default widths)."""
SAEHD_512_PRESET: dict[str, Any] = {"resolution": 512, "face_type": "whole", "archi": "df-udt", "ae_dims": 512,
                                    "e_dims": 80, "d_dims": 80, "d_mask_dims": 32}
"""Model config of ``saehd-512``: a 512 px whole-face df-udt with the wider code DeepFaceLab users train at 512."""

DEFAULT_MODEL = "saehd"
"""The registry name a new model gets when none is asked for."""

MODELS: dict[str, ModelEntry] = {
    "saehd": ModelEntry(
        "saehd", _SAEHD, SAEHDConfig,
        "DeepFaceLab SAEHD: df/liae with u/d/t/c variants, resolution 64–1024 (default liae-ud 128).",
        train_defaults={"batch_size": 8, "optimizer": "adabelief", "lr": 5e-5},
    ),
    "quick96": ModelEntry(
        "quick96", _SAEHD, SAEHDConfig,
        "DeepFaceLab Quick96: fixed 96 px full-face df-ud, ae 128, e/d 64, mask 16; RMSprop 2e-4.",
        preset=QUICK96_CONFIG, fixed=True, train_defaults=QUICK96_TRAIN_DEFAULTS,
    ),
    "amp": ModelEntry(
        "amp", "recast.models.amp:AMP", AMPConfig,
        "DeepFaceLab AMP: morphable src/dst inters, shared decoder, default 224 px whole face.",
        train_defaults={"batch_size": 8, "optimizer": "adabelief", "lr": 5e-5, "eyes_mouth_prio": True,
                        "masked_training": True},
    ),
    "saehd-256": ModelEntry(
        "saehd-256", _SAEHD, SAEHDConfig,
        "SAEHD at 256 px: whole-face liae-udt, ae 256, e/d 64, mask 22 (DeepFaceLab's defaults at that size).",
        preset=SAEHD_256_PRESET,
        train_defaults={"batch_size": 8, "optimizer": "adabelief", "lr": 5e-5},
    ),
    "saehd-512": ModelEntry(
        "saehd-512", _SAEHD, SAEHDConfig,
        "SAEHD at 512 px: whole-face df-udt, ae 512, e/d 80, mask 32; batch 4.",
        preset=SAEHD_512_PRESET,
        train_defaults={"batch_size": 4, "optimizer": "adabelief", "lr": 5e-5},
    ),
    "hd-1024": ModelEntry(
        "hd-1024", "recast.models.hd:HD", HDConfig,
        "Fully convolutional encoder/decoder (no dense bottleneck) at 1024 px whole face, e/d 32, code 256 "
        "at 32²; batch 2 (resolution 64–1024 by 32).",
        train_defaults={"batch_size": 2, "optimizer": "adam", "lr": 5e-5},
    ),
    "cpu": ModelEntry(
        "cpu", _SAEHD, SAEHDConfig,
        "Small SAEHD sized for a 2-core CPU: 64 px df-ud, ae 128, e 32, d 32, mask 8.",
        preset=CPU_PRESET,
        train_defaults={"batch_size": 8, "optimizer": "adam", "lr": 2e-4},
    ),
    "cpu-grow": ModelEntry(
        "cpu-grow", _SAEHD, SAEHDConfig,
        "The cpu preset growing while it trains: 64 px, then 96 px at 35 % of the budget, 128 px at 70 % "
        "(weights kept, each new size faded in).",
        preset={**CPU_PRESET, "resolution": 128, "growth": [64, 96], "growth_at": [0.35, 0.7]},
        train_defaults={"batch_size": 8, "optimizer": "adam", "lr": 2e-4},
    ),
}


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(MODELS)


def get_entry(name: str) -> ModelEntry:
    """The entry registered as ``name`` (any case); OptionError naming the choices otherwise."""
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


def check_saved_model(model_dir: Path) -> tuple[str, dict[str, Any]]:
    """Validate a model folder's config.json and its committed weights against it, allocating nothing.

    The model is built on torch's ``meta`` device (shapes only), so a config at the validated
    maximum costs no memory, and the weights' names, shapes and dtypes are read from the
    safetensors header. Returns ``(registry name, config dict)`` for :func:`model_from_saved`.

    Raises:
        InputError: naming config.json (invalid config) or the weights file (they do not fit).
    """
    import torch

    from recast.models import checkpoint as ckpt

    name, config = ckpt.read_model_config(model_dir)
    try:
        with torch.device("meta"):
            skeleton = model_from_saved(name, config)
    except (OptionError, TypeError) as error:
        raise InputError(Path(model_dir) / ckpt.CONFIG_FILE, f"invalid model config: {error}") from None
    ckpt.check_weights_fit(model_dir, {f"model.{k}": tuple(v.shape) for k, v in skeleton.state_dict().items()})
    return name, config


def config_fields(name: str) -> list[str]:
    """The config field names a registry name accepts (empty for fixed models)."""
    entry = get_entry(name)
    return [] if entry.fixed else [f.name for f in dataclasses.fields(entry.config_class)]


def config_options() -> tuple[OptionField, ...]:
    """Every model-config option of the registered families, once per name (the first family's wins)."""
    seen: dict[str, OptionField] = {}
    for entry in MODELS.values():
        for item in option_fields(entry.config_class):
            seen.setdefault(item.name, item)
    return tuple(seen.values())
