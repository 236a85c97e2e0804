"""Names from requests → paths inside the workspace; nothing outside it is ever read or written.

:func:`inside` is the one containment check, for the routes and the task options alike; it raises
:class:`NotInWorkspace`, an :class:`~recast.errors.InputError` that the app answers with 404.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from recast.errors import InputError, OptionError

FACESETS = {"src": "data_src/aligned", "dst": "data_dst/aligned"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class NotInWorkspace(InputError, OptionError):
    """A name that leads outside the workspace or is no plain name: an input that is no file of the
    workspace, and (for a task's options) an option value that is refused. Answered with 404."""


def inside(root: Path, *parts: str, what: str | None = None) -> Path:
    """``root/parts…`` resolved; :class:`NotInWorkspace` when it would leave ``root`` (``..``, absolute
    parts, symlinks pointing out) or a part is empty or contains a NUL. Nothing needs to exist.
    ``what``: the option that named the path, for the message (None: "no such file")."""
    shown = "/".join(parts)[:80]
    problem = "no such file in the workspace" if what is None else f"{what} must name a file inside the workspace"
    if any(not part or "\x00" in part or part.startswith(("/", "\\")) for part in parts):
        raise NotInWorkspace(shown, problem)
    base = Path(root).resolve()
    path = base.joinpath(*parts).resolve()
    if path != base and base not in path.parents:
        raise NotInWorkspace(shown, problem)
    return path


def check_name(value: Any, what: str = "model") -> str:
    """``value`` as a plain file or folder name (letters, digits, ``.``, ``_``, ``-``; no path), or OptionError."""
    if not isinstance(value, str) or not _NAME.fullmatch(value) or value in (".", ".."):
        raise OptionError(f"{what} must be a plain name (letters, digits, '.', '_', '-'), got {str(value)[:40]!r}")
    return value


def named(root: Path, folder: str, name: str, what: str, suffix: str = "") -> Path:
    """``root/folder/<name><suffix>`` for a plain ``name`` (:func:`check_name`), else :class:`NotInWorkspace`."""
    try:
        check_name(name, what)
    except OptionError as error:
        raise NotInWorkspace(name[:40], f"no such {what}: {error}") from None
    return inside(root, *folder.split("/"), name + suffix)


def faceset_dir(root: Path, side: str) -> Path:
    """The aligned-face folder of ``side`` (``src`` or ``dst``), or :class:`NotInWorkspace`."""
    if side not in FACESETS:
        raise NotInWorkspace(side[:40], "no such faceset: choose src or dst")
    return inside(root, *FACESETS[side].split("/"))
