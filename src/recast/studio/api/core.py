"""Workspace state, forms and tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from recast import __version__
from recast.errors import OptionError
from recast.studio.api.deps import workspace_root
from recast.studio.forms import form_names, form_schema
from recast.studio.state import workspace_state
from recast.studio.tasks import TASKS

router = APIRouter(prefix="/api")


@router.get("/state")
def state(root: Path = Depends(workspace_root)) -> dict[str, Any]:
    """Stage-by-stage contents of the workspace."""
    return {"version": __version__, **workspace_state(root)}


@router.get("/forms")
def forms() -> list[str]:
    """Names of the option forms."""
    return form_names()


@router.get("/forms/{name}")
def form(name: str, model: str | None = None) -> dict[str, Any]:
    """The JSON schema a form is generated from (the CLI's option declarations); ``model`` (train form):
    the defaults are that registered model's."""
    try:
        return form_schema(name, model)
    except KeyError:
        raise HTTPException(404, f"no form {name!r}") from None
    except OptionError as error:
        raise HTTPException(422, str(error)) from None


@router.get("/models")
def models() -> list[dict[str, str]]:
    """The model registry: names a new model can be created as, with their descriptions."""
    from recast.models.registry import MODELS

    return [{"name": entry.name, "description": entry.description} for entry in MODELS.values()]


@router.get("/tasks")
def tasks() -> list[dict[str, Any]]:
    """The kinds of job the studio can start."""
    return [{"name": t.name, "title": t.title, "writes": t.writes} for t in TASKS.values()]
