"""Help text and a JSON-schema description of option classes, both generated from the specs."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

from recast.options.check import range_text
from recast.options.spec import OptionField, option_fields

_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", Path: "string"}


def default_text(item: OptionField) -> str:
    """The default as help shows it: ``on``/``off`` for flags, the value's name, or the spec's wording."""
    if item.spec.default_text is not None:
        return item.spec.default_text
    value = item.default
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, list):
        return "none" if not value else ", ".join(map(str, value))
    return "none" if value is None else str(value)


def help_text(item: OptionField, default: str | None = None) -> str:
    """``"<help>; a|b|c [default]."`` or ``"<help>; 0…400 [default]."``; ``default`` replaces the default's text.

    Options fixed when a model is created start with ``"Fixed when the model is created:"``.
    """
    text = item.spec.help.rstrip(".")
    if item.spec.fixed:
        text = "Fixed when the model is created: " + text[:1].lower() + text[1:]
    allowed = item.spec.allowed()
    if allowed is not None:
        text += f"; {'|'.join(allowed)}"
    elif range_text(item):
        text += f"; {range_text(item)}"
    return f"{text} [{default_text(item) if default is None else default}]."


def _json_value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def json_schema(cls: type) -> dict[str, Any]:
    """A JSON-schema (draft 2020-12 subset) object describing the options of ``cls``, for generated forms.

    Every property has ``type``, ``default``, ``description`` and, where declared, ``enum``,
    ``minimum``/``maximum`` (``exclusive…``), ``multipleOf``; recast's own keys are ``x-group``,
    ``x-fixed`` and ``x-flag``.
    """
    properties: dict[str, Any] = {}
    for item in option_fields(cls):
        spec = item.spec
        kind = "string" if item.is_enum else _JSON_TYPES[item.kind]
        entry: dict[str, Any] = {"type": kind, "default": _json_value(item.default), "description": spec.help,
                                 "x-group": spec.group, "x-fixed": spec.fixed, "x-flag": "--" + item.flag}
        if item.is_list:
            entry["type"], entry["items"] = "array", {"type": kind}
        if item.nullable:
            entry["type"] = [entry["type"], "null"]
        allowed = spec.allowed()
        if allowed is not None:
            entry["enum"] = list(allowed)
        for key, bound in (("minimum", spec.ge), ("exclusiveMinimum", spec.gt), ("maximum", spec.le),
                           ("exclusiveMaximum", spec.lt), ("multipleOf", spec.multiple_of)):
            if bound is not None:
                entry[key] = bound
        properties[item.name] = entry
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": cls.__name__,
            "description": (cls.__doc__ or "").strip().split("\n")[0], "type": "object",
            "properties": properties, "additionalProperties": False}
