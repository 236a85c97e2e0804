"""Output-path safety: no command may write over one of its own inputs, ``--force`` or not, and a
forced result never destroys the one it replaces.

Every stage that writes files calls :func:`check_outputs_not_inputs` with all the paths it will
write (result, mask video, sidecar, output and workspace folders) and all the paths it reads
(videos, frame folders, audio source, reference photos, model folder), before it writes anything.
A forced render (``recast merge --force`` to a video, the studio's render with ``force``) first
moves the old result aside with :func:`move_aside` (and :func:`put_back` if the render fails).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from recast.errors import InputError


def check_outputs_not_inputs(outputs: Iterable[str | Path | None], inputs: Iterable[str | Path | None]) -> None:
    """Raise if any output is (or would replace) any input.

    Paths are compared after resolving symbolic links and ``..``; existing files are also compared
    by identity, so a hard link or a differently spelled path to the same file is caught. ``None``
    entries are skipped (optional paths).

    Raises:
        InputError: naming the output and the input it would replace.
    """
    sources = [Path(p) for p in inputs if p is not None]
    resolved = [(p, _resolve(p)) for p in sources]
    for output in (Path(p) for p in outputs if p is not None):
        target = _resolve(output)
        for source, source_resolved in resolved:
            if target == source_resolved or _same_file(output, source):
                raise InputError(output, f"is also an input ({source}); choose another output "
                                         "(--force never replaces an input)")


def _resolve(path: Path) -> Path:
    return Path(os.path.normcase(path.expanduser().resolve(strict=False)))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


BACKUP_DIR = Path(".recast") / "backup"
"""Where a forced render moves the result it replaces: ``<root>/.recast/backup/<time>/``, keeping the
files' places under ``root`` (the workspace, or the result's folder outside one)."""


def move_aside(root: Path, paths: Iterable[Path]) -> Path | None:
    """Move the existing ``paths`` (inside ``root``) into a fresh ``root/`` :data:`BACKUP_DIR` ``/<time>/``;
    returns that folder, or None when none of them exists."""
    root = Path(root).resolve()
    existing = [Path(path).resolve() for path in paths if Path(path).exists()]
    if not existing:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder, suffix = root / BACKUP_DIR / stamp, 1
    while folder.exists():
        suffix += 1
        folder = root / BACKUP_DIR / f"{stamp}~{suffix}"
    folder.mkdir(parents=True)
    for path in existing:
        target = folder / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
    return folder


@contextmanager
def kept_aside(root: Path, paths: Iterable[Path], enabled: bool = True) -> Iterator[Path | None]:
    """While the body runs, the existing ``paths`` wait in a backup folder (:func:`move_aside`; yielded, or
    None when nothing was moved or ``enabled`` is false); they come back if the body fails."""
    backup = move_aside(root, paths) if enabled else None
    try:
        yield backup
    except BaseException:
        if backup is not None:
            put_back(root, backup)
        raise


def put_back(root: Path, folder: Path) -> None:
    """Undo :func:`move_aside`: every file in ``folder`` back to its place under ``root``."""
    root = Path(root).resolve()
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            target = root / path.relative_to(folder)
            target.unlink(missing_ok=True)
            shutil.move(path, target)
