"""Result page: the result video and its mask video (HTTP range requests, for seeking), the last
``verify`` report and the ``eval`` report with its plots — all read from files the jobs wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse

from recast.studio.api.deps import workspace_root
from recast.studio.tasks.runs import EVAL_DIR, VERIFY_REPORT
from recast.workspace import Workspace

router = APIRouter(prefix="/api/result")
VIDEOS = {"result": "result.mp4", "mask": "result_mask.mp4"}


def _file(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    stat = path.stat()
    return {"name": path.name, "bytes": stat.st_size, "modified": stat.st_mtime}


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


@router.get("")
def result(root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """What exists of the result: the videos and sidecar, the last verify report (``stale`` when the
    video changed after it), the eval report's summary (``stale`` likewise)."""
    ws = Workspace(root)
    video = _file(ws.result)
    modified = video["modified"] if video else None
    verify = _json(root / VERIFY_REPORT)
    verify_file = _file(root / VERIFY_REPORT)
    report = _json(root / EVAL_DIR / "eval.json")
    report_file = _file(root / EVAL_DIR / "eval.json")
    return {
        "root": str(root),
        "video": video,
        "mask": _file(ws.result_mask),
        "sidecar": _file(ws.root / (ws.result.name + ".provenance.json")),
        "verify": None if not isinstance(verify, dict) or verify_file is None else
        {**verify, "stale": modified is not None and verify_file["modified"] < modified},
        "eval": None if not isinstance(report, dict) or report_file is None else
        {"summary": report.get("summary"), "inputs": report.get("inputs"), "settings": report.get("settings"),
         "plot": (root / EVAL_DIR / "eval.png").is_file(),
         "stale": modified is not None and report_file["modified"] < modified},
    }


@router.get("/video/{which}")
def video(which: str, root: Path = Depends(workspace_root)) -> FileResponse:
    """``result`` (result.mp4) or ``mask`` (result_mask.mp4); answers Range requests (seeking)."""
    if which not in VIDEOS:
        raise HTTPException(404, f"no video {which!r}: choose result or mask")
    path = root / VIDEOS[which]
    if not path.is_file():
        raise HTTPException(404, f"no {VIDEOS[which]} yet: render first")
    return FileResponse(path, media_type="video/mp4", headers={"cache-control": "no-cache"})


@router.get("/eval.png")
def eval_plot(root: Path = Depends(workspace_root)) -> FileResponse:
    """The eval report's plots (metrics over time, worst and median frames)."""
    path = root / EVAL_DIR / "eval.png"
    if not path.is_file():
        raise HTTPException(404, "no eval report yet")
    return FileResponse(path, media_type="image/png", headers={"cache-control": "no-cache"})
