"""Where the merge engine's frames go: a folder of PNG frames, or straight into the result video.

* :class:`PngSink` writes ``<frame stem>.png`` into the frames and masks folders (watermarked
  frames, 8-bit grey masks), atomically, and tells the engine which frames an earlier run
  already wrote (resume). Users who edit merged frames take this path, then ``recast video``.
* :class:`VideoSink` labels each frame (watermark, optional visible label) in the worker thread
  and feeds it, in order, to a :class:`recast.provenance.writer.ResultWriter` running in its own
  encoder thread, so encoding overlaps the model and the blending. A video cannot be resumed
  frame by frame: an interrupted run leaves no result and starts over.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from types import TracebackType
from typing import cast

import cv2
import numpy as np

from recast.atomic import atomic_write_bytes
from recast.errors import InputError
from recast.media.images import FAST_PNG_PARAMS
from recast.merge.engine import MergedFrame
from recast.merge.settings import MergeSettings
from recast.provenance.label import mark_frame
from recast.provenance.writer import ResultWriter

_QUEUE_FRAMES = 8  # labelled frames waiting for the encoder thread (bounds memory: 5.5 MB per 720p frame + mask)


class PngSink:
    """Merged frames → ``out_dir/<stem>.png`` and masks → ``mask_dir/<stem>.png``, written atomically.

    Frames get the invisible watermark; masks are ``(H, W)`` grey. In ``raw-predict`` mode a
    frame with faces is written as one ``<stem>_<face index>.png`` per face (the model's output
    and its alpha). With ``force`` false, frames whose files exist are skipped (resume).
    """

    def __init__(self, out_dir: Path, mask_dir: Path, force: bool) -> None:
        self.out_dir, self.mask_dir, self.force = out_dir, mask_dir, force

    def skip(self, name: str, faces: int, settings: MergeSettings) -> bool:
        """Whether every file of frame ``name`` is already there (and not ``force``)."""
        if self.force:
            return False
        stem = Path(name).stem
        raw = settings.mode == "raw-predict" and faces
        names = [f"{stem}_{i}.png" for i in range(faces)] if raw else [f"{stem}.png"]
        return all((self.out_dir / n).is_file() and (self.mask_dir / n).is_file() for n in names)

    def process(self, frame: MergedFrame) -> None:
        """Watermark and write the frame and its mask (worker thread)."""
        stem = Path(frame.name).stem
        if frame.image is None:
            for index, (face, alpha) in enumerate(frame.raw_faces):
                _write_png(self.out_dir / f"{stem}_{index}.png", face)
                _write_png(self.mask_dir / f"{stem}_{index}.png", alpha)
            return
        assert frame.mask is not None
        _write_png(self.out_dir / f"{stem}.png", mark_frame(frame.image))
        _write_png(self.mask_dir / f"{stem}.png", frame.mask)

    def accept(self, processed: object) -> None:
        """Nothing left to do: :meth:`process` wrote the files."""


class VideoSink:
    """Merged frames → a labelled result video and mask video, through an encoder thread.

    Use as a context manager around the engine run: leaving it normally waits for the encoder
    to take every frame (call ``writer.close()`` afterwards); an exception stops the encoder.
    An error in the encoder thread is raised again by the next :meth:`accept` or on leaving.
    """

    def __init__(self, writer: ResultWriter) -> None:
        self.writer = writer
        self._queue: queue.Queue[tuple[np.ndarray, np.ndarray | None] | None] = queue.Queue(_QUEUE_FRAMES)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._encode, name="recast-encoder", daemon=True)

    def skip(self, name: str, faces: int, settings: MergeSettings) -> bool:
        """Never: a video is written from its first frame to its last in one run."""
        return False

    def process(self, frame: MergedFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """Label the frame and its mask (worker thread)."""
        assert frame.image is not None and frame.mask is not None, "raw-predict frames cannot go into a video"
        return self.writer.label(frame.image, cv2.cvtColor(frame.mask, cv2.COLOR_GRAY2BGR))

    def accept(self, processed: object) -> None:
        """Queue one labelled frame (from :meth:`process`) for the encoder thread; blocks while the queue is full."""
        item = cast(tuple[np.ndarray, np.ndarray | None], processed)
        while True:
            self._raise_encoder_error()
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def __enter__(self) -> VideoSink:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self._stop()
            return
        self._queue.put(None)
        self._thread.join()
        self._raise_encoder_error()

    def _encode(self) -> None:
        try:
            while (item := self._queue.get()) is not None:
                self.writer.write(*item)
        except BaseException as error:  # handed to the caller's thread
            self._error = error
            self._drain()

    def _stop(self) -> None:
        """Let the encoder thread end without writing what is still queued."""
        self._drain()
        self._queue.put(None)
        self._thread.join()

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def _raise_encoder_error(self) -> None:
        if self._error is not None:
            raise self._error


def _write_png(path: Path, image: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", np.ascontiguousarray(image), FAST_PNG_PARAMS)
    if not ok:
        raise InputError(path, "could not encode the image as PNG")
    atomic_write_bytes(path, data.tobytes())

