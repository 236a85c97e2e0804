"""The ``recast`` command line: one sub-command per stage, thin wrappers over library functions.

Library code raises :class:`recast.errors.RecastError` for problems the user can fix; this
module turns them into a one-line ``error: …`` message and exit status 1.
"""

from __future__ import annotations

import sys

import typer

from recast import DISTRIBUTION, __version__
from recast.cli import evaluate, extract, faceset, media, merge, pipeline, provenance, train, workspace
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
) -> None:
    """recast: face replacement in video (extract → train → merge → video). COMMAND --help for each stage."""

# One line per stage module (each adds its commands).
workspace.register(app)
pipeline.register(app)
extract.register(app)
media.register(app)
merge.register(app)
faceset.register(app)
train.register(app)
provenance.register(app)
evaluate.register(app)


def main() -> None:
    """Console-script entry point: run the app, reporting user errors in one line."""
    try:
        app()
    except RecastError as error:
        typer.secho(f"error: {error}", err=True, fg="red")
        sys.exit(1)
