"""The studio's warm preview worker: one process per studio that keeps models loaded.

DESIGN.md's one exception to "the server computes no stage": a merge preview has to come back in
a fraction of a second, so it cannot wait for a job's process to start and load torch and the
model. :class:`PreviewService` starts a worker process on the first request and keeps it; the
server itself never imports torch. The worker answers two kinds of request:

- :class:`PreviewRequest`, the merge tuner's "frame N with these settings": it holds a
  :class:`recast.merge.engine.FrameMerger` (the merge engine's own one-frame entry point, so a
  preview is exactly the frame a merge writes) and answers with the merged frame (JPEG) or its
  mask (PNG);
- :class:`MaskRequest`, the XSeg editor's "this model's mask of this face" (PNG).

Before every request the worker compares the models it holds with
:func:`recast.models.checkpoint.current_weights` and reloads them when a newer checkpoint was saved
(more training), so a preview always shows the weights a render would use; each answer names the
iterations it used (``info``: ``iteration``, ``xseg_iteration``).

Merge previews are served one at a time and the latest wins: a request still waiting when a newer
one arrives is answered :class:`Superseded` without being computed, so scrubbing fast never builds a
queue. :meth:`PreviewService.render` and :meth:`PreviewService.mask` block; the web routes run them
on a thread so the event loop stays free.
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
"""How long the worker may take to start (import its modules) before it counts as failed."""


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


@dataclass(frozen=True)
class MaskRequest:
    """The mask that the XSeg model ``model/<xseg>`` predicts for the aligned face at ``face`` (a path
    the server has already resolved inside the workspace)."""

    xseg: str
    face: Path


@dataclass
class PreviewImage:
    """An encoded preview: ``data`` bytes of ``media_type``, and what the worker did (``info``: for a
    merge faces_merged, faces_masked_out, name; the ``iteration`` (and ``xseg_iteration``) of the
    weights used; ms spent in the worker)."""

    data: bytes
    media_type: str
    info: dict[str, Any] = field(default_factory=dict)


class Superseded(Exception):
    """A newer preview request arrived before this one was started; it was dropped."""


class PreviewFailed(Exception):
    """The worker could not make the preview. ``kind``: ``option`` (bad settings or frame),
    ``input`` (the workspace lacks something the request needs) or ``error`` (anything else)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Worker:
    """One worker process and its end of the pipe."""

    def __init__(self, workspace: Path, device: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_worker_main, name="recast-preview", daemon=True,
            args=(str(workspace), device, child, os.getpid()))
        self.process.start()
        child.close()
        self.ready = False

    def wait_ready(self) -> None:
        if not self.ready:
            reply = self._receive(START_SECONDS)
            if reply[0] != "ready":
                raise PreviewFailed(reply[1], reply[2])
            self.ready = True

    def ask(self, message: tuple[Any, ...]) -> PreviewImage:
        self.wait_ready()
        try:
            self.conn.send(message)
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
    """The studio's previews: one warm worker, requests served one at a time, latest merge preview wins.

    Args:
        workspace: the studio's workspace (models in ``model/``, frames in ``data_dst/``, faces in
            ``data_dst/aligned/``).
        device: torch device for the models (``auto``: CUDA when usable).
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
        """The merge preview for ``request`` (blocks; starts the worker when needed).

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
            message = ("merge", request.model, request.xseg, request.frame, request.settings, request.view)
            return self._ask(message)

    def mask(self, request: MaskRequest) -> PreviewImage:
        """The XSeg model's mask of one face, a grayscale PNG of the face's size (blocks).

        Raises:
            PreviewFailed: the worker could not make it.
        """
        with self._busy:
            return self._ask(("mask", request.xseg, str(request.face)))

    def close(self) -> None:
        """Stop the worker (the studio is shutting down; a preview in progress fails)."""
        self._closed = True
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()

    def _ask(self, message: tuple[Any, ...]) -> PreviewImage:
        if self._closed:
            raise PreviewFailed("error", "the studio is shutting down")
        started = time.perf_counter()
        image = self._worker_now().ask(message)
        image.info["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return image

    def _worker_now(self) -> _Worker:
        worker = self._worker
        if worker is not None and not worker.alive():
            log.info("restarting the preview worker (exit code %s)", worker.process.exitcode)
            worker.close()
            worker = None
        if worker is None:
            worker = _Worker(self.workspace, self.device)
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


class _Held:
    """What the worker keeps loaded: the merger of one (model, xseg) pair and one XSeg predictor, each
    with the :func:`recast.models.checkpoint.current_weights` versions it was loaded at."""

    def __init__(self, workspace: Path, device: str) -> None:
        self.workspace, self.device = workspace, device
        self.merger: tuple[tuple[object, ...], FrameMerger] | None = None
        self.predictor: tuple[tuple[object, ...], Any] | None = None

    def _dir(self, name: str) -> Path:
        from recast.workspace import Workspace

        return Workspace(self.workspace).model_dir(name)

    def merger_for(self, model: str, xseg: str | None) -> FrameMerger:
        """The merger of ``model`` (and ``xseg``), reloaded when either has newer weights on disk."""
        from recast.models.checkpoint import current_weights

        key = (model, xseg, current_weights(self._dir(model)), current_weights(self._dir(xseg)) if xseg else None)
        if self.merger is None or self.merger[0] != key:
            self.merger = None  # let the old model go before the new one loads
            self.merger = (key, _open(self.workspace, model, xseg, self.device))
        return self.merger[1]

    def predictor_for(self, xseg: str) -> Any:
        """The XSeg predictor of ``model/<xseg>``, reloaded when it has newer weights on disk."""
        from recast.faceset.labelling import load_mask_model
        from recast.models.checkpoint import current_weights

        key = (xseg, current_weights(self._dir(xseg)))
        if self.predictor is None or self.predictor[0] != key:
            self.predictor = None
            self.predictor = (key, load_mask_model(self._dir(xseg), self.device))
        return self.predictor[1]


def _worker_main(workspace: str, device: str, conn: Connection, server_pid: int) -> None:
    """Worker-process entry: answer ``("merge", …)`` and ``("mask", …)`` requests until ``None``."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle between previews: let the cores go
    from recast.errors import InputError, OptionError
    from recast.runtime.devices import resolve_device
    from recast.workers import watch_parent

    watch_parent(server_pid)
    try:
        held = _Held(Path(workspace), resolve_device(device))
    except Exception as error:  # a bad device, say: report it rather than leave the server waiting
        conn.send(("failed", "option", f"{type(error).__name__}: {error}"))
        return
    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        try:
            answer = _mask if message[0] == "mask" else _preview
            conn.send(("ok", *answer(held, *message[1:])))
        except OptionError as error:
            conn.send(("failed", "option", str(error)))
        except InputError as error:
            conn.send(("failed", "input", str(error)))
        except Exception as error:  # keep serving: one bad request must not take the worker down
            conn.send(("failed", "error", f"{type(error).__name__}: {error}"))


def _open(workspace: Path, model: str, xseg: str | None, device: str) -> FrameMerger:
    from recast.merge.engine import FrameMerger, open_inputs
    from recast.merge.settings import MergeSettings
    from recast.workspace import Workspace

    ws = Workspace(workspace)
    inputs = open_inputs(ws.model_dir(model), ws.dst_frames, ws.dst_aligned, MergeSettings(), device, "auto",
                         xseg=ws.model_dir(xseg) if xseg else None)
    return FrameMerger(inputs)


def _preview(held: _Held, model: str, xseg: str | None, number: int, settings: dict[str, Any],
             view: str) -> tuple[bytes, str, dict[str, Any]]:
    from recast.merge.settings import MergeSettings

    started = time.perf_counter()
    merger = held.merger_for(model, xseg)
    frame = merger.merge(number, MergeSettings.from_dict(settings))
    if frame.image is None or frame.mask is None:  # raw-predict: the model's faces side by side
        import numpy as np

        image = np.hstack([face for face, _ in frame.raw_faces])
        mask = np.hstack([alpha for _, alpha in frame.raw_faces])
    else:
        image, mask = frame.image, frame.mask
    data, media_type = encode_preview(mask if view == "mask" else image, view)
    info = {"name": frame.name, "faces_merged": frame.faces_merged, "faces_masked_out": frame.faces_masked_out,
            "iteration": getattr(merger.inputs.model, "iteration", None),
            "xseg_iteration": getattr(merger.inputs.xseg, "iteration", None),
            "worker_ms": round((time.perf_counter() - started) * 1000, 1)}
    return data, media_type, info


def _mask(held: _Held, xseg: str, face: str) -> tuple[bytes, str, dict[str, Any]]:
    from recast.faceset.labelling import predict_mask, read_face_image, read_meta

    started = time.perf_counter()
    predictor = held.predictor_for(xseg)
    mask = predict_mask(predictor, read_face_image(Path(face)), read_meta(Path(face)))
    data, media_type = encode_preview((mask * 255.0 + 0.5).clip(0, 255).astype("uint8"), "mask")
    return data, media_type, {"iteration": predictor.iteration,
                              "worker_ms": round((time.perf_counter() - started) * 1000, 1)}
