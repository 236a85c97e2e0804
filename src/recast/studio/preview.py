"""The merge tuner's warm preview worker: one process per studio that keeps the model loaded.

DESIGN.md's one exception to "the server computes no stage": a merge preview has to come back in
a fraction of a second, so it cannot wait for a job's process to start and load torch and the
model. :class:`PreviewService` starts a worker process on the first preview and keeps it; the
worker holds a :class:`recast.merge.engine.FrameMerger` (the merge engine's own one-frame entry
point, so a preview is exactly the frame a merge writes) and answers "frame N with these
settings" with an encoded image: the merged frame (JPEG) or its mask (PNG). The worker is
restarted when another model is asked for or the model's weights change on disk (more training).

Requests are served one at a time and the latest wins: a request still waiting when a newer one
arrives is answered :class:`Superseded` without being computed, so scrubbing fast never builds a
queue. :meth:`PreviewService.render` blocks; the web route runs it on a thread so the event loop
stays free.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recast.merge.engine import FrameMerger

log = logging.getLogger(__name__)

VIEWS = ("result", "mask")
JPEG_QUALITY = 90
START_SECONDS = 300.0
"""How long the worker may take to import torch and load the model before it counts as failed."""


@dataclass(frozen=True)
class PreviewRequest:
    """Frame ``frame`` (from 1) merged by ``model/<model>`` with ``settings`` (a full or partial
    :class:`recast.merge.settings.MergeSettings` dict); ``view``: ``result`` or ``mask``; ``xseg``:
    an XSeg mask model in ``model/`` for the ``xseg-*`` mask modes (None: none)."""

    model: str
    frame: int
    settings: dict[str, Any]
    view: str = "result"
    xseg: str | None = None


@dataclass
class PreviewImage:
    """An encoded preview: ``data`` bytes of ``media_type``, and what the merge did (``info``:
    faces_merged, faces_masked_out, name, ms spent in the worker)."""

    data: bytes
    media_type: str
    info: dict[str, Any] = field(default_factory=dict)


class Superseded(Exception):
    """A newer preview request arrived before this one was started; it was dropped."""


class PreviewFailed(Exception):
    """The worker could not make the preview. ``kind``: ``option`` (bad settings or frame),
    ``input`` (the workspace lacks something the merge needs) or ``error`` (anything else)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _weights_stamp(model_dir: Path) -> tuple[int, int] | None:
    from recast.models.checkpoint import WEIGHTS_FILE

    try:
        stat = (model_dir / WEIGHTS_FILE).stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _stamps(workspace: Path, model: str, xseg: str | None) -> tuple[object, ...]:
    """What, changed on disk, makes the loaded models stale: the face model's and the XSeg model's weights."""
    return (_weights_stamp(workspace / "model" / model), _weights_stamp(workspace / "model" / xseg) if xseg else None)


class _Worker:
    """One worker process and its end of the pipe."""

    def __init__(self, workspace: Path, model: str, xseg: str | None, device: str) -> None:
        self.model, self.xseg = model, xseg
        self.stamp = _stamps(workspace, model, xseg)
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_worker_main, name=f"recast-preview-{model}", daemon=True,
            args=(str(workspace), model, xseg, device, child, os.getpid()))
        self.process.start()
        child.close()
        self.ready: dict[str, Any] | None = None

    def wait_ready(self) -> dict[str, Any]:
        if self.ready is None:
            reply = self._receive(START_SECONDS)
            if reply[0] != "ready":
                raise PreviewFailed(reply[1], reply[2])
            self.ready = reply[1]
        return self.ready

    def ask(self, request: PreviewRequest) -> PreviewImage:
        self.wait_ready()
        try:
            self.conn.send((request.frame, request.settings, request.view))
        except (OSError, ValueError):
            raise PreviewFailed("error", "the preview worker is gone (the studio is stopping?)") from None
        reply = self._receive(None)
        if reply[0] != "ok":
            raise PreviewFailed(reply[1], reply[2])
        return PreviewImage(reply[1], reply[2], reply[3])

    def _receive(self, timeout: float | None) -> tuple[Any, ...]:
        try:
            if timeout is not None and not self.conn.poll(timeout):
                raise PreviewFailed("error", f"the preview worker did not start within {timeout:.0f} s")
            reply: tuple[Any, ...] = self.conn.recv()
            return reply
        except (EOFError, OSError):
            raise PreviewFailed("error", "the preview worker ended unexpectedly "
                                f"(exit code {self.process.exitcode})") from None

    def alive(self) -> bool:
        return self.process.is_alive()

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.conn.close()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


