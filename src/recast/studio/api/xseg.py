"""The XSeg page: faces with their label polygons, the current mask model's prediction, saving labels,
and an XSeg model's state (iteration, latest preview grid, its xseg-train job). Training, applying,
removing and fetching are jobs (:mod:`recast.studio.tasks.xseg`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException
from fastapi.responses import FileResponse, Response

from recast.locking import workspace_lock
from recast.studio.api.deps import job_manager, previews, workspace_root
from recast.studio.files import faceset_dir, inside, named
from recast.studio.preview import MaskRequest, PreviewService
from recast.studio.tasks.jobs import JobManager

router = APIRouter(prefix="/api/xseg")
MAX_POLYGONS_BODY = 2000


def xseg_models(root: Path) -> list[str]:
    """Names of the XSeg mask-model folders under ``model/``."""
    from recast.models import checkpoint as ckpt
    from recast.models.xseg_config import XSEG_PRESETS

    found = []
    folder = root / "model"
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        try:
            if path.is_dir() and ckpt.read_model_config(path)[0] in XSEG_PRESETS:
                found.append(path.name)
        except Exception:  # not a model folder, or a damaged one: not offered
            continue
    return found


def _face(root: Path, side: str, name: str) -> Path:
    path = inside(faceset_dir(root, side), name)
    if not path.is_file():
        raise HTTPException(404, f"no face {name!r} in {side}")
    return path


@router.get("/models")
def models(root: Path = Depends(workspace_root)) -> list[str]:
    """XSeg mask models in the workspace (for the prediction overlay)."""
    return xseg_models(root)


def _last_preview(previews: Path) -> int | None:
    folder = previews / "history"
    found = [int(p.stem) for p in folder.glob("*.png") if p.stem.isdigit()] if folder.is_dir() else []
    return max(found, default=None)


@router.get("/models/{name}")
def model_state(name: str, root: Path = Depends(workspace_root),
                manager: JobManager = Depends(job_manager)) -> dict[str, Any]:
    """``model/<name>`` as the XSeg page shows it: whether it exists, its saved iteration, the latest
    preview grid (``preview``: its mtime; ``preview_iteration``: the iteration it is from; columns:
    input, target, prediction, overlay) and the last xseg-train job on it."""
    from recast.models.checkpoint import read_state

    folder = named(root, "model", name, "XSeg model")
    try:
        state = read_state(folder) if folder.is_dir() else None
    except Exception as error:  # a damaged model is reported on the page, not a server error
        raise HTTPException(409, f"model/{name} cannot be read: {error}") from None
    latest = folder / "previews" / "preview.png"
    jobs = [job for job in manager.all() if job.task == "xseg-train" and job.options.get("name", "xseg") == name]
    job = jobs[-1] if jobs else None
    return {"name": name, "exists": state is not None, "iteration": state.get("iteration", 0) if state else 0,
            "preview": latest.stat().st_mtime if latest.is_file() else None,
            "preview_iteration": _last_preview(folder / "previews"),
            "columns": ["input", "target", "prediction", "overlay"],
            "job": None if job is None else {"id": job.id, "state": job.state}}


@router.get("/models/{name}/preview.png")
def model_preview(name: str, root: Path = Depends(workspace_root)) -> FileResponse:
    """The latest preview grid of XSeg model ``model/<name>``."""
    path = named(root, "model", name, "XSeg model") / "previews" / "preview.png"
    if not path.is_file():
        raise HTTPException(404, f"model/{name} has no preview yet")
    return FileResponse(path, media_type="image/png", headers={"cache-control": "no-store"})


@router.get("/{side}/faces")
def faces(side: str, root: Path = Depends(workspace_root)) -> list[dict[str, Any]]:
    """Every face of the faceset in name order, with whether it has labels."""
    from recast.faceset.labelling import list_faces

    folder = faceset_dir(root, side)
    if not folder.is_dir():
        return []
    return [{"name": path.name, "labelled": labelled} for path, labelled in list_faces(folder)]


@router.get("/{side}/faces/{name}/image")
def face_image(side: str, name: str, root: Path = Depends(workspace_root)) -> FileResponse:
    """The aligned face image itself."""
    return FileResponse(_face(root, side, name), headers={"cache-control": "no-cache"})


@router.get("/{side}/faces/{name}/labels")
def get_labels(side: str, name: str, root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """The face's polygons (``{"type": "include"|"exclude", "points": [[x, y], …]}`` in face-image
    pixels, drawing order)."""
    from recast.faceset.labelling import read_labels

    polygons = read_labels(_face(root, side, name))
    return {"polygons": [{"type": "include" if p.include else "exclude", "points": p.points.tolist()}
                         for p in polygons]}


@router.put("/{side}/faces/{name}/labels")
def put_labels(side: str, name: str, polygons: list[dict[str, Any]] = Body(..., embed=True),
               root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """Replace the face's labels (validated; atomic; under the workspace lock)."""
    from recast.faceset.labelling import write_labels

    path = _face(root, side, name)
    if len(polygons) > MAX_POLYGONS_BODY:
        raise HTTPException(413, "too many polygons")
    with workspace_lock(root, f"studio: labelling {side}/{name}"):
        write_labels(path, polygons)
    return {"name": name, "polygons": len(polygons)}


@router.get("/{side}/faces/{name}/prediction")
async def prediction(side: str, name: str, model: str, root: Path = Depends(workspace_root),
                     service: PreviewService = Depends(previews)) -> Response:
    """The mask model's prediction for the face: a grayscale PNG of the face's size (white = face), made
    by the preview worker (reloaded when the model has newer weights; header ``x-recast-preview``:
    ``iteration``)."""
    path = _face(root, side, name)
    if model not in xseg_models(root):
        raise HTTPException(404, f"no XSeg model {model!r} in the workspace")
    image = await asyncio.to_thread(service.mask, MaskRequest(model, path))
    return Response(image.data, media_type=image.media_type,
                    headers={"cache-control": "no-store", "x-recast-preview": json.dumps(image.info)})
