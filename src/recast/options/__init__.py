"""Options declared once: a spec on each dataclass field, from which everything else is generated.

A settings dataclass (``TrainSettings``, ``MergeSettings``, ``ExtractOptions``, the model configs)
declares each option with :func:`option` — type (from the annotation), default, help, range,
choices, help-panel group and whether it is fixed when a model is created. From that one
declaration:

* :func:`validate` checks an instance (types, ranges, choices; messages name the option);
* :func:`from_mapping` / :func:`load_toml` build instances from dicts and TOML files, refusing
  unknown keys;
* :func:`help_text` writes the help with its choices, range and default;
* :func:`json_schema` describes the options for forms (the studio);
* :func:`recast.options.cli.cli_options` generates the typer flags of a command.

Submodules: :mod:`~recast.options.spec` (the spec and the field list), :mod:`~recast.options.check`
(validation and loading), :mod:`~recast.options.describe` (help and JSON schema),
:mod:`~recast.options.cli` (typer flags; imported on demand).
"""

from recast.options.check import check_field, from_mapping, load_toml, unknown_keys, validate
from recast.options.describe import help_text, json_schema
from recast.options.spec import OptionField, OptionSpec, option, option_fields, select

__all__ = [
    "OptionField", "OptionSpec", "check_field", "from_mapping", "help_text", "json_schema", "load_toml", "option",
    "option_fields", "select", "unknown_keys", "validate",
]
