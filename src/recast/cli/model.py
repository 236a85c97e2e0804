"""``recast model backups|rollback``: a model folder's backups, and restoring one as its committed state."""

from __future__ import annotations

import shlex
from datetime import datetime
from pathlib import Path

import typer
from rich.markup import escape

from recast.cli.locks import writes_into
from recast.cli.progress import new_console
from recast.models.checkpoint import list_backups, read_model_config, read_state, rollback

model_app = typer.Typer(no_args_is_help=True, help="A model folder's backups: list them, roll back to one.")

_out = new_console(stderr=False, highlight=False)


@model_app.command("backups")
def backups_command(model_dir: Path = typer.Argument(..., help="Model folder.")) -> None:
    """List MODEL_DIR's backups, newest first: name, iteration, when it was written (local time).

    Training writes them every --autobackup-hours; a rollback keeps the state it replaces as kept-….
    """
    read_model_config(model_dir)  # a folder that is not a model: one-line error naming it
    found = list_backups(model_dir)
    if not found:
        _out.print("no backups")
        return
    # plain lines, never wrapped or cut: a name is what `recast model rollback` is given
    _out.print(f"backups of {escape(str(model_dir))}, newest first:", soft_wrap=True)
    width = max(len(entry["name"]) for entry in found)
    for entry in found:
        when = datetime.fromtimestamp(entry["time"]).strftime("%Y-%m-%d %H:%M:%S")
        line = f"  {entry['name'].ljust(width)}  iteration {entry['iteration']:>9,}  {when}"
        _out.print(escape(line), soft_wrap=True)


@model_app.command("rollback")
@writes_into("model_dir", what="recast model rollback")
def rollback_command(
    model_dir: Path = typer.Argument(..., help="Model folder."),
    name: str = typer.Argument(..., help="The backup to restore (a name from `recast model backups`)."),
) -> None:
    """Make backup NAME MODEL_DIR's committed state (checkpoint, state.json, config.json).

    The state it replaces is first kept as a backup itself (printed), so a rollback is undone by rolling
    back to that one. Refused while the model trains (the workspace is in use).
    """
    read_model_config(model_dir)
    kept = rollback(model_dir, name)
    state = read_state(model_dir) or {}
    _out.print(f"{escape(str(model_dir))} is at backup {escape(name)} (iteration {state.get('iteration', 0)})",
               soft_wrap=True)
    _out.print(f"the replaced state is kept in {escape(str(kept))}", soft_wrap=True)
    _out.print(f"undo: recast model rollback {escape(shlex.quote(str(model_dir)))} {escape(kept.name)}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the ``model`` group to the app."""
    app.add_typer(model_app, name="model")
