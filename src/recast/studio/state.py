"""What the workspace holds, stage by stage, read from its files (for the Workspace page)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recast.workspace import Workspace

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _count(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> int:
    if not folder.is_dir():
        return 0
    return sum(1 for entry in folder.iterdir() if entry.suffix.lower() in suffixes and entry.is_file())


def models(ws: Workspace) -> list[dict[str, Any]]:
    """Every model folder under ``model/`` with its family and iteration (unreadable ones flagged)."""
    from recast.models.checkpoint import read_state

    found: list[dict[str, Any]] = []
    if not ws.models.is_dir():
        return found
    for folder in sorted(p for p in ws.models.iterdir() if p.is_dir()):
        try:
            state = read_state(folder) or {}
        except Exception as error:  # a damaged model is shown, not fatal to the page
            found.append({"name": folder.name, "error": str(error)})
            continue
        found.append({"name": folder.name, "model": state.get("model"), "iteration": state.get("iteration", 0)})
    return found


def workspace_state(root: Path) -> dict[str, Any]:
    """Counts and files per stage: source videos, frames, faces, models, merged frames, result."""
    ws = Workspace(Path(root))
    return {
        "root": str(ws.root),
        "videos": {"src": ws.src_video.is_file(), "dst": ws.dst_video.is_file()},
        "frames": {"src": _count(ws.src_frames), "dst": _count(ws.dst_frames)},
        "faces": {"src": _count(ws.src_aligned), "dst": _count(ws.dst_aligned)},
        "models": models(ws),
        "merged": _count(ws.merged),
        "result": ws.result.is_file(),
    }
