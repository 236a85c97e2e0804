"""One writer per workspace: an advisory lock (``fcntl.flock``) on ``WORKSPACE/.recast.lock``.

The studio's job workers and the command line take the same lock, so a training started in the
studio and a ``recast merge`` typed in a terminal never write into one workspace at once. The lock
belongs to the process holding the file open; when that process dies the kernel releases it, so a
crash never leaves a stale lock. The file's text names the holder for the message others see.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from recast.errors import InputError

LOCK_NAME = ".recast.lock"


class WorkspaceBusy(InputError):
    """The workspace is locked by another process."""


def _take(handle: IO[str]) -> dict[str, object] | None:
    """Take the lock on open ``handle`` without waiting: None when taken, else the holder's record."""
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        try:
            holder = json.loads(handle.read() or "{}")
        except json.JSONDecodeError:
            holder = {}
        return holder if isinstance(holder, dict) else {}
    return None


def lock_holder(root: Path) -> dict[str, object] | None:
    """Who holds the lock of workspace ``root`` ({"pid", "what", "since"}), or None when it is free."""
    path = Path(root) / LOCK_NAME
    if not path.is_file():
        return None
    with path.open("a+") as handle:
        holder = _take(handle)
        if holder is None:
            fcntl.flock(handle, fcntl.LOCK_UN)
        return holder


@contextmanager
def workspace_lock(root: Path, what: str) -> Iterator[None]:
    """Hold workspace ``root``'s writer lock while the block runs; ``what`` says who (``"recast
    train"``, ``"studio job 3: train"``). Raises :class:`WorkspaceBusy` naming the holder at once
    (never waits) when another process has it."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "the workspace folder does not exist")
    handle = (root / LOCK_NAME).open("a+")
    try:
        holder = _take(handle)
        if holder is not None:
            who = f"{holder.get('what', 'another recast process')} (pid {holder.get('pid', '?')})"
            raise WorkspaceBusy(root, f"the workspace is in use by {who}; wait for it to finish or stop it")
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "what": what, "since": time.time()}))
        handle.flush()
        yield
    finally:
        handle.close()
