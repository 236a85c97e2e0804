"""Faceset folders on disk: listing faces, parallel per-face work."""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from recast.atomic import fsync_dir, make_folder
from recast.errors import InputError, MetadataError
from recast.faces.aligned import is_face_file
from recast.runtime.threads import plan_threads
from recast.workers import init_pool_worker

T = TypeVar("T")
ProgressCallback = Callable[[int, int | None], None]

PACK_NAME = "faceset.rfs"
_DIGITS = re.compile(r"(\d+)")
_POOL_MIN = 256  # below this, starting worker processes costs more than it saves
_CHUNK = 32


def natural_key(name: str) -> list[int | str]:
    """Sort key that puts ``2.jpg`` before ``10.jpg``."""
    parts = _DIGITS.split(name)
    return [int(part) if i % 2 else part.lower() for i, part in enumerate(parts)]


def list_faces(folder: str | Path) -> list[Path]:
    """Face image files (.jpg/.jpeg/.png) directly in ``folder``, natural order; hidden files skipped.

    Raises:
        InputError: ``folder`` is missing or not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "no such folder" if not folder.exists() else "is not a folder")
    files = [p for p in folder.iterdir() if p.is_file() and is_face_file(p) and not p.name.startswith(".")]
    return sorted(files, key=lambda p: natural_key(p.name))


def require_faces(folder: str | Path) -> list[Path]:
    """:func:`list_faces`, raising :class:`InputError` when there are none (saying so if the folder is packed)."""
    paths = list_faces(folder)
    if not paths:
        if (Path(folder) / PACK_NAME).is_file():
            raise InputError(folder, f"is packed ({PACK_NAME}); run `recast faceset unpack` first")
        raise InputError(folder, "holds no aligned faces (.jpg/.png)")
    return paths


def trash_dir(folder: Path) -> Path:
    """``<folder>_trash`` beside ``folder``: where tools move the files they reject."""
    return folder.with_name(folder.name + "_trash")


def backup_faces(folder: Path, paths: Sequence[Path], reason: str) -> Path:
    """Copy ``paths`` (files of ``folder``) into a new ``<folder>_backup/<reason>-<time>[-n]/`` and return it.

    Tools call this before they change faces in place, so nothing the user made is lost.
    """
    root = make_folder(Path(folder).with_name(Path(folder).name + "_backup"))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target, n = root / f"{reason}-{stamp}", 1
    while target.exists():
        n += 1
        target = root / f"{reason}-{stamp}-{n}"
    tmp = root / f".tmp-{target.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for path in paths:
        shutil.copy2(path, tmp / path.name)
    tmp.rename(target)
    fsync_dir(root)
    return target


@dataclass
class Failure:
    """A user-fixable problem found in a worker process (exceptions with custom constructors do not
    survive the trip back, so workers return this instead and :func:`map_faces` re-raises it)."""

    path: str
    problem: str
    metadata: bool


def guarded(fn: Callable[[Path], T], path: Path) -> T | Failure:
    """Run ``fn(path)``, turning :class:`InputError` into a :class:`Failure` value."""
    try:
        return fn(path)
    except InputError as error:
        return Failure(str(error.path), error.problem, isinstance(error, MetadataError))


def _run_chunk(fn: Callable[[Path], Any], paths: Sequence[Path]) -> list[Any]:
    return [guarded(fn, p) for p in paths]


def map_faces(
    fn: Callable[[Path], T], paths: Sequence[Path], workers: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> list[T]:
    """``[fn(p) for p in paths]`` over a process pool (``fn`` must be a module-level function).

    ``workers`` processes (None: the thread plan's analysis workers, :mod:`recast.runtime.threads`),
    each single-threaded.

    Raises the first :class:`InputError` / :class:`MetadataError` any call raised, naming its file.
    """
    total = len(paths)
    results: list[Any] = []
    workers = plan_threads().analysis_workers if workers is None else workers
    if workers <= 1 or total < _POOL_MIN:
        for i, path in enumerate(paths):
            results.append(guarded(fn, path))
            if on_progress is not None and (i % 64 == 0 or i == total - 1):
                on_progress(i + 1, total)
    else:
        chunks = [paths[i : i + _CHUNK] for i in range(0, total, _CHUNK)]
        # spawn, not fork: a forked child inherits OpenCV's and dlib's thread pools mid-state and can hang
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=init_pool_worker, initargs=(os.getpid(),)) as pool:
            for part in pool.map(_run_chunk, [fn] * len(chunks), chunks):
                results.extend(part)
                if on_progress is not None:
                    on_progress(len(results), total)
    failures = [r for r in results if isinstance(r, Failure)]
    if failures:
        first = failures[0]
        more = f" (and {len(failures) - 1} more files)" if len(failures) > 1 else ""
        cls = MetadataError if first.metadata else InputError
        raise cls(first.path, first.problem + more)
    return results


def trash_moves(folder: Path, names: Sequence[str], originals: dict[str, str]) -> list[tuple[str, str]]:
    """Journal moves sending ``names`` (files of ``folder``) to ``<folder>_trash`` under their original
    names, numbered ``_1``, ``_2`` … where the trash already holds that name."""
    trash = trash_dir(folder)
    taken = {p.name for p in trash.iterdir()} if trash.is_dir() else set()
    moves = []
    for name in names:
        original = Path(originals.get(name, name))
        target, n = original.name, 1
        while target in taken:
            target = f"{original.stem}_{n}{original.suffix}"
            n += 1
        taken.add(target)
        moves.append((name, f"../{trash.name}/{target}"))
    return moves
