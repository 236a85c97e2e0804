"""The faceset browser's own job (see :mod:`recast.studio.tasks`): the 68-point landmarker run in a
box the user drew (manual fix). Sorting and undoing sorts are the workspace's ``sort`` task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recast.errors import OptionError
from recast.studio.tasks import Emit
from recast.workspace import Workspace


def _folder(workspace: Path, options: dict[str, Any]) -> Path:
    side = options.get("side")
    if side not in ("src", "dst"):
        raise OptionError(f"side {side!r}: choose src or dst")
    ws = Workspace(workspace)
    return ws.src_aligned if side == "src" else ws.dst_aligned


def check_landmarks(workspace: Path, options: dict[str, Any]) -> Path:
    """The frame file the options name (``side``, ``frame``), or OptionError (before the job starts)."""
    from recast.studio.files import NotInWorkspace, inside

    if not isinstance(options, dict):
        raise OptionError(f"landmark options must be an object of name: value, got {str(options)[:40]!r}")
    folder = _folder(workspace, options)
    frame_name = str(options.get("frame", ""))
    try:
        path = inside(workspace, folder.parent.name, frame_name)
    except NotInWorkspace:
        path = folder.parent
    if "/" in frame_name or "\\" in frame_name or frame_name.startswith(".") or not path.is_file():
        raise OptionError(f"frame {frame_name!r}: no such frame in {folder.parent.name}")
    return path


def run_landmarks(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """The 68 landmarks of the face in box ``rect`` of frame ``frame`` of ``side`` (dlib's
    predictor, as extraction uses). Writes nothing; the page edits the result and saves it."""
    from recast.extract.landmarks import DlibLandmarker, to_rgb
    from recast.media.images import read_image
    from recast.studio.faceset import check_rect

    frame_name = str(options.get("frame", ""))
    frame = read_image(check_landmarks(workspace, options))
    rect = check_rect(options.get("rect"), (frame.shape[1], frame.shape[0]))
    points = DlibLandmarker().landmarks(to_rgb(frame), rect)
    return {"frame": frame_name, "rect": list(rect), "landmarks": [[round(float(x), 2), round(float(y), 2)]
                                                                   for x, y in points]}
