"""Live frame sources and the capture thread that keeps only the newest frame.

Sources (:func:`open_source`):

* a camera: ``0``, ``1``, … or ``/dev/videoN`` (OpenCV's V4L2 capture; works with opencv-headless);
* a network stream: ``rtsp://``, ``rtmp://``, ``http(s)://``, ``udp://``, ``srt://`` (PyAV);
* a video file, played at its own frame rate as if it were a camera (PyAV), or as fast as it
  decodes with ``realtime=False``.

:class:`LatestFrame` reads a source on its own thread and holds one frame: a frame that is not
taken before the next one arrives is dropped (and counted), so a model slower than the camera
makes the output skip frames instead of falling ever further behind; memory never grows.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import av
import cv2
import numpy as np

from recast.errors import InputError
from recast.media.video import open_stream

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp://", "rtmp://", "http://", "https://", "udp://", "srt://", "tcp://")
DEFAULT_CAMERA_FPS = 30.0


class FrameSource(Protocol):
    """Something that yields ``(H, W, 3)`` uint8 BGR frames in real time.

    ``fps``: the nominal frame rate. ``frames()`` yields frames as they arrive (blocking between
    them) and ends with the stream; ``close()`` releases the device (``frames()`` then ends).
    """

    name: str
    fps: float

    def frames(self) -> Generator[np.ndarray, None, None]:
        ...

    def close(self) -> None:
        ...


class CameraSource:
    """A camera through OpenCV (V4L2 on Linux): ``index`` or a ``/dev/videoN`` path."""

    def __init__(self, device: int | str, width: int | None = None, height: int | None = None) -> None:
        self.name = str(device)
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # failures are reported below
        try:
            self._capture = cv2.VideoCapture(device)
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not self._capture.isOpened():
            raise InputError(self.name, "cannot open this camera (no such device, or it is busy)")
        if width and height:
            self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 1.0 <= fps <= 240.0 else DEFAULT_CAMERA_FPS
        self._release = _ReleaseOnce(self._capture.release)

    def frames(self) -> Generator[np.ndarray, None, None]:
        with self._release.reading():
            while not self._release.closing.is_set():
                ok, frame = self._capture.read()
                if not ok:
                    return
                yield frame

    def close(self) -> None:
        self._release.close()


class AvSource:
    """A video file or network stream through PyAV.

    ``realtime=True`` paces the frames at the stream's rate from the first one (a file then behaves
    like a camera); network streams arrive in real time by themselves and are never paced.
    """

    def __init__(self, url: str, realtime: bool = True) -> None:
        self.name = url
        self._network = url.lower().startswith(STREAM_SCHEMES)
        options = {"rtsp_transport": "tcp"} if url.lower().startswith("rtsp://") else {}
        if not self._network and not Path(url).is_file():
            raise InputError(url, "no such video file, camera or stream")
        self._container, self._stream = open_stream(url, url, options, timeout=10.0)
        self._stream.thread_type = "AUTO"
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = float(rate) if rate else DEFAULT_CAMERA_FPS
        self._paced = realtime and not self._network
        self._release = _ReleaseOnce(self._close_container)

    def frames(self) -> Generator[np.ndarray, None, None]:
        start = time.perf_counter()
        closing = self._release.closing
        with self._release.reading():
            try:
                for index, frame in enumerate(self._container.decode(self._stream)):
                    if closing.is_set():
                        return
                    image = frame.to_ndarray(format="bgr24")
                    if self._paced and closing.wait(max(0.0, start + index / self.fps - time.perf_counter())):
                        return
                    yield image
            except (av.FFmpegError, OSError, ValueError) as error:
                if not closing.is_set():
                    log.warning("%s: stream ended with %s", self.name, type(error).__name__)

    def close(self) -> None:
        self._release.close()

    def _close_container(self) -> None:
        with contextlib.suppress(av.FFmpegError, OSError, ValueError):
            self._container.close()


class _ReleaseOnce:
    """Releases a device once, never while another thread is inside a read of it.

    ``close()`` from any thread marks the source closing and releases it at once if nobody is
    reading; otherwise the reading thread releases it when it leaves :meth:`reading` (also when the
    stream simply ends), so OpenCV and FFmpeg never see a release racing a read.
    """

    def __init__(self, release: Callable[[], None]) -> None:
        self._release = release
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self._readers = 0
        self._released = False

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with self._lock:
            self._readers += 1
        try:
            yield
        finally:
            with self._lock:
                self._readers -= 1
                last = self._readers == 0
            if last:
                self._release_now()

    def close(self) -> None:
        self.closing.set()
        with self._lock:
            idle = self._readers == 0
        if idle:
            self._release_now()

    def _release_now(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._release()


def open_source(spec: str, *, realtime: bool = True) -> FrameSource:
    """Open ``spec``: a camera index or ``/dev/videoN``, a stream URL, or a video file (see module doc).

    Raises:
        InputError: nothing usable at ``spec``.
    """
    text = str(spec).strip()
    if text.isdigit():
        return CameraSource(int(text))
    if re.fullmatch(r"/dev/video\d+", text):  # a camera device only: OpenCV would decode any file it is given
        return CameraSource(text)
    return AvSource(text, realtime=realtime)


@dataclass
class Captured:
    """One frame from the source: ``image (H, W, 3) uint8 BGR``, its 0-based ``index`` in the source,
    and ``time`` (``time.perf_counter()``) when it arrived."""

    image: np.ndarray
    index: int
    time: float


class LatestFrame:
    """Reads ``source`` on a daemon thread, keeping only the newest frame.

    Attributes: ``captured`` (frames read), ``dropped`` (frames replaced before anyone took them),
    ``finished`` (the source ended or failed).
    """

    def __init__(self, source: FrameSource) -> None:
        self.source = source
        self.captured = 0
        self.dropped = 0
        self.finished = False
        self._slot: Captured | None = None
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recast-capture", daemon=True)

    def start(self) -> LatestFrame:
        self._thread.start()
        return self

    def take(self, timeout: float = 5.0) -> Captured | None:
        """The newest frame not yet taken (waiting up to ``timeout`` s); None when the source ended."""
        with self._ready:
            ready = self._ready.wait_for(lambda: self._slot is not None or self.finished, timeout)
            if not ready and not self.finished:
                raise InputError(self.source.name, f"no frame arrived for {timeout:.0f} s")
            frame, self._slot = self._slot, None
            return frame

    def stop(self) -> None:
        """Stop reading and release the source (safe to call more than once)."""
        self._stop.set()
        self.source.close()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)

    def _run(self) -> None:
        frames = self.source.frames()
        try:
            for index, image in enumerate(frames):
                if self._stop.is_set():
                    break
                with self._ready:
                    if self._slot is not None:
                        self.dropped += 1
                    self._slot = Captured(image, index, time.perf_counter())
                    self.captured += 1
                    self._ready.notify_all()
        finally:
            frames.close()  # releases the device on this thread, never during a read
            with self._ready:
                self.finished = True
                self._ready.notify_all()
