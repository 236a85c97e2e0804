"""Jobs: long work in worker processes, their events kept on disk and streamed to pages.

Each job runs one :mod:`~recast.studio.tasks` task in a fresh ``spawn`` process (its options checked
first, in the server: a refused option starts nothing), so the web server
stays responsive and a crash cannot take it down. The worker sends events over a queue
(``{"type": "log" | "progress" | "done" | "failed" | "cancelled", ...}``); the server numbers them,
appends them to ``WORKSPACE/.studio/jobs/<id>.jsonl`` and keeps them in memory, so a page that
reloads replays the stream from any event number (SSE ``Last-Event-ID``). Cancel sends SIGINT to the
worker — exactly what Ctrl-C does to the CLI, so the stage stops the same way (training saves).
Writing tasks take the workspace lock (:mod:`recast.locking`) inside the worker.
"""

from __future__ import annotations

import itertools
import json
import logging
import multiprocessing
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from queue import Empty
from typing import Any

from recast.atomic import atomic_write_text
from recast.studio.tasks import get_task

log = logging.getLogger(__name__)

TERMINAL = ("done", "failed", "cancelled")
JOBS_DIR = Path(".studio") / "jobs"


@dataclass
class Job:
    """One run of a task. state: queued → running → done / failed / cancelled (or ``lost`` when the
    server stopped while it ran). events: numbered from 0 in order."""

    id: int
    task: str
    options: dict[str, Any]
    state: str = "queued"
    created: float = field(default_factory=time.time)
    finished: float | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    process: BaseProcess | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        """JSON-able view without the events."""
        return {"id": self.id, "task": self.task, "options": self.options, "state": self.state,
                "created": self.created, "finished": self.finished, "result": self.result,
                "error": self.error, "events": len(self.events)}


