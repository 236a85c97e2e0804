"""The ``recast`` command line: one sub-command per stage, thin wrappers over library functions.

Library code raises :class:`recast.errors.RecastError` for problems the user can fix; this
module turns them into a one-line ``error: …`` message and exit status 1.
"""

from __future__ import annotations

import sys

import typer

from recast.cli import evaluate, export, extract, faceset, live, media, merge, pipeline, provenance, train, workspace
from recast.errors import RecastError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="recast: face replacement in video.")

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
export.register(app)
live.register(app)


def main() -> None:
    """Console-script entry point: run the app, reporting user errors in one line."""
    try:
        app()
    except RecastError as error:
        typer.secho(f"error: {error}", err=True, fg="red")
        sys.exit(1)
