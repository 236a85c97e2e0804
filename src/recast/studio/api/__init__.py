"""The studio's HTTP routes, one module per page area; :data:`ROUTERS` is what the app mounts."""

from __future__ import annotations

from fastapi import APIRouter

from recast.studio.api import core, faceset, footage, jobs, live, merge, result, training, xseg

ROUTERS: list[APIRouter] = [core.router, footage.router, jobs.router, faceset.router, training.router, xseg.router,
                            merge.router, result.router, live.router]
