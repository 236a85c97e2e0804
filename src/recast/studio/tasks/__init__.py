"""The studio's tasks: what a job can run, its options, and the jobs that run them.

A task's ``run`` is ``"module:function"``; the worker imports it and calls
``function(workspace: Path, options: dict, emit: Emit) -> dict`` — the function turns the form's
options into the stage's own options type (which validates them, as the CLI's do), calls the stage
and returns a JSON-able summary. ``emit({"type": "progress", ...})`` reports progress. A task's
``check`` (``"module:function"``, ``function(workspace, options)``) validates the options in the
server *before* a worker starts or the workspace lock is taken, so a bad form is refused at once
(the studio answers 422 naming the option) instead of becoming a failed job.

Modules: :mod:`~recast.studio.tasks.options` (the studio's own option declarations and how a
form's keys split over the options classes), :mod:`~recast.studio.tasks.runs` (the task functions),
:mod:`~recast.studio.tasks.faceset` (the faceset browser's landmark task),
:mod:`~recast.studio.tasks.xseg` (the XSeg page's train, apply, remove and fetch),
:mod:`~recast.studio.tasks.jobs` (worker processes and their event streams). Adding a task is one
entry in :data:`TASKS` and its functions; nothing else in the studio changes.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class Emit(Protocol):
    """What a task reports through: ``emit(event)`` sends an event; ``emit.job_id`` is its job's id."""

    job_id: int

    def __call__(self, event: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Task:
    """A kind of job. name: its id in URLs; run: ``"module:function"``; title: for the page;
    writes: whether it writes into the workspace (takes the workspace lock); check:
    ``"module:function"`` validating the options before the job starts (None: the run checks them)."""

    name: str
    run: str
    title: str
    writes: bool = True
    check: str | None = None

    def check_options(self, workspace: Path, options: Any) -> None:
        """Raise :class:`~recast.errors.OptionError` (or ``InputError``) for options this task refuses."""
        if self.check is not None:
            _function(self.check)(Path(workspace), options)


def _function(reference: str) -> Any:
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


_RUNS = "recast.studio.tasks.runs"
_XSEG = "recast.studio.tasks.xseg"

TASKS: dict[str, Task] = {task.name: task for task in (
    Task("train", f"{_RUNS}:run_train", "Train the model", check=f"{_RUNS}:check_train"),
    Task("live", "recast.studio.live:run_live_view", "Live swap", writes=False, check="recast.studio.live:check_live"),
    Task("extract", f"{_RUNS}:run_extract", "Extract faces", check=f"{_RUNS}:check_extract"),
    Task("sort", f"{_RUNS}:run_sort", "Sort a faceset", check=f"{_RUNS}:check_sort"),
    Task("render", f"{_RUNS}:run_render", "Render the result video", check=f"{_RUNS}:check_render"),
    Task("eval", f"{_RUNS}:run_eval", "Evaluate the result", check=f"{_RUNS}:check_eval"),
    Task("verify", f"{_RUNS}:run_verify", "Verify the result's labels", writes=False, check=f"{_RUNS}:check_verify"),
    Task("xseg-train", f"{_XSEG}:run_xseg_train", "Train the XSeg mask model", check=f"{_XSEG}:check_xseg_train"),
    Task("xseg-apply", f"{_XSEG}:run_xseg_apply", "Apply the XSeg masks", check=f"{_XSEG}:check_xseg_apply"),
    Task("xseg-remove", f"{_XSEG}:run_xseg_remove", "Remove the applied XSeg masks", check=f"{_XSEG}:check_xseg_side"),
    Task("xseg-fetch", f"{_XSEG}:run_xseg_fetch", "Fetch the labelled faces", check=f"{_XSEG}:check_xseg_side"),
    Task("faceset-landmarks", "recast.studio.tasks.faceset:run_landmarks", "Find landmarks in a box", writes=False,
         check="recast.studio.tasks.faceset:check_landmarks"),
)}


def get_task(name: str) -> Task:
    """The task called ``name``; KeyError with the choices when there is none."""
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"no task {name!r}: choose from {', '.join(sorted(TASKS))}") from None
