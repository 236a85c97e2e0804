"""The studio's HTTP routes, one module per page area; :data:`ROUTERS` is what the app mounts."""

from __future__ import annotations

from fastapi import APIRouter

from recast.studio.api import core, jobs, live

ROUTERS: list[APIRouter] = [core.router, jobs.router, live.router]
