"""Validation and loading of option dataclasses: one mechanism for every settings class.

Messages name the option (see :func:`recast.options.spec.label`) and say what is wrong:

* ``batch_size must be an integer, got 2.5`` (type; a bool is not a number, a float not an integer,
  numbers must be finite);
* ``merge setting mode='paste' is not one of original, overlay, …`` (choices);
* ``merge setting erode=500 is outside -400…400`` (both bounds; ``(0, 1]`` notation when a bound is
  exclusive), ``workers=0 must be ≥ 1`` (one bound), ``e_dims=3 must be a multiple of 2``;
* ``unknown training setting 'size'; known: …`` (keys of a dict or TOML file).
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from recast.errors import InputError, OptionError
from recast.options.spec import OptionField, label, noun, option_fields

T = TypeVar("T")

_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string", Path: "a path"}


def _type_ok(item: OptionField, value: Any) -> bool:
    kind = item.kind
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind is int:
        return isinstance(value, int)
    if kind is float:
        return isinstance(value, (int, float))
    if kind is Path:
        return isinstance(value, (str, os.PathLike))
    if item.is_enum:
        return isinstance(value, str)
    return isinstance(value, kind)


def range_text(item: OptionField) -> str:
    """The allowed range as shown in help and messages: ``0…400``, ``(0, 1]``, ``≥ 1`` or ``""``."""
    s = item.spec
    low, high = (s.ge if s.ge is not None else s.gt), (s.le if s.le is not None else s.lt)
    if low is not None and high is not None:
        if s.gt is None and s.lt is None:
            return f"{low}…{high}"
        return f"{'(' if s.gt is not None else '['}{low}, {high}{')' if s.lt is not None else ']'}"
    if low is not None:
        return f"{'>' if s.gt is not None else '≥'} {low}"
    if high is not None:
        return f"{'<' if s.lt is not None else '≤'} {high}"
    return ""


def _in_range(item: OptionField, value: float) -> bool:
    s = item.spec
    return ((s.ge is None or value >= s.ge) and (s.gt is None or value > s.gt)
            and (s.le is None or value <= s.le) and (s.lt is None or value < s.lt))


def check_value(cls: type, item: OptionField, value: Any) -> Any:
    """The value to store for option ``item`` of ``cls`` (parsed), or :class:`OptionError` naming it."""
    name = label(cls, item)
    if value is None and item.nullable:
        return None
    if item.is_list:
        if not isinstance(value, (list, tuple)):
            raise OptionError(f"{name} must be a list, got {str(value)[:40]!r}")
        return [check_value(cls, dataclasses.replace(item, is_list=False, nullable=False), v) for v in value]
    if not _type_ok(item, value):
        word = "a name" if item.is_enum else _TYPE_WORDS[item.kind]
        raise OptionError(f"{name} must be {word}, got {str(value)[:40]!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise OptionError(f"{name} must be finite, got {value!r}")
    spec = item.spec
    if spec.parse is not None:
        try:
            value = spec.parse(value)
        except OptionError as error:
            message = str(error)
            raise OptionError(message if message.startswith(item.name) else f"{name}: {message}") from None
    allowed = spec.allowed()
    if allowed is not None and str(value) not in allowed:
        raise OptionError(f"{name}={value!r} is not one of {', '.join(allowed)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not _in_range(item, value):
            two_sided = (spec.ge, spec.gt) != (None, None) and (spec.le, spec.lt) != (None, None)
            raise OptionError(f"{name}={value!r} {'is outside' if two_sided else 'must be'} {range_text(item)}")
        if spec.multiple_of and value % spec.multiple_of:
            raise OptionError(f"{name}={value!r} must be a multiple of {spec.multiple_of}")
    return value


def validate(obj: Any) -> None:
    """Check every option of dataclass instance ``obj``; parsed values are stored back (frozen ones too).

    Raises:
        OptionError: the first option of the wrong type, out of range or not among its choices.
    """
    cls = type(obj)
    for item in option_fields(cls):
        value = getattr(obj, item.name)
        checked = check_value(cls, item, value)
        if checked is not value:
            object.__setattr__(obj, item.name, checked)


def check_field(obj: Any, name: str) -> None:
    """Check the one option ``name`` of ``obj`` and store its parsed value (e.g. in ``__post_init__``)."""
    cls = type(obj)
    item = next(item for item in option_fields(cls) if item.name == name)
    object.__setattr__(obj, name, check_value(cls, item, getattr(obj, name)))


def unknown_keys(cls: type, keys: Iterable[Any]) -> None:
    """Raise :class:`OptionError` naming the keys that are not fields of ``cls``."""
    known = {item.name for item in dataclasses.fields(cls)}
    unknown = sorted(str(key) for key in keys if key not in known)
    if unknown:
        names = ", ".join(repr(key) for key in unknown)
        raise OptionError(f"unknown {noun(cls)} {names}; known: {', '.join(sorted(known))}")


def from_mapping(cls: type[T], data: Any, base: T | None = None) -> T:
    """An instance of ``cls`` from ``data`` (a partial mapping) over ``base`` (or the defaults), validated.

    Raises:
        OptionError: ``data`` is not a mapping, names an unknown key, or holds an invalid value.
    """
    if not isinstance(data, Mapping):
        raise OptionError(f"{noun(cls)}s must be a table of name = value, got {str(data)[:40]!r}")
    unknown_keys(cls, data)
    obj = dataclasses.replace(base, **data) if base is not None else cls(**data)  # type: ignore[type-var]
    validate(obj)
    return obj


def load_toml(path: str | Path, tables: tuple[str, ...] = ()) -> dict[str, Any]:
    """A TOML file as one flat dict; keys in the named ``tables`` (e.g. ``[model]``) are lifted to the top.

    Raises:
        InputError: naming the file when it cannot be read or parsed.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise InputError(path, f"cannot read TOML config: {error}") from None
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key in tables:
            flat.update(value)
        else:
            flat[key] = value
    return flat
