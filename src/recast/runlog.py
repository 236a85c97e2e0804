"""Run logs: every stage run leaves ``recast-<stage>.log`` in the folder it writes to.

>>> with run_log("ws/model/saehd", "train", ["recast", "train", "..."]):
...     train(options)

Library modules log through :mod:`logging` under the ``recast`` logger (they never print). While
a :func:`run_log` block is open, its records (INFO and up, from every ``recast.*`` logger) are
appended to the stage's log file, with a header naming the command, the recast version and the
time, and a last line saying how the run ended. Records are held in memory until the folder
exists and the stage logged something of its own, so a run refused while checking its options or
paths (a :class:`~recast.errors.RecastError` before any record of the stage) writes nothing, not
even into a folder that already exists.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from recast import __version__
from recast.errors import RecastError

LOGGER = "recast"
_RUN_LOGGER = f"{LOGGER}.run"
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class _FolderFileHandler(logging.Handler):
    """Appends records to ``folder/name`` once ``folder`` exists and the stage has logged a record of
    its own (not only :func:`run_log`'s header); buffers them until then."""

    def __init__(self, folder: Path, name: str) -> None:
        super().__init__(logging.INFO)
        self.path = folder / name
        self.buffer: list[str] = []
        self.started = False
        self.setFormatter(logging.Formatter(_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.buffer.append(self.format(record))
            self.started = self.started or record.name != _RUN_LOGGER
            if self.started:
                self.flush_buffer()
        except OSError:
            self.handleError(record)

    def flush_buffer(self) -> None:
        """Append the buffered records to the file if its folder exists."""
        if self.buffer and self.path.parent.is_dir():
            with open(self.path, "a", encoding="utf-8") as file:
                file.write("\n".join(self.buffer) + "\n")
            self.buffer.clear()


@contextmanager
def run_log(folder: str | Path, stage: str, command: Sequence[str] | None = None) -> Iterator[Path]:
    """Log this block's ``recast.*`` records to ``folder/recast-<stage>.log``; yields the log path.

    Args:
        folder: the stage's output folder (the log is written once it exists).
        stage: stage name, e.g. ``extract``.
        command: the command line to record (default: ``sys.argv``).
    """
    logger = logging.getLogger(LOGGER)
    handler = _FolderFileHandler(Path(folder), f"recast-{stage}.log")
    logger.addHandler(handler)
    previous = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    log = logging.getLogger(_RUN_LOGGER)
    started = time.monotonic()
    log.info("recast %s %s: %s", __version__, stage, " ".join(command if command is not None else sys.argv))
    try:
        yield handler.path
    except RecastError as error:
        refused = not handler.started
        log.info("%s stopped after %.1f s: %s: %s", stage, time.monotonic() - started, type(error).__name__, error)
        if refused:
            handler.buffer.clear()
        raise
    except BaseException as error:
        log.info("%s stopped after %.1f s: %s: %s", stage, time.monotonic() - started, type(error).__name__, error)
        handler.flush_buffer()
        raise
    else:
        log.info("%s finished in %.1f s", stage, time.monotonic() - started)
        handler.flush_buffer()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
