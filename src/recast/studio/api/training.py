"""Training page: a model's state and settings, its preview grid (latest and history) with column
labels, its loss history, and the train job running on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse

from recast.studio.api.deps import job_manager, workspace_root
from recast.studio.files import inside, named
from recast.studio.tasks.jobs import JobManager
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


@router.get("/{name}")
def model_training(name: str, root: Path = Depends(workspace_root),
                   manager: JobManager = Depends(job_manager)) -> dict[str, Any]:
    """``model/<name>``: family, iteration, saved settings; preview (mtime of the latest grid, the
    iterations in its history, the grid's column labels); loss history; the train job on it."""
    from recast.models.checkpoint import read_state

    folder = _model(root, name)
    previews = _previews(root, name)
    try:
        state = read_state(folder) if folder.is_dir() else None
    except Exception as error:  # a damaged model is reported on the page, not a server error
        raise HTTPException(409, f"model/{name} cannot be read: {error}") from None
    latest = previews / "preview.png"
    jobs = [job for job in manager.all() if job.task == "train" and job.options.get("name", "default") == name]
    job = jobs[-1] if jobs else None
    return {
        "name": name,
        "exists": state is not None,
        "model": state.get("model") if state else None,
        "iteration": state.get("iteration", 0) if state else 0,
        "elapsed_seconds": state.get("elapsed_seconds", 0.0) if state else 0.0,
        "settings": state.get("settings", {}) if state else {},
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
