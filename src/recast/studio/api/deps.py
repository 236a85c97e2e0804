"""Request → app-wide objects (the workspace root, the job manager, the preview worker), for route signatures."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request

from recast.studio.preview import PreviewService
from recast.studio.tasks.jobs import JobManager


def workspace_root(request: Request) -> Path:
    """The workspace this studio serves."""
    return Path(request.app.state.workspace)


def job_manager(request: Request) -> JobManager:
    """The studio's job manager."""
    manager: JobManager = request.app.state.jobs
    return manager


def previews(request: Request) -> PreviewService:
    """The studio's preview service (one warm worker: merge previews and XSeg predictions)."""
    service: PreviewService = request.app.state.previews
    return service