class JobManager:
    """Starts, tracks and cancels the jobs of one workspace (thread-safe)."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = Path(workspace)
        self.folder = self.workspace / JOBS_DIR
        self._jobs: dict[int, Job] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._load_history()
        self._ids = itertools.count(max(self._jobs, default=0) + 1)

    def all(self) -> list[Job]:
        """Every job, oldest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda job: job.id)

    def get(self, job_id: int) -> Job:
        """The job, or KeyError."""
        with self._lock:
            return self._jobs[job_id]

    def start(self, task_name: str, options: dict[str, Any]) -> Job:
        """Start ``task_name`` with ``options`` in a worker process.

        Raises:
            KeyError: an unknown task.
            OptionError / InputError: the task refuses the options (checked before any process starts
                or lock is taken; no job is recorded).
        """
        task = get_task(task_name)
        task.check_options(self.workspace, options)
        job = Job(next(self._ids), task.name, dict(options))
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        what = f"studio job {job.id}: {task.name}"
        # Not a daemon: stages start their own worker pools. The worker exits when the server dies.
        job.process = context.Process(target=_worker_main, name=f"recast-{task.name}-{job.id}",
                                      args=(task.run, task.writes, what, str(self.workspace), job.options, queue,
                                            os.getpid(), job.id))
        with self._lock:
            self._jobs[job.id] = job
        self.folder.mkdir(parents=True, exist_ok=True)
        job.process.start()
        job.state = "running"
        self._save(job)
        threading.Thread(target=self._pump, args=(job, queue), name=f"job-{job.id}-events", daemon=True).start()
        log.info("started job %d (%s)", job.id, task.name)
        return job

    def cancel(self, job_id: int) -> Job:
        """Ask a running job to stop (SIGINT, as Ctrl-C); a second call kills it."""
        job = self.get(job_id)
        if job.state == "running" and job.process is not None and job.process.pid and job.process.is_alive():
            asked = any(e.get("type") == "cancel-requested" for e in job.events)
            os.kill(job.process.pid, signal.SIGKILL if asked else signal.SIGINT)
            self._add(job, {"type": "cancel-requested"})
        return job

    def events_after(self, job_id: int, after: int, timeout: float) -> list[dict[str, Any]]:
        """Events numbered above ``after`` (-1 = all), waiting up to ``timeout`` s for the first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            job = self._jobs[job_id]
            while len(job.events) <= after + 1 and job.state not in TERMINAL + ("lost",):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return job.events[after + 1:]

    def shutdown(self) -> None:
        """Stop every running job (SIGINT, then kill after 10 s)."""
        running = [job for job in self.all() if job.process is not None and job.process.is_alive()]
        for job in running:
            self.cancel(job.id)
        for job in running:
            assert job.process is not None
            job.process.join(10)
            if job.process.is_alive():
                job.process.kill()

    def _pump(self, job: Job, queue: Any) -> None:
        assert job.process is not None
        while True:
            try:
                event = queue.get(timeout=0.5)
            except Empty:
                if job.process.is_alive():
                    continue
                try:
                    event = queue.get(timeout=0.5)
                except Empty:
                    code = job.process.exitcode
                    event = {"type": "failed", "message": f"the worker process ended unexpectedly (exit code {code})"}
            self._add(job, event)
            if event["type"] in TERMINAL:
                break
        job.process.join(5)

    def _add(self, job: Job, event: dict[str, Any]) -> None:
        with self._changed:
            event = {"n": len(job.events), "t": round(time.time(), 3), **event}
            job.events.append(event)
            if event["type"] in TERMINAL:
                job.state, job.finished = event["type"], time.time()
                job.result = event.get("result")
                job.error = event.get("message") if event["type"] == "failed" else None
            self._changed.notify_all()
        with (self.folder / f"{job.id}.jsonl").open("a") as handle:
            handle.write(json.dumps(event) + "\n")
        if event["type"] in TERMINAL:
            self._save(job)

    def _save(self, job: Job) -> None:
        atomic_write_text(self.folder / f"{job.id}.json", json.dumps(job.summary()))

    def _load_history(self) -> None:
        if not self.folder.is_dir():
            return
        for path in self.folder.glob("*.json"):
            try:
                record = json.loads(path.read_text())
                job = Job(int(record["id"]), str(record["task"]), dict(record["options"]), str(record["state"]),
                          float(record["created"]), record.get("finished"), record.get("result"), record.get("error"))
                events = path.with_suffix(".jsonl")
                if events.is_file():
                    job.events = [json.loads(line) for line in events.read_text().splitlines() if line.strip()]
            except (OSError, ValueError, KeyError, TypeError) as error:
                log.warning("skipping unreadable job record %s: %s", path, error)
                continue
            if job.state in ("queued", "running"):
                job.state = "lost"
            self._jobs[job.id] = job


class _QueueLogHandler(logging.Handler):
    def __init__(self, queue: Any) -> None:
        super().__init__(logging.INFO)
        self.queue = queue

    def emit(self, record: logging.LogRecord) -> None:
        self.queue.put({"type": "log", "level": record.levelname.lower(), "message": record.getMessage(),
                        "logger": record.name})


class _Emitter:
    """The :class:`recast.studio.tasks.Emit` a task gets: puts events on the job's queue."""

    def __init__(self, queue: Any, job_id: int) -> None:
        self.queue, self.job_id = queue, job_id

    def __call__(self, event: dict[str, Any]) -> None:
        self.queue.put(event)


def _worker_main(run: str, writes: bool, what: str, workspace: str, options: dict[str, Any], queue: Any,
                 server_pid: int, job_id: int) -> None:
    """Worker-process entry: run the task, report its outcome as the last event."""
    import importlib

    from recast.errors import RecastError
    from recast.locking import workspace_lock
    from recast.workers import watch_parent

    watch_parent(server_pid)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    root = logging.getLogger("recast")
    root.setLevel(logging.INFO)
    root.addHandler(_QueueLogHandler(queue))
    module_name, function_name = run.split(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
        emit = _Emitter(queue, job_id)
        if writes:
            with workspace_lock(Path(workspace), what):
                result = function(Path(workspace), options, emit)
        else:
            result = function(Path(workspace), options, emit)
        queue.put({"type": "done", "result": result})
    except KeyboardInterrupt:
        queue.put({"type": "cancelled", "message": "stopped by the user"})
    except (RecastError, TypeError, ValueError) as error:
        queue.put({"type": "failed", "message": str(error)})
    except Exception as error:  # anything else is a bug: keep the traceback for the report
        queue.put({"type": "failed", "message": f"{type(error).__name__}: {error}",
                   "traceback": traceback.format_exc()})
    finally:
        queue.close()
        queue.join_thread()
