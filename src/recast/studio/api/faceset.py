"""Faceset browser and manual fix: listings, thumbnails, face details, trash/restore, the fix.

Every name in a request is checked to be a plain face file name inside the faceset (or its trash)
and resolved with :func:`recast.studio.files.inside`. Requests that move or write faces take the
workspace lock (409 while a job or the CLI writes); sorting (the ``sort`` task) and the landmarker
(:mod:`recast.studio.faceset_tasks`) are jobs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import FileResponse

from recast.errors import InputError
from recast.faces.aligned import meta_from_bytes
from recast.faceset.files import PACK_NAME
from recast.locking import workspace_lock
from recast.media.images import image_size
from recast.studio import faceset as fs
from recast.studio.api.deps import workspace_root
from recast.studio.files import FACESETS, faceset_dir, inside

router = APIRouter(prefix="/api/faceset")
MAX_BODY = 1 << 20
MAX_NAMES = 10_000
MAX_OVERLAYS = 400
MAX_UNCOVERED = 200
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")
IMMUTABLE = "private, max-age=31536000, immutable"


@contextmanager
def _answers() -> Iterator[None]:
    """A malformed request value → 400 (recast's own errors are the app's error handler's)."""
    try:
        yield
    except ValueError as error:
        raise HTTPException(400, str(error)) from None


def _folder(root: Path, side: str, bin: str = "faces") -> Path:
    folder = faceset_dir(root, side)
    if bin == "faces":
        return folder
    if bin == "trash":
        return inside(root, *(FACESETS[side] + "_trash").split("/"))
    raise HTTPException(400, f"bin {bin!r}: choose faces or trash")


def _face(root: Path, side: str, name: str, bin: str = "faces") -> Path:
    folder = _folder(root, side, bin)
    path = inside(folder, name)
    if path.parent != folder:
        raise HTTPException(404, "no such file in the workspace")
    with _answers():
        return fs.face_path(folder, path.name)


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (at most 1 MiB), or a 4xx with one line saying what is wrong."""
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        raise HTTPException(413, "request body over 1 MiB")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise HTTPException(413, "request body over 1 MiB")
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        raise HTTPException(400, "the request body is not JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "the request body must be a JSON object")
    return body


def _names(body: dict[str, Any], limit: int = MAX_NAMES) -> list[str]:
    names = body.get("names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise HTTPException(400, "names must be a non-empty list of face file names")
    if len(names) > limit:
        raise HTTPException(413, f"at most {limit} names at once")
    if len(set(names)) != len(names):
        raise HTTPException(400, "names lists a face twice")
    return names


def _writing(root: Path, what: str) -> Any:
    return workspace_lock(root, f"recast studio: {what}")


@router.get("/methods")
def methods() -> list[dict[str, str]]:
    """The sort methods (``recast sort --by``), with one line each."""
    from recast.faceset.sort import SORT_METHODS

    return [{"name": m.name, "summary": m.summary} for m in SORT_METHODS.values()]


@router.get("/coverage")
def coverage(root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """How well the src faces cover the dst faces' angles and expressions (``recast faceset coverage``):
    the report's JSON with its one-line summary, the weakest feature and at most
    :data:`MAX_UNCOVERED` uncovered dst faces (``uncovered_count`` has them all). 422 when a side has
    no faces."""
    from recast.faceset.coverage import faceset_coverage

    with _answers():
        report = faceset_coverage(faceset_dir(root, "src"), faceset_dir(root, "dst"))
    return {**report.to_json(), "src": FACESETS["src"], "dst": FACESETS["dst"], "summary": report.describe(),
            "weakest": report.weakest_feature(), "uncovered_count": len(report.uncovered),
            "uncovered": [face.to_json() for face in report.uncovered[:MAX_UNCOVERED]]}


@router.get("/{side}")
def listing(side: str, bin: str = "faces", root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """The faces of ``side`` (``bin=trash``: its trash) as ``[name, key]`` pairs in display order,
    with counts; ``key`` changes whenever the face file does (thumbnail URLs carry it)."""
    folder = _folder(root, side, bin)
    base = _folder(root, side)
    faces = fs.list_folder(folder)
    return {"side": side, "bin": bin, "folder": str(folder.relative_to(root.resolve())), "faces": faces,
            "counts": {"faces": len(faces) if bin == "faces" else len(fs.list_folder(base)),
                       "trash": len(faces) if bin == "trash" else len(fs.list_folder(_folder(root, side, "trash")))},
            "packed": (base / PACK_NAME).is_file(), "journal": (base / ".recast-sort.json").is_file()}


@router.get("/{side}/thumb/{name}")
def thumb(side: str, name: str, request: Request, bin: str = "faces", v: str = "",
          root: Path = Depends(workspace_root)) -> Response:
    """The face's 128 px thumbnail, from the disk cache (made on the first request). Immutable when
    the URL's ``v`` is the face's current key; revalidated by ETag otherwise."""
    path = _face(root, side, name, bin)
    with _answers():
        cached, key = fs.thumbnail(root, path)
    cache = IMMUTABLE if v == key else "private, no-cache"
    if request.headers.get("if-none-match") == f'"{key}"':
        return Response(status_code=304, headers={"etag": f'"{key}"', "cache-control": cache})
    return FileResponse(cached, media_type="image/jpeg", headers={"etag": f'"{key}"', "cache-control": cache})


@router.get("/{side}/image/{name}")
def image(side: str, name: str, bin: str = "faces", v: str = "", root: Path = Depends(workspace_root)) -> Response:
    """The aligned face image itself (for the detail view)."""
    path = _face(root, side, name, bin)
    key = fs.file_key(path.stat())
    media = "image/png" if path.suffix.lower() == ".png" else "image/jpeg"
    return FileResponse(path, media_type=media, headers={"cache-control": IMMUTABLE if v == key else "no-cache"})


@router.get("/{side}/face/{name}")
def face(side: str, name: str, bin: str = "faces", root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """A face's metadata, landmark and mask overlay, and whether its source frame is in the workspace."""
    path = _face(root, side, name, bin)
    with _answers():
        details = fs.face_details(path)
    frames = _folder(root, side).parent
    details["frame_available"] = (frames / details["source_filename"]).is_file()
    return details


@router.post("/{side}/overlays")
def overlays(side: str, body: dict[str, Any] = Depends(json_body),
             root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """Landmarks and mask outlines of up to 400 faces at once (the grid's visible cells); faces that
    vanished or have no readable metadata are left out."""
    bin = str(body.get("bin", "faces"))
    found: dict[str, Any] = {}
    for name in _names(body, MAX_OVERLAYS):
        try:
            path = _face(root, side, name, bin)
            data = path.read_bytes()
            meta = meta_from_bytes(data, name)
        except (HTTPException, InputError):
            continue
        found[name] = fs.overlay(meta, (image_size(data) or (0, 0))[0])
    return {"overlays": found}


@router.post("/{side}/trash")
def trash(side: str, body: dict[str, Any] = Depends(json_body), root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """Move faces to the trash folder (journaled: ``recast sort --restore`` undoes it too)."""
    names = _names(body)
    folder = _folder(root, side)
    paths = [_face(root, side, name) for name in names]
    with _answers(), _writing(root, f"trash {len(names)} {side} faces"):
        moved = fs.trash_faces(folder, [p.name for p in paths])
    return {"trashed": moved}


@router.post("/{side}/restore")
def restore(side: str, body: dict[str, Any] = Depends(json_body),
            root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """Move faces from the trash back into the faceset (to the names they had before)."""
    names = _names(body)
    folder = _folder(root, side)
    paths = [_face(root, side, name, "trash") for name in names]
    with _answers(), _writing(root, f"restore {len(names)} {side} faces"):
        restored = fs.restore_faces(folder, [p.name for p in paths])
    return {"restored": restored}


def _frame(root: Path, side: str, frame: str) -> Path:
    frames = _folder(root, side).parent
    path = inside(frames, frame)
    if path.parent != frames or path.suffix.lower() not in FRAME_SUFFIXES or not path.is_file():
        raise HTTPException(404, f"{frame}: no such frame in {frames.name}")
    return path


@router.get("/{side}/frames")
def frames(side: str, root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """Frames where extraction found no face (from the extract log), for the manual fix."""
    folder = _folder(root, side)
    missing = [name for name in fs.frames_without_face(folder) if (folder.parent / name).is_file()]
    return {"without_face": missing, "logged": (folder / fs.EXTRACT_LOG).is_file()}


@router.get("/{side}/frame/{frame}")
def frame_image(side: str, frame: str, root: Path = Depends(workspace_root)) -> FileResponse:
    """A source frame image (what a face was cut from)."""
    path = _frame(root, side, frame)
    media = "image/png" if path.suffix.lower() == ".png" else "image/jpeg"
    return FileResponse(path, media_type=media, headers={"cache-control": "no-cache"})


@router.post("/{side}/fix")
def fix(side: str, body: dict[str, Any] = Depends(json_body), root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """Re-cut a face from its frame with edited landmarks (``name`` given: the previous file is kept
    and the fix can be undone) or add a face to a frame (``name`` null): body ``{name, frame,
    landmarks: 68 [x, y] in frame pixels, rect: [left, top, right, bottom]}``."""
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise HTTPException(400, "name must be a face file name or null")
    frame = body.get("frame")
    if not isinstance(frame, str):
        raise HTTPException(400, "frame must be a frame file name")
    folder = _folder(root, side)
    path = None if name is None else _face(root, side, name)
    frame_path = _frame(root, side, frame)
    with _answers(), _writing(root, f"manual fix of a {side} face"):
        result = fs.fix_face(folder, frame_path, None if path is None else path.name, body.get("landmarks"),
                             body.get("rect"))
    return {"name": result.name, "backup": result.backup, "face": fs.face_details(folder / result.name)}


@router.post("/{side}/unfix")
def unfix(side: str, body: dict[str, Any] = Depends(json_body), root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """Undo a face's manual fix: its previous file comes back (the fixed one is kept as a backup)."""
    name = body.get("name")
    if not isinstance(name, str):
        raise HTTPException(400, "name must be a face file name")
    path = _face(root, side, name)
    with _answers(), _writing(root, f"undo the manual fix of {path.name}"):
        fs.undo_fix(path.parent, path.name)
    return {"name": path.name, "face": fs.face_details(path)}
