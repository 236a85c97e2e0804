"""Jobs: start, list, cancel, and the event stream (Server-Sent Events, resumable by event number)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse

from recast.errors import InputError, OptionError
from recast.studio.api.deps import job_manager
from recast.studio.tasks.jobs import TERMINAL, Job, JobManager

router = APIRouter(prefix="/api/jobs")
MAX_OPTIONS_BYTES = 64 * 1024


def _job(manager: JobManager, job_id: int) -> Job:
    try:
        return manager.get(job_id)
    except KeyError:
        raise HTTPException(404, f"no job {job_id}") from None


@router.get("")
def list_jobs(manager: JobManager = Depends(job_manager)) -> list[dict[str, Any]]:
    """Every job of this workspace, oldest first (earlier studio runs included)."""
    return [job.summary() for job in manager.all()]


@router.post("", status_code=201)
def start_job(task: str = Body(...), options: dict[str, Any] = Body(default_factory=dict),
              manager: JobManager = Depends(job_manager)) -> dict[str, Any]:
    """Start task ``task`` with ``options``. The options are checked first, by the declarations the CLI
    uses: options the task refuses are a 422 naming the option, and no job starts (nor takes the lock)."""
    if len(json.dumps(options)) > MAX_OPTIONS_BYTES:
        raise HTTPException(413, "options too large")
    try:
        return manager.start(task, options).summary()
    except KeyError as error:
        raise HTTPException(404, str(error.args[0])) from None
    except (OptionError, InputError) as error:
        raise HTTPException(422, str(error)) from None


@router.get("/{job_id}")
def get_job(job_id: int, manager: JobManager = Depends(job_manager)) -> dict[str, Any]:
    return _job(manager, job_id).summary()


@router.post("/{job_id}/cancel")
def cancel_job(job_id: int, manager: JobManager = Depends(job_manager)) -> dict[str, Any]:
    """Stop a running job as Ctrl-C would (a second cancel kills it)."""
    _job(manager, job_id)
    return manager.cancel(job_id).summary()


@router.get("/{job_id}/events")
async def job_events(job_id: int, request: Request, after: int = -1,
                     manager: JobManager = Depends(job_manager)) -> StreamingResponse:
    """The job's events as SSE, from event ``after + 1`` (or the ``Last-Event-ID`` header + 1)."""
    _job(manager, job_id)
    last = request.headers.get("last-event-id")
    start = int(last) if last is not None and last.isdigit() else after

    async def stream() -> AsyncIterator[str]:
        seen = start
        while not await request.is_disconnected():
            events = await asyncio.to_thread(manager.events_after, job_id, seen, 1.0)
            for event in events:
                seen = event["n"]
                yield f"id: {seen}\nevent: {event['type']}\ndata: {json.dumps(event)}\n\n"
            if manager.get(job_id).state in (*TERMINAL, "lost") and not events:
                yield "event: end\ndata: {}\n\n"
                return
            if not events:
                yield ": keep-alive\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-store"})
