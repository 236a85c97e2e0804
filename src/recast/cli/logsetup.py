"""Where the CLI sends the library's log records: the console (warnings; ``-v`` info, ``-vv`` debug)
and, with ``--log-file``, a file (everything)."""

from __future__ import annotations

import logging
from pathlib import Path

from rich.markup import escape

from recast.cli.progress import console
from recast.runlog import LOGGER

_LEVEL_STYLES = {"DEBUG": "dim", "INFO": "cyan", "WARNING": "yellow", "ERROR": "red", "CRITICAL": "red"}


class _CliHandler(logging.Handler):
    """``level: message`` on the console, one line never broken by the CLI (a path or command in it copies whole).

    Its type marks the handlers the CLI installs, so a second invocation in one process replaces them.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            style = _LEVEL_STYLES.get(record.levelname, "")
            console.print(f"[{style}]{record.levelname.lower()}[/]: {escape(record.getMessage())}", highlight=False)
        except Exception:  # a logging handler must never raise into the code that logged
            self.handleError(record)


def _not_from_the_cli(record: logging.LogRecord) -> bool:
    """The CLI's own records (``recast.cli.*``, ``recast.run``) go to log files; the console already shows them."""
    return not record.name.startswith(("recast.cli", "recast.run"))


class _CliFileHandler(logging.FileHandler):
    """The ``--log-file`` handler."""


def configure_logging(verbose: int, log_file: Path | None) -> None:
    """Install the console handler (level by ``verbose``) and the optional ``--log-file`` handler."""
    logger = logging.getLogger(LOGGER)
    for handler in [h for h in logger.handlers if isinstance(h, (_CliHandler, _CliFileHandler))]:
        logger.removeHandler(handler)
        handler.close()
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    console_handler = _CliHandler()
    console_handler.setLevel(level)
    console_handler.addFilter(_not_from_the_cli)
    logger.addHandler(console_handler)
    logger.setLevel(logging.DEBUG if log_file is not None else min(level, logging.INFO))
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = _CliFileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
        logger.addHandler(file_handler)
