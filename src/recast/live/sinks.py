"""Where live frames go: a labelled recording, a virtual camera, or a stream.

:func:`create_sink` picks one from an ``--output`` spec:

* ``FILE`` (``.mp4``, ``.mkv``, ``.mov``, ``.avi``): a recording through
  :class:`recast.media.video.VideoWriter` (H.264 ``ultrafast`` CRF 20: 4 ms per 640×480 frame and
  13 ms per 1280×720 one on a busy 2-core CPU, half of ``veryfast``'s) with the synthetic-media container tags, and the
  provenance sidecar written when it closes. Source frames the model had to drop are filled with
  the previous output frame, so the recording keeps the source's timing.
* ``v4l2:/dev/videoN``: a virtual camera other programs can open (needs the ``pyvirtualcam``
  package and a ``v4l2loopback`` device; refused in one line where either is missing).
* ``rtmp://…`` (or ``srt://``, ``udp://``): H.264 in FLV/MPEG-TS through PyAV, tuned for latency.
* ``window``: not available: recast ships opencv-headless, which has no windows. Use a file, a
  virtual camera or a stream; the studio's Live page will show the frames in the browser.

Every frame a sink receives is already labelled (invisible watermark, optional visible label) by
:mod:`recast.live.engine`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import av
import numpy as np

from recast.errors import OptionError
from recast.media.video_encode import VideoWriter
from recast.provenance.label import container_metadata, write_sidecar

log = logging.getLogger(__name__)

_NETWORK_FORMATS = {"rtmp://": "flv", "srt://": "mpegts", "udp://": "mpegts"}


class FrameSink(Protocol):
    """Receives labelled ``(H, W, 3)`` uint8 BGR frames with their source frame ``index``."""

    def write(self, frame: np.ndarray, index: int) -> None:
        ...

    def close(self) -> None:
        """Finish normally (flush, finalise the file)."""
        ...

    def abort(self) -> None:
        """Stop after an error, leaving no half-written result behind where possible."""
        ...


class FileSink:
    """A labelled recording at the source's frame rate (see the module docstring).

    ``provenance``: ``inputs`` (role → file or folder to hash), ``model`` and ``settings`` dicts
    for the sidecar, written by :meth:`close`; ``visible_label`` records whether frames carry it.
    """

    def __init__(self, path: str | Path, fps: float, *, overwrite: bool = False,
                 provenance: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self._writer = VideoWriter(self.path, Fraction(fps).limit_denominator(1001), crf=20, preset="ultrafast",
                                   metadata=container_metadata(), overwrite=overwrite)
        self._provenance = provenance or {}
        self._last: np.ndarray | None = None
        self._next_index: int | None = None

    def write(self, frame: np.ndarray, index: int) -> None:
        if self._last is not None and self._next_index is not None:
            for _ in range(max(0, index - self._next_index)):
                self._writer.write(self._last)
        self._writer.write(frame)
        self._last, self._next_index = frame, index + 1

    def close(self) -> None:
        self._writer.close()
        write_sidecar(self.path, self._provenance.get("inputs", {}), self._provenance.get("model", {}),
                      self._provenance.get("settings", {}),
                      visible_label=bool(self._provenance.get("visible_label", False)))

    def abort(self) -> None:
        self._writer.abort()


class VirtualCameraSink:
    """A v4l2loopback virtual camera through pyvirtualcam; opened on the first frame (its size)."""

    def __init__(self, device: str, fps: float) -> None:
        if importlib.util.find_spec("pyvirtualcam") is None:
            raise OptionError("v4l2 output needs the pyvirtualcam package (pip install pyvirtualcam) and a "
                              "v4l2loopback device")
        if not Path(device).exists():
            raise OptionError(f"v4l2 output: {device} does not exist (load v4l2loopback: "
                              "sudo modprobe v4l2loopback)")
        self.device = device
        self.fps = fps
        self._camera: Any = None

    def write(self, frame: np.ndarray, index: int) -> None:
        import pyvirtualcam

        if self._camera is None:
            height, width = frame.shape[:2]
            self._camera = pyvirtualcam.Camera(width, height, self.fps, device=self.device,
                                               fmt=pyvirtualcam.PixelFormat.BGR)
        self._camera.send(np.ascontiguousarray(frame))

    def close(self) -> None:
        if self._camera is not None:
            self._camera.close()
            self._camera = None

    def abort(self) -> None:
        self.close()


class StreamSink:
    """H.264 to a network URL (``rtmp://`` as FLV; ``srt://``/``udp://`` as MPEG-TS), low latency."""

    def __init__(self, url: str, fps: float, container_format: str) -> None:
        self.url = url
        self.fps = Fraction(fps).limit_denominator(1001)
        self._format = container_format
        self._container: Any = None
        self._stream: Any = None
        self._frames = 0

    def write(self, frame: np.ndarray, index: int) -> None:
        if self._container is None:
            self._open(frame.shape[1] - frame.shape[1] % 2, frame.shape[0] - frame.shape[0] % 2)
        height, width = self._stream.height, self._stream.width
        video = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:height, :width]), format="bgr24")
        video.pts = index
        video.time_base = 1 / self.fps
        for packet in self._stream.encode(video):
            self._container.mux(packet)
        self._frames += 1

    def _open(self, width: int, height: int) -> None:
        try:
            self._container = av.open(self.url, "w", format=self._format)
        except (av.FFmpegError, OSError) as error:
            raise OptionError(f"cannot open the output stream {self.url} ({type(error).__name__})") from None
        self._container.metadata.update(container_metadata())
        stream = self._container.add_stream("libx264", rate=self.fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = 1 / self.fps
        stream.options = {"preset": "veryfast", "tune": "zerolatency", "crf": "23"}
        self._stream = stream

    def close(self) -> None:
        if self._container is None:
            return
        with contextlib.suppress(av.FFmpegError, OSError):
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        self._container.close()
        self._container = None

    def abort(self) -> None:
        self.close()


def create_sink(spec: str, fps: float, *, overwrite: bool = False,
                provenance: dict[str, Any] | None = None) -> FrameSink:
    """The sink for an ``--output`` spec (see the module docstring).

    Raises:
        OptionError: ``window``, a virtual camera that cannot work here, an unknown suffix.
        InputError: the output file exists and not ``overwrite``.
    """
    text = spec.strip()
    if text.lower() == "window":
        raise OptionError("--output window is not available: recast uses opencv-headless, which has no "
                          "windows; write a FILE (e.g. live.mp4), a virtual camera (v4l2:/dev/videoN) or a "
                          "stream (rtmp://…)")
    if text.lower().startswith("v4l2:"):
        return VirtualCameraSink(text[len("v4l2:"):], fps)
    for scheme, container_format in _NETWORK_FORMATS.items():
        if text.lower().startswith(scheme):
            return StreamSink(text, fps, container_format)
    return FileSink(text, fps, overwrite=overwrite, provenance=provenance)
