"""Atomic file writes: write to a temporary file beside the target, fsync, then rename.

A crash or ``kill -9`` in the middle of a write leaves either the old file or the new one,
never a half-written file under the final name. Reads of untrusted paths go through
:func:`open_regular` / :func:`read_regular`, which refuse a FIFO, device or socket without blocking.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from glob import escape as glob_escape
from pathlib import Path
from typing import BinaryIO

from recast.errors import InputError

_TEMP_NAME = re.compile(r"\..*\.[a-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)?")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success, move it onto ``path``.

    The temporary file keeps the target's suffix so writers that choose a format by extension
    (OpenCV, PyAV) still work. On an exception the temporary file is removed and the target is
    untouched; an ``OSError`` (disk full, read-only, a file in the way) becomes an
    :class:`InputError` naming ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    except OSError as error:
        raise write_error(path, error) from None
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise write_error(path, error) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def make_folder(path: str | Path) -> Path:
    """``mkdir -p path``; a failure (a file in the way, read-only, no space) is an :class:`InputError`."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise write_error(path, error) from None
    return path


def write_error(path: str | Path, error: OSError) -> InputError:
    """A one-line :class:`InputError` for a failed write: disk full, read-only, a file where a folder
    is expected, no permission."""
    reason = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
              errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
              errno.EEXIST: "a file is in the way of a folder", errno.ENOTDIR: "a file is in the way of a folder",
              errno.EISDIR: "a folder is in the way of the file"}.get(error.errno or 0)
    return InputError(path, f"cannot write: {reason or error.strerror or error}")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Remove the temporary files of :func:`atomic_path` that a killed run left in ``folder``.

    Only names :func:`atomic_path` makes (``.<stem>.<8 random chars>.tmp<suffix>``) are removed;
    call it at the start of a stage, when no other writer uses the folder. Returns what was removed.
    """
    removed = []
    for path in Path(folder).glob(".*.tmp*"):
        if _TEMP_NAME.fullmatch(path.name) and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def open_regular(path: str | Path) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file; never blocks on a FIFO.

    The file is opened non-blocking and checked with ``fstat`` (no race with a swapped path),
    then switched back to blocking reads.

    Raises:
        InputError: missing, a folder, a FIFO, device or socket, or unreadable.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror or error}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise InputError(path, "is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise InputError(path, "not a regular file (a FIFO, device or socket is refused)")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | Path) -> bytes:
    """The bytes of regular file ``path`` (see :func:`open_regular`); read errors are an :class:`InputError`."""
    with open_regular(path) as handle:
        try:
            return handle.read()
        except OSError as error:
            raise InputError(path, f"cannot read: {error.strerror or error}") from None


def remove_stale_temp_files_of(path: str | Path) -> list[Path]:
    """Remove the temporary files :func:`atomic_path` made for ``path`` in a run that was killed.

    Only ``.<stem>.<8 random chars>.tmp<suffix>`` beside ``path`` are removed (never another
    output's); call it before writing ``path`` again. Returns what was removed.
    """
    path = Path(path)
    pattern = re.compile(re.escape(f".{path.stem}.") + r"[a-z0-9_]{8}" + re.escape(f".tmp{path.suffix}"))
    removed = []
    for candidate in path.parent.glob(f".{glob_escape(path.stem)}.*.tmp*"):
        if pattern.fullmatch(candidate.name) and candidate.is_file():
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename inside it) to disk; errors are ignored."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
