"""The option spec attached to a dataclass field, and the resolved list of a class's options.

Declare an option with :func:`option` in place of ``dataclasses.field``::

    @dataclass
    class Settings:
        OPTIONS_NOUN: ClassVar[str] = "example setting"
        blur: int = option(0, "Mask feather, DFL units.", ge=0, le=400, group="Mask")

The field's type comes from its annotation: ``bool``, ``int``, ``float``, ``str``, ``Path``, a
``StrEnum``, ``list[X]`` of one of those, each optionally ``| None``. Fields declared with plain
``dataclasses.field`` are not options (no flag, no validation, no form entry).

Two optional class attributes name things in messages: ``OPTIONS_NOUN`` (``"merge setting"``; used
for unknown keys) and ``OPTIONS_LABEL``, a format of ``{noun}``, ``{name}`` and ``{flag}`` naming
one option (default ``"{name}"``; ``"{flag}"`` names it as the command-line flag).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SPEC_KEY = "recast.option"
"""Key of the :class:`OptionSpec` in a dataclass field's ``metadata``."""

SCALARS: tuple[type, ...] = (bool, int, float, str, Path)
"""Value types an option may have besides a ``StrEnum`` (and lists of these)."""


@dataclass(frozen=True)
class OptionSpec:
    """What a field declares beyond its type and default.

    Attributes:
        help: one-line description (choices, range and default are appended by :func:`help_text`).
        ge / gt / le / lt: inclusive or exclusive numeric bounds (None = unbounded).
        multiple_of: the value must be a multiple of this (e.g. 2 for even channel counts).
        choices: allowed values, or a function returning them (called when checked, so a registry
            can be consulted lazily).
        parse: turns an accepted input into the stored value (e.g. a face-type code into its name);
            it raises :class:`recast.errors.OptionError` for input it refuses.
        group: heading the option is listed under (help panel, form section).
        fixed: fixed when a model is created (stored in ``config.json``, not changeable on resume).
        flag: command-line flag name without dashes (default: the field name with ``-`` for ``_``).
        default_text: how to show a default that is not a plain value (e.g. ``"automatic"`` for None).
    """

    help: str
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    multiple_of: int | None = None
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None
    parse: Callable[[Any], Any] | None = None
    group: str = ""
    fixed: bool = False
    flag: str | None = None
    default_text: str | None = None

    def allowed(self) -> tuple[str, ...] | None:
        """The choices, calling the function form."""
        return self.choices() if callable(self.choices) else self.choices


def option(default: Any = dataclasses.MISSING, help: str = "", *, default_factory: Any = dataclasses.MISSING,
           **spec: Any) -> Any:
    """A dataclass field declared as an option: ``field(default=..., metadata={SPEC_KEY: OptionSpec(...)})``.

    ``spec`` takes the keyword arguments of :class:`OptionSpec`. Mutable defaults go in
    ``default_factory`` as with ``dataclasses.field``.
    """
    metadata = {SPEC_KEY: OptionSpec(help, **spec)}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class OptionField:
    """One option of a settings class, resolved from its field.

    Attributes:
        name: field name. kind: value type (one of :data:`SCALARS` or a ``StrEnum``).
        nullable: None is accepted. is_list: the value is a list of ``kind``.
        default: the default value (``default_factory`` called). spec: the declaration.
    """

    name: str
    kind: type
    nullable: bool
    is_list: bool
    default: Any
    spec: OptionSpec

    @property
    def flag(self) -> str:
        """The command-line flag without dashes, e.g. ``batch-size``."""
        return self.spec.flag or self.name.replace("_", "-")

    @property
    def is_enum(self) -> bool:
        """The kind is a ``StrEnum`` (stored as the member, given by name)."""
        return issubclass(self.kind, enum.Enum)


def _unpack(annotation: Any) -> tuple[type, bool, bool]:
    """``int | None`` → (int, nullable, not list); ``list[Path]`` → (Path, False, True)."""
    nullable = False
    args = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        rest = [a for a in args if a is not type(None)]
        nullable = len(rest) < len(args)
        if len(rest) != 1:
            raise TypeError(f"option type {annotation!r}: only X or X | None")
        annotation = rest[0]
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        return item, nullable, True
    if not (annotation in SCALARS or (isinstance(annotation, type) and issubclass(annotation, enum.Enum))):
        raise TypeError(f"option type {annotation!r} is not supported")
    return annotation, nullable, False


def option_fields(cls: type) -> tuple[OptionField, ...]:
    """The options of dataclass class ``cls``, in declaration order (resolved once per class)."""
    return _resolve(typing.cast(Hashable, cls))


def select(cls: type, *names: str) -> tuple[OptionField, ...]:
    """The options ``names`` of ``cls``, in that order (a command taking a subset of a shared class).

    Raises:
        KeyError: a name ``cls`` does not declare.
    """
    by_name = {item.name: item for item in option_fields(cls)}
    return tuple(by_name[name] for name in names)


@functools.cache
def _resolve(cls: Any) -> tuple[OptionField, ...]:
    hints = typing.get_type_hints(cls)
    out = []
    for item in dataclasses.fields(cls):
        spec = item.metadata.get(SPEC_KEY)
        if spec is None:
            continue
        kind, nullable, is_list = _unpack(hints[item.name])
        default = item.default_factory() if item.default_factory is not dataclasses.MISSING else item.default
        out.append(OptionField(item.name, kind, nullable, is_list, default, spec))
    return tuple(out)


def noun(cls: type) -> str:
    """What the class calls one of its options in messages (``OPTIONS_NOUN``, default ``"option"``)."""
    return str(getattr(cls, "OPTIONS_NOUN", "option"))


def label(cls: type, item: OptionField) -> str:
    """How messages name ``item`` (``OPTIONS_LABEL`` formatted; default: the field name)."""
    return str(getattr(cls, "OPTIONS_LABEL", "{name}")).format(noun=noun(cls), name=item.name, flag="--" + item.flag)
