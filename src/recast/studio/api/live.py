"""The Live page: the newest frame of a live job as MJPEG, and what it can use (models, inputs)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse

from recast.live.engine import LIVE_SETTINGS
from recast.provenance.writer import VIDEO_SUFFIXES
from recast.studio.api.deps import job_manager, workspace_root
from recast.studio.api.xseg import xseg_models
from recast.studio.live import CAMERA_PREFIX, frame_path
from recast.studio.tasks.jobs import TERMINAL, JobManager

router = APIRouter(prefix="/api/live")
BOUNDARY = "recastframe"


@router.get("/sources")
def sources(root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """Inputs (cameras found as /dev/video*, videos at the workspace root), face models (folders under model/
    but the XSeg mask models, and .dfm/.onnx files), and the settings offered."""
    cameras = sorted(int(p.name[5:]) for p in Path("/dev").glob("video*") if p.name[5:].isdigit())
    videos = sorted(p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    models_dir = root / "model"
    masks = set(xseg_models(root))  # XSeg mask models make masks, not faces: not offered
    models = sorted(p.name for p in models_dir.iterdir() if p.is_dir() and p.name not in masks) \
        if models_dir.is_dir() else []
    files = sorted(p.name for p in models_dir.glob("*") if p.suffix.lower() in (".dfm", ".onnx")) \
        if models_dir.is_dir() else []
    return {"inputs": [f"{CAMERA_PREFIX}{n}" for n in cameras] + videos, "models": models + files,
            "settings": list(LIVE_SETTINGS)}


@router.get("/{job_id}/mjpeg")
async def mjpeg(job_id: int, request: Request, root: Path = Depends(workspace_root),
                manager: JobManager = Depends(job_manager)) -> StreamingResponse:
    """Live job ``job_id``'s frames as ``multipart/x-mixed-replace`` JPEGs, until the job ends."""
    try:
        job = manager.get(job_id)
    except KeyError:
        raise HTTPException(404, f"no job {job_id}") from None
    if job.task != "live":
        raise HTTPException(404, f"job {job_id} is not a live job")
    path = frame_path(root, job_id)

    async def stream() -> AsyncIterator[bytes]:
        sent = 0
        while not await request.is_disconnected():
            try:
                stamp = path.stat().st_mtime_ns
                if stamp != sent:
                    data = path.read_bytes()
                    sent = stamp
                    yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n"
                           .encode() + data + b"\r\n")
            except FileNotFoundError:
                pass
            if manager.get(job_id).state in (*TERMINAL, "lost"):
                return
            await asyncio.sleep(0.02)

    return StreamingResponse(stream(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                             headers={"cache-control": "no-store"})
