"""Request → app-wide objects (the workspace root and the job manager), for route signatures."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request

from recast.studio.jobs import JobManager


def workspace_root(request: Request) -> Path:
    """The workspace this studio serves."""
    return Path(request.app.state.workspace)


def job_manager(request: Request) -> JobManager:
    """The studio's job manager."""
    manager: JobManager = request.app.state.jobs
    return manager
