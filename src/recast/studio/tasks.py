"""What a studio job can run: each task is a stage function called in a worker process.

A task's ``run`` is ``"module:function"``; the worker imports it and calls
``function(workspace: Path, options: dict, emit: Emit) -> dict`` — the function turns the form's
options into the stage's own options type (which validates them, as the CLI's do), calls the stage
and returns a JSON-able summary. ``emit({"type": "progress", ...})`` reports progress. Adding a
task is one entry in :data:`TASKS` and one small function; nothing else in the studio changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class Emit(Protocol):
    """What a task reports through: ``emit(event)`` sends an event; ``emit.job_id`` is its job's id."""

    job_id: int

    def __call__(self, event: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Task:
    """A kind of job. name: its id in URLs; run: ``"module:function"``; title: for the page;
    writes: whether it writes into the workspace (takes the workspace lock)."""

    name: str
    run: str
    title: str
    writes: bool = True


TASKS: dict[str, Task] = {task.name: task for task in (
    Task("train", "recast.studio.runs:run_train", "Train the model"),
    Task("live", "recast.studio.live:run_live_view", "Live swap", writes=False),
    Task("extract", "recast.studio.runs:run_extract", "Extract faces"),
    Task("sort", "recast.studio.runs:run_sort", "Sort a faceset"),
    Task("render", "recast.studio.runs:run_render", "Render the result video"),
    Task("eval", "recast.studio.runs:run_eval", "Evaluate the result"),
    Task("verify", "recast.studio.runs:run_verify", "Verify the result's labels", writes=False),
    Task("faceset-landmarks", "recast.studio.faceset_tasks:run_landmarks", "Find landmarks in a box", writes=False),
)}


def get_task(name: str) -> Task:
    """The task called ``name``; KeyError with the choices when there is none."""
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"no task {name!r}: choose from {', '.join(sorted(TASKS))}") from None
