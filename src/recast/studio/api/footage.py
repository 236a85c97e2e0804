"""The source videos: what the workspace holds (``data_src.mp4``, ``data_dst.mp4``) and uploads that add them.

An upload is the request body itself (``PUT /api/footage/<side>``, any content type), streamed in chunks
into a hidden ``.upload-*.part`` file in the workspace, refused past :data:`MAX_FOOTAGE_BYTES` (413),
probed (a file that is no readable video is refused and removed), then renamed to the side's video.
A video already there, and the frames made from it in ``data_<side>/``, are moved aside into
``.recast/backup/<time>/`` (:func:`recast.paths.move_aside`), never overwritten.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from recast.errors import InputError
from recast.locking import workspace_lock
from recast.studio.api.deps import workspace_root
from recast.workspace import Workspace

router = APIRouter(prefix="/api/footage")

MAX_FOOTAGE_BYTES = 8 * 1024**3
"""The largest upload accepted (8 GiB); a longer body is refused with 413."""
SIDES = ("src", "dst")


def _paths(ws: Workspace, side: str) -> tuple[Path, Path]:
    """(video, frames folder) of ``side``; 404 for a side that is neither src nor dst."""
    if side not in SIDES:
        raise HTTPException(404, f"no side {side[:20]!r}: choose src or dst")
    return (ws.src_video, ws.src_frames) if side == "src" else (ws.dst_video, ws.dst_frames)


def describe(ws: Workspace, side: str) -> dict[str, Any]:
    """What the page shows of one side's video: its name, and when present its size (bytes), duration
    (s), frame count, fps and width × height, or the probe's one-line error for an unreadable file."""
    from recast.media.images import list_images
    from recast.media.video import probe

    video, frames = _paths(ws, side)
    found: dict[str, Any] = {"side": side, "name": video.name, "present": video.is_file(),
                             "frames_written": len(list_images(frames)) if frames.is_dir() else 0}
    if not found["present"]:
        return found
    found["size"] = video.stat().st_size
    try:
        info = probe(video)
    except InputError as error:
        return {**found, "error": error.problem}
    return {**found, "duration": round(info.duration, 3), "frame_count": info.frame_count, "fps": round(info.fps, 3),
            "width": info.width, "height": info.height}


@router.get("")
def footage(root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """Both sides' videos (:func:`describe`) and the upload limit in bytes."""
    ws = Workspace(root)
    return {"src": describe(ws, "src"), "dst": describe(ws, "dst"), "max_bytes": MAX_FOOTAGE_BYTES}


def _too_large() -> HTTPException:
    limit = f"{MAX_FOOTAGE_BYTES / 1024**3:.1f} GiB" if MAX_FOOTAGE_BYTES >= 1024**3 else f"{MAX_FOOTAGE_BYTES} bytes"
    return HTTPException(413, f"the video is larger than the studio's upload limit of {limit}")


async def _receive(request: Request, part: Path) -> int:
    """Stream the request body into ``part``; the byte count, or 413 once it passes the limit."""
    received = 0
    with part.open("wb") as handle:
        async for chunk in request.stream():
            received += len(chunk)
            if received > MAX_FOOTAGE_BYTES:
                raise _too_large()
            handle.write(chunk)
    return received


@router.put("/{side}")
async def upload(side: str, request: Request, root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """Add ``side``'s video from the request body; answers :func:`describe` of it plus ``moved_aside``
    (the backup folder, relative to the workspace, of the video and frames it replaced, or None).

    413: the body (or its Content-Length) passes :data:`MAX_FOOTAGE_BYTES`; 422: empty, or no
    readable video; 409: a job holds the workspace."""
    from recast.media.images import list_images
    from recast.media.video import probe
    from recast.paths import move_aside

    ws = Workspace(root)
    video, frames = _paths(ws, side)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FOOTAGE_BYTES:
        raise _too_large()
    handle, name = tempfile.mkstemp(prefix=f".upload-{side}-", suffix=".part", dir=ws.root)
    os.close(handle)
    part = Path(name)
    try:
        if not await _receive(request, part):
            raise HTTPException(422, f"{video.name}: the upload is empty")
        try:
            await run_in_threadpool(probe, part)
        except InputError as error:
            raise HTTPException(422, f"{video.name} refused: {error.problem}") from None

        def swap() -> Path | None:
            with workspace_lock(ws.root, f"studio upload of {video.name}"):
                made = list_images(frames) if frames.is_dir() else []
                backup = move_aside(ws.root, [video, *made])
                os.replace(part, video)
                return backup

        backup = await run_in_threadpool(swap)
    finally:
        part.unlink(missing_ok=True)
    moved = None if backup is None else backup.relative_to(ws.root.resolve()).as_posix()
    return {**describe(ws, side), "moved_aside": moved}
