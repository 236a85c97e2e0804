"""``create_app``: the studio's ASGI app for one workspace."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from recast.errors import InputError, RecastError
from recast.locking import WorkspaceBusy
from recast.studio.api import ROUTERS
from recast.studio.files import NotInWorkspace
from recast.studio.preview import PreviewFailed, PreviewService, Superseded
from recast.studio.security import SecurityMiddleware, allowed_hosts, new_token
from recast.studio.tasks.jobs import JobManager

STATIC = Path(str(files("recast.studio") / "static"))
_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)")


@dataclass(frozen=True)
class StudioConfig:
    """workspace: the folder served; host/port: where the server listens (for the Host check);
    token: the per-start secret (a fresh one by default)."""

    workspace: Path
    host: str = "127.0.0.1"
    port: int = 8765
    token: str = field(default_factory=new_token)

    @property
    def url(self) -> str:
        """The URL to open (carries the token once; the page then holds it in a cookie)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        shown = "127.0.0.1" if host == "0.0.0.0" else host
        return f"http://{shown}:{self.port}/?token={self.token}"


def status_for(error: Exception) -> int:
    """The HTTP status of an error a route let through: the workspace busy 409; a name that leads
    nowhere 404; a bad option or an unusable input 422; a preview the worker could not make by its
    kind (422, 409, 500); a superseded preview 409."""
    if isinstance(error, (WorkspaceBusy, Superseded)):
        return 409
    if isinstance(error, NotInWorkspace) or (isinstance(error, InputError) and error.problem.startswith("no such")):
        return 404
    if isinstance(error, PreviewFailed):
        return {"option": 422, "input": 409}.get(error.kind, 500)
    return 422


def studio_message(error: Exception, workspace: Path) -> str:
    """``error`` as one line worded for the studio: paths relative to the workspace, and the CLI's
    flags (``--xseg``) named as the studio's fields (``xseg``)."""
    text = " ".join(str(error).split()).replace(f"{workspace}{os.sep}", "")
    if isinstance(error, Superseded):
        text = f"superseded: {text}"
    return _FLAG.sub(lambda match: match.group(1).replace("-", "_"), text)


def add_error_handlers(app: FastAPI, workspace: Path) -> None:
    """Answer recast's errors (:class:`~recast.errors.RecastError`: InputError, MetadataError,
    OptionError, WorkspaceBusy, …) and the preview worker's with a 4xx/5xx JSON ``detail`` line:
    the one place routes' errors become HTTP answers (see :func:`status_for`)."""

    async def answer(_request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": studio_message(error, workspace)}, status_code=status_for(error))

    for kind in (RecastError, PreviewFailed, Superseded):
        app.add_exception_handler(kind, answer)


def create_app(config: StudioConfig) -> SecurityMiddleware:
    """The app: routes from :data:`recast.studio.api.ROUTERS`, the static frontend, and the security
    gate around everything. ``app.state`` holds ``workspace``, ``jobs`` (a :class:`JobManager`) and
    ``previews`` (the merge tuner's :class:`PreviewService`)."""
    jobs = JobManager(Path(config.workspace).resolve())
    previews = PreviewService(jobs.workspace)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        previews.close()
        jobs.shutdown()

    app = FastAPI(title="recast studio", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    add_error_handlers(app, jobs.workspace)
    app.state.workspace = jobs.workspace
    app.state.jobs = jobs
    app.state.previews = previews
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-store"})

    return SecurityMiddleware(app, config.token, allowed_hosts(config.host, config.port))
