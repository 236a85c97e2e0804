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
LIVE_SETTINGS = ("mask_mode", "color", "erode", "blur", "morph")
"""The merge settings the Live page offers (the live loop's own; XSeg modes need a mask model)."""


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


def run_live_view(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Swap faces live from ``options["input"]`` with ``options["model"]``, publishing frames for the page.

    options: ``model`` (folder name under model/, or a workspace-relative .dfm/.onnx), ``input``
    (``camera:N`` or a workspace-relative video, played at its own rate), ``settings`` (merge settings,
    :data:`LIVE_SETTINGS`), ``detect_every``, ``max_faces``, ``visible_label``, ``seconds``. Stats are
    emitted once a second; the newest frame is at :func:`frame_path` of this job.
    """
    from recast.export.loader import load_face_model
    from recast.live.capture import open_source
    from recast.live.engine import LiveOptions, LiveSession
    from recast.merge.settings import MergeSettings

    unknown = set(options) - {"model", "input", "settings", "detect_every", "max_faces", "visible_label", "seconds"}
    if unknown:
        raise OptionError(f"unknown live option(s): {', '.join(sorted(unknown))}")
    settings = dict(options.get("settings") or {})
    extra = sorted(set(settings) - set(LIVE_SETTINGS))
    if extra:
        raise OptionError(f"live settings are {', '.join(LIVE_SETTINGS)}; not {', '.join(extra)}")
    live_options = LiveOptions(MergeSettings.from_dict(settings), detect_every=int(options.get("detect_every", 5)),
                               max_faces=int(options.get("max_faces", 1)),
                               visible_label=bool(options.get("visible_label", False)))
    model = load_face_model(resolve_model(workspace, str(options.get("model", "default"))))
    session = LiveSession(model, open_source(resolve_input(workspace, str(options.get("input", "camera:0")))),
                          live_options)
    target = frame_path(workspace, emit.job_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    seconds = options.get("seconds")
    started = last_report = time.monotonic()
    try:
        for frame in session.frames():
            ok, jpeg = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, 85])
            if ok:
                temporary = target.with_suffix(".tmp")
                temporary.write_bytes(jpeg.tobytes())
                os.replace(temporary, target)
            session.stats.latencies.append(time.perf_counter() - frame.captured)  # capture → published
            now = time.monotonic()
            if now - last_report >= 1.0:
                last_report = now
                emit({"type": "progress", "kind": "live", "delivered": session.stats.delivered,
                      "fps": round(session.stats.fps, 1), "latency_ms": round(frame.latency * 1000.0),
                      "faces": frame.faces})
            if seconds is not None and now - started >= float(seconds):
                break
    except KeyboardInterrupt:
        session.stop()
    stats = session.stats
    return {"delivered": stats.delivered, "dropped": stats.dropped, "fps": round(stats.fps, 1),
            "latency_median_ms": round(stats.latency_ms(50))}
