"""Names from requests → paths inside the workspace; nothing outside it is ever read or written."""

from __future__ import annotations

from pathlib import Path

from fastapi import HTTPException

FACESETS = {"src": "data_src/aligned", "dst": "data_dst/aligned"}


def inside(root: Path, *parts: str) -> Path:
    """``root/parts…`` resolved, or HTTP 404 when it would leave ``root`` (``..``, absolute parts,
    symlinks pointing out) or a part is empty or contains a NUL."""
    if any(not part or "\x00" in part or part.startswith(("/", "\\")) for part in parts):
        raise HTTPException(404, "no such file in the workspace")
    base = root.resolve()
    path = base.joinpath(*parts).resolve()
    if path != base and base not in path.parents:
        raise HTTPException(404, "no such file in the workspace")
    return path


def faceset_dir(root: Path, side: str) -> Path:
    """The aligned-face folder of ``side`` (``src`` or ``dst``), or HTTP 404."""
    if side not in FACESETS:
        raise HTTPException(404, f"no faceset {side!r}: choose src or dst")
    return inside(root, *FACESETS[side].split("/"))
