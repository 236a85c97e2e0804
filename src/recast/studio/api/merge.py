"""The merge tuner: destination frames, one-frame merge previews (the warm worker), sessions and keyframes.

Sessions are ``merge_sessions/<name>.json`` (:data:`SESSIONS_DIR`); the tuner's model and XSeg model
chosen for a session are kept beside it, in ``.studio/merge/<name>.json`` (:data:`CHOICES_DIR`: the
session file stays what ``recast merge --session`` reads); rendering is the ``render`` job
(:func:`recast.studio.tasks.runs.run_render`) with the session. Settings are validated here by
:class:`recast.merge.settings.MergeSettings` itself, so a bad value is refused with the option's name
before any work starts (the app's error handler answers recast's errors: 422, 404, 409).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from recast.errors import InputError
from recast.merge.settings import MergeSession, MergeSettings, load_session, save_session, settings_for_frame
from recast.studio.api.deps import previews, workspace_root
from recast.studio.api.xseg import xseg_models
from recast.studio.files import inside, named
from recast.studio.preview import PreviewRequest, PreviewService
from recast.workspace import Workspace

SESSIONS_DIR = "merge_sessions"
"""Where the tuner keeps its sessions (:class:`~recast.merge.settings.MergeSession` JSON, what ``recast merge
--session`` reads): ``WORKSPACE/merge_sessions/<name>.json``."""
CHOICES_DIR = ".studio/merge"
router = APIRouter(prefix="/api/merge")
MAX_SESSION_BYTES = 256 * 1024


class PreviewBody(BaseModel):
    """frame (from 1) of the destination merged by ``model/<model>`` with ``settings``; ``view``: the
    merged frame (JPEG) or its mask (PNG); ``xseg``: an XSeg model in ``model/`` for the xseg mask modes."""

    model: str = "default"
    frame: int = Field(ge=1)
    settings: dict[str, Any] = Field(default_factory=dict)
    view: Literal["result", "mask"] = "result"
    xseg: str | None = None


class ChoicesBody(BaseModel):
    """The tuner's choices kept with a session: the face model and the XSeg model (None: none)."""

    model: str = "default"
    xseg: str | None = None


def _frames(root: Path) -> list[Path]:
    from recast.media.images import list_images

    folder = Workspace(root).dst_frames
    return list_images(folder) if folder.is_dir() else []


def _session_path(root: Path, name: str) -> Path:
    return named(root, SESSIONS_DIR, name, "session", ".json")


def _load(root: Path, name: str) -> tuple[Path, MergeSession]:
    path = _session_path(root, name)
    if not path.is_file():
        return path, MergeSession()
    try:
        return path, load_session(path)
    except InputError as error:
        raise HTTPException(409, str(error)) from None


def _choices(root: Path, name: str) -> dict[str, Any]:
    """The choices saved for session ``name`` (defaults when none are, or the file is unreadable)."""
    try:
        path = named(root, CHOICES_DIR, name, "session", ".json")
        return ChoicesBody.model_validate_json(path.read_bytes()).model_dump()
    except (OSError, ValueError):
        return ChoicesBody().model_dump()


def _answer(root: Path, name: str, path: Path, session: MergeSession) -> dict[str, Any]:
    return {"name": name, "path": path.relative_to(root.resolve()).as_posix(), "exists": path.is_file(),
            "session": session.to_dict(), "choices": _choices(root, name)}


