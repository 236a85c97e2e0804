"""Training page: the face models in the workspace; a model's state and settings, its preview grid
(latest and history) with column labels, its loss history, and the train job running on it; DeepFaceLab's
habits: "refresh preview now" (a request file the running trainer answers at its next iteration) and
rolling back to one of the model's backups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException
from fastapi.responses import FileResponse

from recast.atomic import atomic_write_text
from recast.locking import workspace_lock
from recast.studio.api.deps import job_manager, workspace_root
from recast.studio.api.xseg import xseg_models
from recast.studio.files import inside, named
from recast.studio.tasks.jobs import Job, JobManager
from recast.train.options import PREVIEW_COLUMNS

router = APIRouter(prefix="/api/training")
NO_STORE = {"cache-control": "no-store"}


def _model(root: Path, name: str) -> Path:
    """``model/<name>``, or 404 when ``name`` is not a plain folder name or leads outside."""
    return named(root, "model", name, "model")


def _previews(root: Path, name: str) -> Path:
    return inside(_model(root, name), "previews")


def _read_loss(path: Path) -> dict[str, list[float]] | None:
    try:
        history = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    keys = ("iteration", "src", "dst")
    if not isinstance(history, dict) or not all(isinstance(history.get(key, []), list) for key in keys):
        return None
    return {key: history.get(key, []) for key in keys}


def _loss(folder: Path, state: dict[str, Any] | None) -> dict[str, list[float]] | None:
    """The longer of the saved checkpoint's loss history and the one written with the last preview."""
    found = [_read_loss(folder / "previews" / "loss_history.json")]
    if state is not None:
        found.append(_read_loss(folder / str(state["checkpoint"]) / "history.json"))
    histories = [history for history in found if history and history["iteration"]]
    return max(histories, key=lambda history: history["iteration"][-1], default=None)


def _history(previews: Path) -> list[int]:
    folder = previews / "history"
    if not folder.is_dir():
        return []
    return sorted(int(p.stem) for p in folder.glob("*.png") if p.stem.isdigit())


def _train_job(manager: JobManager, name: str) -> Job | None:
    """The last train job started on ``model/<name>``."""
    jobs = [job for job in manager.all() if job.task == "train" and job.options.get("name", "default") == name]
    return jobs[-1] if jobs else None


@router.get("")
def face_models(root: Path = Depends(workspace_root),
                manager: JobManager = Depends(job_manager)) -> list[dict[str, Any]]:
    """The face models under ``model/`` (XSeg ones left out): ``{"name", "model"`` (the registered
    preset), ``"iteration", "training"`` (a train job runs on it)``}``, unreadable ones with ``"error"``."""
    from recast.studio.state import models
    from recast.workspace import Workspace

    masks = set(xseg_models(root))
    found = []
    for entry in models(Workspace(root)):
        if entry["name"] in masks:
            continue
        job = _train_job(manager, entry["name"])
        found.append({**entry, "training": job is not None and job.state in ("queued", "running")})
    return found


@router.get("/{name}")
def model_training(name: str, root: Path = Depends(workspace_root),
                   manager: JobManager = Depends(job_manager)) -> dict[str, Any]:
    """``model/<name>``: family, iteration, saved settings, training recipe (``{"name", "phase", "began"}``
    or None); preview (mtime of the latest grid, the
    iterations in its history, the grid's column labels); loss history; the train job on it."""
    from recast.models.checkpoint import read_state

    folder = _model(root, name)
    previews = _previews(root, name)
    try:
        state = read_state(folder) if folder.is_dir() else None
    except Exception as error:  # a damaged model is reported on the page, not a server error
        raise HTTPException(409, f"model/{name} cannot be read: {error}") from None
    latest = previews / "preview.png"
    job = _train_job(manager, name)
    return {
        "name": name,
        "exists": state is not None,
        "model": state.get("model") if state else None,
        "iteration": state.get("iteration", 0) if state else 0,
        "elapsed_seconds": state.get("elapsed_seconds", 0.0) if state else 0.0,
        "settings": state.get("settings", {}) if state else {},
        "recipe": state.get("recipe") if state and isinstance(state.get("recipe"), dict) else None,
        "columns": list(PREVIEW_COLUMNS),
        "preview": latest.stat().st_mtime if latest.is_file() else None,
        "history": _history(previews),
        "loss": _loss(folder, state),
        "job": None if job is None else {"id": job.id, "state": job.state, "target": job.options.get("iterations"),
                                         "more": job.options.get("more"), "minutes": job.options.get("minutes")},
    }


@router.get("/{name}/preview.png")
def latest_preview(name: str, root: Path = Depends(workspace_root)) -> FileResponse:
    """The latest preview grid of ``model/<name>`` (columns: see ``columns``)."""
    path = _previews(root, name) / "preview.png"
    if not path.is_file():
        raise HTTPException(404, f"model/{name} has no preview yet")
    return FileResponse(path, media_type="image/png", headers=NO_STORE)


@router.get("/{name}/history/{iteration}.png")
def history_preview(name: str, iteration: int, root: Path = Depends(workspace_root)) -> FileResponse:
    """The preview grid written at ``iteration``."""
    if not 0 <= iteration < 10**12:
        raise HTTPException(404, "no such preview")
    path = _previews(root, name) / "history" / f"{iteration:09d}.png"
    if not path.is_file():
        raise HTTPException(404, f"model/{name} has no preview of iteration {iteration}")
    return FileResponse(path, media_type="image/png")


@router.post("/{name}/refresh-preview")
def refresh_preview(name: str, root: Path = Depends(workspace_root),
                    manager: JobManager = Depends(job_manager)) -> dict[str, Any]:
    """Ask the train job running on ``model/<name>`` for a preview grid at its next iteration (DeepFaceLab's
    P key); the job's ``preview`` event follows. 409 when no train job runs on it."""
    from recast.models.checkpoint import PREVIEW_REQUEST

    job = _train_job(manager, name)
    if job is None or job.state != "running":
        raise HTTPException(409, f"model/{name} is not training: start training to get a fresh preview")
    atomic_write_text(_model(root, name) / PREVIEW_REQUEST, f"studio job {job.id}\n")
    return {"requested": True, "job": job.id}


@router.get("/{name}/backups")
def backups(name: str, root: Path = Depends(workspace_root)) -> list[dict[str, Any]]:
    """``model/<name>``'s backups, newest first: ``{"name", "iteration", "time"}`` (Unix seconds)."""
    from recast.models.checkpoint import list_backups

    return list_backups(_model(root, name))


@router.post("/{name}/rollback")
def rollback(name: str, backup: str = Body(..., embed=True), root: Path = Depends(workspace_root),
             manager: JobManager = Depends(job_manager)) -> dict[str, Any]:
    """Restore backup ``backup`` of ``model/<name>`` as its current state; the state it replaces is kept
    first as a backup itself (``kept``). 409 while a train job runs on the model or anything writes the
    workspace; 404 for no such backup."""
    from recast.models.checkpoint import read_state
    from recast.models.checkpoint import rollback as restore

    job = _train_job(manager, name)
    if job is not None and job.state in ("queued", "running"):
        raise HTTPException(409, f"model/{name} is training (job #{job.id}): stop it before rolling back")
    folder = _model(root, name)
    with workspace_lock(root, f"recast studio: roll back model/{name}"):
        kept = restore(folder, backup)
    state = read_state(folder) or {}
    return {"name": name, "iteration": state.get("iteration", 0), "kept": kept.name}
