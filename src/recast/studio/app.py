"""``create_app``: the studio's ASGI app for one workspace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from recast.studio.api import ROUTERS
from recast.studio.jobs import JobManager
from recast.studio.security import SecurityMiddleware, allowed_hosts, new_token

STATIC = Path(str(files("recast.studio") / "static"))


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


def create_app(config: StudioConfig) -> SecurityMiddleware:
    """The app: routes from :data:`recast.studio.api.ROUTERS`, the static frontend, and the security
    gate around everything. ``app.state`` holds ``workspace`` and ``jobs`` (a :class:`JobManager`)."""
    jobs = JobManager(Path(config.workspace).resolve())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        jobs.shutdown()

    app = FastAPI(title="recast studio", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.workspace = jobs.workspace
    app.state.jobs = jobs
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-store"})

    return SecurityMiddleware(app, config.token, allowed_hosts(config.host, config.port))