def _save(root: Path, name: str, path: Path, session: MergeSession) -> dict[str, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_session(session, path)
    return _answer(root, name, path, session)


@router.get("/frames")
def frames(root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """The destination frames the tuner scrubs (numbered from 1 in name order, as merging numbers them)."""
    names = [path.name for path in _frames(root)]
    return {"count": len(names), "names": names}


@router.get("/frames/{number}")
def frame(number: int, root: Path = Depends(workspace_root)) -> FileResponse:
    """Destination frame ``number`` as it is (the "before" view)."""
    paths = _frames(root)
    if not 1 <= number <= len(paths):
        raise HTTPException(404, f"no frame {number}: the destination has {len(paths)} frames")
    return FileResponse(paths[number - 1], headers={"cache-control": "no-store"})


@router.post("/preview")
async def preview(body: PreviewBody, root: Path = Depends(workspace_root),
                  service: PreviewService = Depends(previews)) -> Response:
    """Frame ``frame`` merged with ``settings`` by the warm preview worker (latest request wins:
    an older one still waiting is answered 409 without being computed)."""
    settings = MergeSettings.from_dict(body.settings).to_dict()
    if not named(root, "model", body.model, "model").is_dir():
        raise HTTPException(404, f"no model {body.model!r} in model/")
    if body.xseg is not None and body.xseg not in xseg_models(root):
        raise HTTPException(404, f"no XSeg model {body.xseg!r} in model/")
    image = await asyncio.to_thread(service.render, PreviewRequest(body.model, body.frame, settings, body.view,
                                                                   body.xseg))
    headers = {"cache-control": "no-store", "x-recast-preview": json.dumps(image.info)}
    return Response(image.data, media_type=image.media_type, headers=headers)


@router.get("/sessions")
def sessions(root: Path = Depends(workspace_root)) -> list[str]:
    """Names of the saved sessions."""
    folder = inside(root, SESSIONS_DIR)
    return sorted(path.stem for path in folder.glob("*.json")) if folder.is_dir() else []


@router.get("/sessions/{name}")
def get_session(name: str, root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """The session (the default settings and no keyframes when it is not saved yet)."""
    path, session = _load(root, name)
    return _answer(root, name, path, session)


@router.put("/sessions/{name}")
def put_session(name: str, data: Any = Body(...), root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """Replace the session with ``data`` (a session object, as ``recast merge --session`` reads)."""
    if len(json.dumps(data)) > MAX_SESSION_BYTES:
        raise HTTPException(413, "session too large")
    path = _session_path(root, name)
    return _save(root, name, path, MergeSession.from_dict(data))


@router.put("/sessions/{name}/base")
def put_base(name: str, data: Any = Body(...), root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """Set the session's base settings (the keyframes stay)."""
    path, session = _load(root, name)
    return _save(root, name, path, MergeSession(MergeSettings.from_dict(data), session.keyframes))


@router.put("/sessions/{name}/choices")
def put_choices(name: str, body: ChoicesBody, root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """Keep the tuner's model and XSeg model with session ``name`` (both must be models in ``model/``)."""
    from recast.atomic import atomic_write_text

    if not named(root, "model", body.model, "model").is_dir():
        raise HTTPException(404, f"no model {body.model!r} in model/")
    if body.xseg is not None and body.xseg not in xseg_models(root):
        raise HTTPException(404, f"no XSeg model {body.xseg!r} in model/")
    path = named(root, CHOICES_DIR, name, "session", ".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, body.model_dump_json() + "\n")
    return _choices(root, name)


@router.get("/sessions/{name}/settings")
def frame_settings(name: str, frame: int, root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """The settings in effect at ``frame`` (keyframes interpolated)."""
    if frame < 1:
        raise HTTPException(422, f"frame {frame} is not a frame number ≥ 1")
    _, session = _load(root, name)
    return settings_for_frame(session, frame).to_dict()


@router.put("/sessions/{name}/keyframes/{number}")
def put_keyframe(name: str, number: int, data: Any = Body(...), root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """Add (or replace) the keyframe at frame ``number`` so that the settings ``data`` hold there
    (fields ``data`` leaves out keep the value they have at that frame now)."""
    if number < 1:
        raise HTTPException(422, f"frame {number} is not a frame number ≥ 1")
    path, session = _load(root, name)
    settings = MergeSettings.from_dict(data, settings_for_frame(session, number))
    return _save(root, name, path, session.with_keyframe(number, settings))


@router.delete("/sessions/{name}/keyframes/{number}")
def delete_keyframe(name: str, number: int, root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """Remove the keyframe at frame ``number``."""
    path, session = _load(root, name)
    try:
        return _save(root, name, path, session.without_keyframe(number))
    except KeyError:
        raise HTTPException(404, f"no keyframe at frame {number}") from None
