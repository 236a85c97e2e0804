"""Typer flags generated from option specs.

:func:`cli_options` adds one flag per option to a typer command and hands the command the values the
user gave, as a dict, in one parameter::

    @app.command("merge")
    @cli_options("overrides", option_fields(MergeSettings))
    def merge_command(model_dir: Path = typer.Option(...), overrides: dict[str, Any] | None = None): ...

Every generated flag defaults to None ("not given"), so the command passes on only what was given
and the library's own defaults and layering (config file, saved settings) stay in one place. Flag
names, help text (with choices, range and default) and help panels come from the specs; values are
validated by the library (:func:`recast.options.validate`), not by click, so messages are the same
from the command line, a config file and the API.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import typer

from recast.options.describe import help_text
from recast.options.spec import OptionField

F = TypeVar("F", bound=Callable[..., Any])


def _annotation(item: OptionField) -> Any:
    kind: Any = str if item.is_enum else item.kind
    return list[kind] | None if item.is_list else kind | None


def flag_declaration(item: OptionField) -> str:
    """``--name`` or, for a bool, ``--name/--no-name``."""
    return f"--{item.flag}/--no-{item.flag}" if item.kind is bool and not item.is_list else f"--{item.flag}"


def cli_parameter(item: OptionField, default: str | None = None) -> inspect.Parameter:
    """The keyword-only parameter typer turns into ``item``'s flag (``default`` words the help's default)."""
    info = typer.Option(None, flag_declaration(item), help=help_text(item, default),
                        rich_help_panel=item.spec.group or None, show_default=False)
    return inspect.Parameter(item.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=_annotation(item))


def cli_options(target: str, items: Iterable[OptionField],
                default: Callable[[OptionField], str | None] = lambda item: None) -> Callable[[F], F]:
    """Decorate a typer command: add a flag per option and pass the given values as ``target``.

    Args:
        target: name of the command's parameter that receives ``{field name: value}`` of the flags
            given (None and empty lists are "not given").
        items: the options (see :func:`recast.options.option_fields`); names must not clash with the
            command's own parameters.
        default: words for an option's default in its help (None = the declared default).
    """
    items = tuple(items)

    def decorate(func: F) -> F:
        signature = inspect.signature(func, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != target]
        clash = {p.name for p in own} & {item.name for item in items}
        if clash:
            raise TypeError(f"{func.__name__}: generated flags clash with parameters {sorted(clash)}")
        generated = [cli_parameter(item, default(item)) for item in items]

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            given = {item.name: kwargs.pop(item.name) for item in items}
            kwargs[target] = {k: v for k, v in given.items() if v is not None and v != []}
            return func(**kwargs)

        parameters = [*own, *generated]
        command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        return command  # type: ignore[return-value]

    return decorate

