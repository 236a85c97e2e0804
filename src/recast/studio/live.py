"""The studio's Live page back end: a live session in a job worker, its frames handed to the server
as the newest JPEG on disk (``WORKSPACE/.studio/live/<job>.jpg``, replaced atomically), and served
to the page as MJPEG. No queue anywhere: a slow page sees fewer frames, never older ones."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import cv2

from recast.errors import InputError, OptionError
from recast.studio.tasks import Emit

LIVE_DIR = Path(".studio") / "live"
CAMERA_PREFIX = "camera:"


def frame_path(workspace: Path, job_id: int | str) -> Path:
    """Where job ``job_id``'s newest output frame is kept."""
    return Path(workspace) / LIVE_DIR / f"{job_id}.jpg"


def resolve_input(workspace: Path, spec: str) -> str:
    """``camera:N`` → the camera index; any other name → that video file inside the workspace."""
    from recast.studio.files import inside

    if spec.startswith(CAMERA_PREFIX) and spec[len(CAMERA_PREFIX):].isdigit():
        return spec[len(CAMERA_PREFIX):]
    try:
        path = inside(Path(workspace), *Path(spec).parts)
    except Exception:
        raise InputError(spec, "not a file in the workspace") from None
    if not path.is_file():
        raise InputError(spec, "no such video in the workspace")
    return str(path)


def resolve_model(workspace: Path, name: str) -> Path:
    """A model folder under ``model/`` or a ``.dfm``/``.onnx`` file in the workspace."""
    from recast.studio.files import inside

    try:
        path = inside(Path(workspace), "model", name) if "/" not in name else inside(Path(workspace), *name.split("/"))
    except Exception:
        raise InputError(name, "not a model in the workspace") from None
    if not path.exists():
        raise InputError(name, "no such model in the workspace")
    return path


def check_live(workspace: Path, options: Any) -> tuple[Any, Any]:
    """The live task's options: (:class:`~recast.studio.tasks.options.LiveJob`,
    :class:`~recast.live.engine.LiveOptions` with its merge ``settings``, a :data:`LIVE_SETTINGS` subset);
    the model and the input must exist in the workspace."""
    from recast.live.engine import LiveOptions
    from recast.merge.settings import MergeSettings
    from recast.options import from_mapping
    from recast.studio.tasks.options import LiveJob, split

    if not isinstance(options, dict):
        raise OptionError(f"live options must be an object of name: value, got {str(options)[:40]!r}")
    rest = {key: value for key, value in options.items() if key != "settings"}
    job_part, live_part = split(rest, "live")
    (settings,) = split(options.get("settings") or {}, "live-settings")
    live = from_mapping(LiveOptions, {**live_part, "settings": MergeSettings.from_dict(settings)})
    job = from_mapping(LiveJob, job_part)
    resolve_model(workspace, job.model)
    resolve_input(workspace, job.input)
    return job, live


class FreshModel:
    """The face model at ``path`` (a model folder or a ``.dfm``/``.onnx`` file), reloaded by
    :meth:`refresh` when more training saved a newer checkpoint in the folder
    (:func:`recast.models.checkpoint.current_weights`, the one freshness check the merge preview uses too)."""

    def __init__(self, path: Path) -> None:
        from recast.models.checkpoint import current_weights
        from recast.models.loader import load_face_model

        self.path = Path(path)
        self.version = current_weights(self.path) if self.path.is_dir() else None
        self.model = load_face_model(self.path)

    @property
    def iteration(self) -> int | None:
        """The iteration of the weights in use (None for a model file)."""
        return getattr(self.model, "iteration", None)

    def refresh(self) -> bool:
        """Load the newer weights when a newer checkpoint was saved; whether it did."""
        from recast.models.checkpoint import current_weights
        from recast.models.loader import load_face_model

        if self.version is None:
            return False
        newer = current_weights(self.path)
        if newer is None or newer == self.version:
            return False
        self.model, self.version = load_face_model(self.path), newer
        return True


def run_live_view(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Swap faces live from ``options["input"]`` with ``options["model"]``, publishing frames for the page.

    options: :class:`~recast.studio.tasks.options.LiveJob` fields (``model``: a folder name under
    model/ or a workspace-relative .dfm/.onnx; ``input``: ``camera:N`` or a workspace-relative video,
    played at its own rate; ``seconds``), ``recast live``'s :data:`~recast.live.engine.LIVE_FLAGS`
    and ``settings`` (merge settings, :data:`~recast.live.engine.LIVE_SETTINGS`). Stats are
    emitted once a second, with the ``iteration`` of the weights in use: a model folder is reloaded when
    more training saves a newer checkpoint. The newest frame is at :func:`frame_path` of this job.
    Latency is one measure throughout, capture → frame published for the page: each second's report
    gives the median of that second's frames, the result the median of all.
    """
    import numpy as np

    from recast.live.capture import open_source
    from recast.live.engine import LiveSession

    job, live_options = check_live(workspace, options)
    held = FreshModel(resolve_model(workspace, job.model))
    session = LiveSession(held.model, open_source(resolve_input(workspace, job.input)), live_options)
    target = frame_path(workspace, emit.job_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    seconds = job.seconds
    started = last_report = time.monotonic()
    published: list[float] = []
    reported = 0
    try:
        for frame in session.frames():
            ok, jpeg = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, 85])
            if ok:
                temporary = target.with_suffix(".tmp")
                temporary.write_bytes(jpeg.tobytes())
                os.replace(temporary, target)
            published.append(time.perf_counter() - frame.captured)
            now = time.monotonic()
            if now - last_report >= 1.0:
                last_report = now
                if held.refresh():  # more training saved a newer checkpoint
                    session.model = held.model
                latency = float(np.median(published[reported:])) * 1000.0
                emit({"type": "progress", "kind": "live", "delivered": session.stats.delivered,
                      "fps": round(session.stats.fps, 1), "latency_ms": round(latency),
                      "faces": frame.faces, "iteration": held.iteration})
                reported = len(published)
            if seconds is not None and now - started >= float(seconds):
                break
    except KeyboardInterrupt:
        session.stop()
    stats = session.stats
    return {"delivered": stats.delivered, "dropped": stats.dropped, "fps": round(stats.fps, 1),
            "latency_median_ms": round(float(np.median(published)) * 1000) if published else 0,
            "iteration": held.iteration}
