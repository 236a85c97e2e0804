"""``recast studio``: the local web app over a workspace."""

from __future__ import annotations

import webbrowser
from pathlib import Path

import typer

from recast.cli.progress import console

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def studio_command(
    workspace: Path = typer.Argument(Path("workspace"), help="Workspace folder (created if missing)."),
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="TCP port."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on. Anything but this machine "
                             "exposes your faces to the network: only with a reason."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a browser tab."),
) -> None:
    """Open the studio, a local web app for the whole workflow.

    Security: it listens on 127.0.0.1 only and answers only requests that carry the random token in
    the printed URL, with this machine's Host and Origin.
    """
    from recast.studio.app import StudioConfig
    from recast.studio.server import serve
    from recast.workspace import init_workspace

    init_workspace(workspace)
    config = StudioConfig(workspace=workspace.resolve(), host=host, port=port)
    if host not in LOCAL_HOSTS:
        console.print(f"[bold red]warning:[/] listening on {host}: anyone who can reach this machine and learns "
                      "the token can see and change this workspace")
    console.print(f"recast studio for {config.workspace}\nopen: {config.url}\n(Ctrl-C stops it)")
    if not no_browser:
        webbrowser.open(config.url)
    serve(config)


def register(app: typer.Typer) -> None:
    """Add ``studio`` to the app."""
    app.command("studio")(studio_command)