class PreviewService:
    """The studio's merge previews: one warm worker, requests served one at a time, latest wins.

    Args:
        workspace: the studio's workspace (models in ``model/``, frames in ``data_dst/``, faces in
            ``data_dst/aligned/``).
        device: torch device for the model (``auto``: CUDA when usable).
    """

    def __init__(self, workspace: Path, device: str = "auto") -> None:
        self.workspace = Path(workspace)
        self.device = device
        self._worker: _Worker | None = None
        self._busy = threading.Lock()
        self._tickets = threading.Lock()
        self._latest = 0
        self._closed = False

    def render(self, request: PreviewRequest) -> PreviewImage:
        """The preview for ``request`` (blocks; starts or restarts the worker when needed).

        Raises:
            Superseded: a newer request came in while this one waited.
            PreviewFailed: the worker could not make it.
        """
        with self._tickets:
            self._latest += 1
            ticket = self._latest
        with self._busy:
            if ticket != self._latest:
                raise Superseded("a newer preview request replaced this one")
            if self._closed:
                raise PreviewFailed("error", "the studio is shutting down")
            started = time.perf_counter()
            image = self._worker_for(request.model, request.xseg).ask(request)
            image.info["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
            return image

    def close(self) -> None:
        """Stop the worker (the studio is shutting down; a preview in progress fails)."""
        self._closed = True
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()

    def _worker_for(self, model: str, xseg: str | None) -> _Worker:
        worker = self._worker
        stale = worker is not None and (
            (worker.model, worker.xseg) != (model, xseg) or not worker.alive()
            or worker.stamp != _stamps(self.workspace, model, xseg))
        if worker is not None and stale:
            log.info("restarting the preview worker (model %s)", model)
            worker.close()
            worker = None
        if worker is None:
            worker = _Worker(self.workspace, model, xseg, self.device)
            self._worker = worker
        try:
            worker.wait_ready()
        except PreviewFailed:
            worker.close()
            self._worker = None
            raise
        return worker


def encode_preview(image: Any, view: str) -> tuple[bytes, str]:
    """A merged frame (``view`` ``result``: JPEG) or mask (``mask``: PNG) as ``(bytes, media type)``."""
    import cv2

    if view == "mask":
        ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        media_type = "image/png"
    else:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        media_type = "image/jpeg"
    if not ok:
        raise ValueError("could not encode the preview")
    return data.tobytes(), media_type


def _worker_main(workspace: str, model: str, xseg: str | None, device: str, conn: Connection,
                 server_pid: int) -> None:
    """Worker-process entry: load the model once, then answer ``(frame, settings, view)`` until ``None``."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle between previews: let the cores go
    from recast.errors import InputError, OptionError, RecastError
    from recast.workers import watch_parent

    watch_parent(server_pid)
    try:
        merger = _open(Path(workspace), model, xseg, device)
    except RecastError as error:
        conn.send(("failed", "input" if isinstance(error, InputError) else "option", str(error)))
        return
    except Exception as error:  # a bug: report it rather than leave the server waiting
        conn.send(("failed", "error", f"{type(error).__name__}: {error}"))
        return
    conn.send(("ready", {"frames": len(merger.names), "resolution": merger.inputs.model.resolution}))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        number, settings, view = message
        try:
            conn.send(("ok", *_preview(merger, number, settings, view)))
        except OptionError as error:
            conn.send(("failed", "option", str(error)))
        except InputError as error:
            conn.send(("failed", "input", str(error)))
        except Exception as error:  # keep serving: one bad frame must not take the worker down
            conn.send(("failed", "error", f"{type(error).__name__}: {error}"))


def _open(workspace: Path, model: str, xseg: str | None, device: str) -> FrameMerger:
    from recast.merge.engine import FrameMerger, open_inputs
    from recast.merge.settings import MergeSettings
    from recast.runtime.devices import resolve_device
    from recast.workspace import Workspace

    ws = Workspace(workspace)
    inputs = open_inputs(ws.model_dir(model), ws.dst_frames, ws.dst_aligned, MergeSettings(),
                         resolve_device(device), "auto", xseg=ws.model_dir(xseg) if xseg else None)
    return FrameMerger(inputs)


def _preview(merger: FrameMerger, number: int, settings: dict[str, Any],
             view: str) -> tuple[bytes, str, dict[str, Any]]:
    from recast.merge.settings import MergeSettings

    started = time.perf_counter()
    frame = merger.merge(number, MergeSettings.from_dict(settings))
    if frame.image is None or frame.mask is None:  # raw-predict: the model's faces side by side
        import numpy as np

        image = np.hstack([face for face, _ in frame.raw_faces])
        mask = np.hstack([alpha for _, alpha in frame.raw_faces])
    else:
        image, mask = frame.image, frame.mask
    data, media_type = encode_preview(mask if view == "mask" else image, view)
    info = {"name": frame.name, "faces_merged": frame.faces_merged, "faces_masked_out": frame.faces_masked_out,
            "worker_ms": round((time.perf_counter() - started) * 1000, 1)}
    return data, media_type, info
