"""The task functions the studio's workers call (see :mod:`recast.studio.tasks`): form options →
the stage's options → the stage → a JSON-able summary. Each is as thin as its CLI command."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from recast.studio.tasks import Emit
from recast.workspace import Workspace


def run_train(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Train (or resume) ``model/<name>`` on the workspace's src and dst facesets.

    options: ``name`` (model folder, default "default"), ``model`` (registry name for a new model),
    ``iterations`` (target), ``more``, ``minutes``, ``settings`` (TrainSettings overrides),
    ``model_config`` (architecture, new model only), ``preview_every``.
    """
    from recast.train.options import ProgressEvent, TrainOptions
    from recast.train.trainer import train

    ws = Workspace(workspace)
    last_iteration_event = 0.0

    def on_event(event: ProgressEvent) -> None:
        nonlocal last_iteration_event
        if event.kind == "iteration":  # at most two per second: a long run must not flood the stream
            if time.monotonic() - last_iteration_event < 0.5:
                return
            last_iteration_event = time.monotonic()
        emit({"type": "progress", "kind": event.kind, "iteration": event.iteration,
              "ms_per_iter": round(event.ms_per_iter, 1), "losses": event.losses, "message": event.message})

    options = dict(options)
    name = str(options.pop("name", "default"))
    result = train(TrainOptions(src=ws.src_aligned, dst=ws.dst_aligned, model_dir=ws.model_dir(name),
                                on_event=on_event, **options))
    return {"status": result.status, "iteration": result.iteration, "model_dir": f"model/{name}"}
