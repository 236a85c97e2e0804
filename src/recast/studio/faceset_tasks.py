"""The faceset browser's jobs (see :mod:`recast.studio.tasks`): sort (renames, like ``recast sort``),
undo every sort, and the 68-point landmarker run in a box the user drew (manual fix)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recast.errors import OptionError
from recast.faceset.files import natural_key
from recast.studio.tasks import Emit
from recast.workspace import Workspace

_SORT_OPTIONS = ("target", "max_distance")


def _folder(workspace: Path, options: dict[str, Any]) -> Path:
    side = options.get("side")
    if side not in ("src", "dst"):
        raise OptionError(f"side {side!r}: choose src or dst")
    ws = Workspace(workspace)
    return ws.src_aligned if side == "src" else ws.dst_aligned


def run_sort(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """``recast sort data_<side>/aligned --by <by>``: options ``side``, ``by``, ``target``,
    ``max_distance``, ``workers`` (default 2)."""
    from recast.faceset.sort import sort_faceset

    folder = _folder(workspace, options)
    extra = {key: options[key] for key in _SORT_OPTIONS if options.get(key) is not None}

    def progress(done: int, total: int | None) -> None:
        emit({"type": "progress", "kind": "faces", "done": done, "total": total,
              "message": f"{done}/{total} faces scored"})

    result = sort_faceset(folder, str(options.get("by")), workers=int(options.get("workers", 2)),
                          on_progress=progress, **extra)
    return {"method": result.method, "kept": len(result.kept), "trashed": len(result.trashed)}


def run_restore_names(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """``recast sort data_<side>/aligned --restore``: every face back to its original name and out
    of the trash. Option ``side``."""
    from recast.faceset.sort import restore

    result = restore(_folder(workspace, options))
    return {"restored": result.restored, "missing": sorted(result.missing, key=natural_key)[:20],
            "conflicts": sorted(result.conflicts, key=natural_key)[:20]}


def run_landmarks(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """The 68 landmarks of the face in box ``rect`` of frame ``frame`` of ``side`` (dlib's
    predictor, as extraction uses). Writes nothing; the page edits the result and saves it."""
    from fastapi import HTTPException

    from recast.extract.landmarks import DlibLandmarker, to_rgb
    from recast.media.images import read_image
    from recast.studio.faceset import check_rect
    from recast.studio.files import inside

    folder = _folder(workspace, options)
    frame_name = str(options.get("frame", ""))
    try:
        path = inside(workspace, folder.parent.name, frame_name)
    except HTTPException:
        path = folder.parent
    if "/" in frame_name or "\\" in frame_name or frame_name.startswith(".") or not path.is_file():
        raise OptionError(f"frame {frame_name!r}: no such frame in {folder.parent.name}")
    frame = read_image(path)
    rect = check_rect(options.get("rect"), (frame.shape[1], frame.shape[0]))
    points = DlibLandmarker().landmarks(to_rgb(frame), rect)
    return {"frame": frame_name, "rect": list(rect), "landmarks": [[round(float(x), 2), round(float(y), 2)]
                                                                   for x, y in points]}
