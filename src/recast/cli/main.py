"""The ``recast`` command line: one sub-command per stage, thin wrappers over library functions.

Library code raises :class:`recast.errors.RecastError` for problems the user can fix; this
module turns them into a one-line ``error: …`` message and exit status 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from recast import DISTRIBUTION, __version__
from recast.cli import (
    enhance,
    evaluate,
    export,
    extract,
    faceset,
    live,
    media,
    merge,
    model,
    pipeline,
    provenance,
    studio,
    train,
    workspace,
    xseg,
)
from recast.cli.logsetup import configure_logging
from recast.errors import RecastError

# Plain help text (rich_markup_mode=None): rich markup would swallow "[default]" and "pkg[extra]".
app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="recast: face replacement in video.",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"recast {__version__} (PyPI: {DISTRIBUTION})")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                 help="Show the version and exit."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="Show the library's log on the console: "
                                "-v info, -vv debug (default: warnings only)."),
    log_file: Path | None = typer.Option(None, "--log-file", help="Also append the full (debug) log to this file. "
                                         "Every stage also writes recast-<stage>.log into its output folder."),
) -> None:
    """recast: face replacement in video (extract → train → merge → video). COMMAND --help for each stage."""
    configure_logging(verbose, log_file)

# One line per stage module (each adds its commands).
workspace.register(app)
pipeline.register(app)
extract.register(app)
media.register(app)
merge.register(app)
faceset.register(app)
train.register(app)
model.register(app)
enhance.register(app)
provenance.register(app)
evaluate.register(app)
export.register(app)
live.register(app)
studio.register(app)
xseg.register(app)


def main() -> None:
    """Console-script entry point: run the app, reporting user errors in one line."""
    try:
        app()
    except RecastError as error:
        typer.secho(f"error: {error}", err=True, fg="red")
        sys.exit(1)
