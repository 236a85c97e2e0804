"""Base of model configs: JSON primitives declared as options (no torch, so the CLI can read them)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from recast.errors import OptionError
from recast.faces.facetype import FaceType, parse_face_type
from recast.options import unknown_keys, validate

FACE_TYPES = tuple(face_type.value for face_type in FaceType)
"""Face type names a model config accepts (DeepFaceLab codes are parsed to these)."""

MODEL_GROUP = "Model (fixed when created)"
"""Help panel of model-config options."""


def face_type_name(value: str | FaceType) -> str:
    """A face type name or code (``wf``) → its name (``whole``); OptionError for unknown ones."""
    return parse_face_type(value).value


@dataclass
class ModelConfig:
    """Base for model configs: every field is an option fixed at creation; JSON round trip with checks."""

    OPTIONS_NOUN: ClassVar[str] = "model option"

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-safe dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Build and validate from a dict; unknown keys and wrong types raise :class:`OptionError`."""
        if not isinstance(values, dict):
            raise OptionError(f"a model config must be a table of name = value, got {str(values)[:40]!r}")
        unknown_keys(cls, values)
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        """Raise OptionError for values of the wrong type or out of range (subclasses add relations)."""
        validate(self)
