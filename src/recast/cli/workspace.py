"""``recast workspace init|clear``."""

from __future__ import annotations

from pathlib import Path

import typer

from recast.cli.locks import writes_into
from recast.cli.progress import console
from recast.workspace import clear_plan, clear_workspace, init_workspace

workspace_app = typer.Typer(no_args_is_help=True, help="Create or clear a workspace folder.")


@workspace_app.command("init")
def init_command(root: Path = typer.Argument(..., help="Workspace folder.")) -> None:
    """Create the workspace folders (data_src/, data_dst/, model/ …)."""
    workspace = init_workspace(root)
    console.print(f"workspace ready: {workspace.root}")


@workspace_app.command("clear")
@writes_into("root", what="recast workspace clear")
def clear_command(
    root: Path = typer.Argument(..., help="Workspace folder."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
) -> None:
    """Delete everything except data_src.* and data_dst.* (asks first)."""
    plan = clear_plan(root)
    if not plan:
        console.print("nothing to clear")
        return
    if not yes:
        names = ", ".join(p.name for p in plan[:8]) + (" …" if len(plan) > 8 else "")
        typer.confirm(f"delete {len(plan)} items in {root} ({names})?", abort=True)
    clear_workspace(root)
    console.print(f"cleared {len(plan)} items; kept data_src.* and data_dst.*")


def register(app: typer.Typer) -> None:
    """Add the ``workspace`` group to the app."""
    app.add_typer(workspace_app, name="workspace")
