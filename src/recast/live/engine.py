"""The live loop: newest camera frame → faces → swap → mask, colour, blend → label → output.

One frame at a time, always the newest (:class:`recast.live.capture.LatestFrame` drops the rest),
so latency stays at about one frame's processing time however slow the model is.
Per frame: :class:`recast.live.tracking.LiveFaceTracker` gives smoothed landmarks, the merger's
own functions cut the faces out, run the model (a :class:`recast.models.swapmodel.SwapModel`: a model
folder in PyTorch or a ``.dfm``/``.onnx`` in onnxruntime), apply the mask, colour transfer and
blend (:func:`recast.merge.blend.merge_frame`), and :func:`recast.provenance.label.mark_frame`
puts the invisible watermark (and, on request, the visible label) on every output frame.

:meth:`LiveSession.frames` is a generator of :class:`LiveFrame` for any consumer (the studio's
Live page can encode them as MJPEG); :func:`run_live` feeds sinks from it. :meth:`LiveSession.stop`,
from any thread, ends the generator cleanly.

Example:
    >>> session = LiveSession(load_face_model("model.dfm"), open_source("0"))
    >>> stats = run_live(session, [create_sink("live.mp4", session.fps)])
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from recast.faces.facetype import parse_face_type
from recast.faces.smoothing import SmoothingConfig
from recast.live.capture import FrameSource, LatestFrame
from recast.live.sinks import FrameSink
from recast.live.tracking import LiveFaceTracker
from recast.merge.blend import crop_face, merge_frame, predict
from recast.merge.maskops import check_mask_mode, needs_learned_mask
from recast.merge.settings import MergeSettings
from recast.models.swapmodel import SwapModel
from recast.options import option
from recast.provenance.label import VISIBLE_LABEL, mark_frame

log = logging.getLogger(__name__)

LIVE_SETTINGS = ("mask_mode", "color", "erode", "blur", "morph")
"""The merge settings live swapping offers (``recast live``'s flags, the studio's Live page)."""
LIVE_FLAGS = ("detect_every", "detect_size", "max_faces", "visible_label")
"""The :class:`LiveOptions` given on the command line and the Live page."""
_LIVE = "Live"


@dataclass(frozen=True)
class LiveOptions:
    """How the live loop finds, swaps and labels faces.

    Attributes:
        settings: merge settings (mask mode, colour transfer, erode/blur, morph, …).
        detect_every: run the face detector every N frames; landmarks are fitted every frame.
        detect_size: longest side of the frame copy the detector sees.
        max_faces: faces swapped per frame, largest first.
        smoothing: One-Euro landmark smoothing.
        visible_label: also draw the visible "synthetic" corner label.
        label_text: text of the visible label (ASCII).
        max_frames: stop after this many output frames (None: until the source ends or stop()).
    """

    OPTIONS_NOUN: ClassVar[str] = "live option"

    settings: MergeSettings = field(default_factory=MergeSettings)
    detect_every: int = option(5, "Run the face detector every N frames (landmarks every frame)", ge=1, le=1000,
                               group=_LIVE)
    detect_size: int = option(480, "Longest side the detector sees (faces ≳ 80 px there; 0 = the whole frame)",
                              ge=0, le=8192, group=_LIVE)
    max_faces: int = option(1, "Faces swapped per frame, largest first", ge=1, le=16, group=_LIVE)
    smoothing: bool = option(True, "Smooth the landmarks over time (One-Euro filter)", group=_LIVE)
    visible_label: bool = option(False, "Also draw a visible 'SYNTHETIC' label", group=_LIVE)
    label_text: str = VISIBLE_LABEL
    max_frames: int | None = None


@dataclass
class LiveFrame:
    """One output frame.

    Attributes:
        image: ``(H, W, 3)`` uint8 BGR, labelled (watermark, optional visible label).
        index: the source frame it was made from (0-based; gaps are dropped frames).
        faces: faces swapped into it.
        captured: ``time.perf_counter()`` when the source frame arrived.
        ready: ``time.perf_counter()`` when the output frame was finished.
    """

    image: np.ndarray
    index: int
    faces: int
    captured: float
    ready: float

    @property
    def latency(self) -> float:
        """Seconds from capture to the finished output frame."""
        return self.ready - self.captured


@dataclass
class LiveStats:
    """Counts and timings of a live run.

    Attributes: ``captured`` (source frames read), ``delivered`` (output frames), ``dropped``
    (source frames skipped because the loop was busy), ``seconds`` (wall time from the first
    output frame to the last), ``latencies`` (capture → delivered, seconds, per output frame),
    ``faces`` (faces swapped in all).
    """

    captured: int = 0
    delivered: int = 0
    dropped: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    faces: int = 0

    @property
    def fps(self) -> float:
        """Delivered frames per second."""
        return (self.delivered - 1) / self.seconds if self.seconds > 0 and self.delivered > 1 else 0.0

    def latency_ms(self, percentile: float) -> float:
        """A capture → output latency percentile in milliseconds (0 with no frames)."""
        return float(np.percentile(self.latencies, percentile) * 1000.0) if self.latencies else 0.0

    def describe(self) -> str:
        """One line for the console and benchmark tables."""
        return (f"{self.delivered} frames delivered at {self.fps:.1f} fps, {self.dropped} dropped of "
                f"{self.captured} captured, latency median {self.latency_ms(50):.0f} ms, "
                f"p95 {self.latency_ms(95):.0f} ms")


class LiveSession:
    """A model and a source, ready to produce labelled output frames (see the module docstring).

    The model runs once on a blank face at construction, so its first-call set-up (allocation,
    kernel selection) does not land on the first live frame.

    Raises (at construction): OptionError when the mask mode needs learned masks the model lacks.
    """

    def __init__(self, model: SwapModel, source: FrameSource, options: LiveOptions | None = None) -> None:
        self.model = model
        self.source = source
        self.options = options or LiveOptions()
        check_mask_mode(self.options.settings.mask_mode, bool(model.has_learned_mask), "the model")
        self.fps = source.fps
        self.stats = LiveStats()
        self._face_type = parse_face_type(model.face_type)
        self._stop = threading.Event()
        opts = self.options
        self._tracker = LiveFaceTracker(self.fps, opts.detect_every, opts.detect_size, opts.max_faces,
                                        smoothing=SmoothingConfig() if opts.smoothing else None)
        warm_up = np.zeros((1, model.resolution, model.resolution, 3), np.float32)
        model.swap(warm_up, morph=opts.settings.morph, masks=needs_learned_mask(opts.settings.mask_mode))

    def stop(self) -> None:
        """End :meth:`frames` after the frame in progress (thread-safe)."""
        self._stop.set()

    def frames(self) -> Generator[LiveFrame, None, None]:
        """Output frames until the source ends, :meth:`stop` or ``max_frames``; updates :attr:`stats`."""
        opts = self.options
        capture = LatestFrame(self.source).start()
        first: float | None = None
        try:
            while not self._stop.is_set():
                captured = capture.take()
                if captured is None:
                    break
                image, faces = self.process(captured.image)
                frame = LiveFrame(image, captured.index, faces, captured.time, time.perf_counter())
                first = frame.ready if first is None else first
                self.stats.delivered += 1
                self.stats.faces += faces
                self.stats.seconds = frame.ready - first
                yield frame
                if opts.max_frames is not None and self.stats.delivered >= opts.max_frames:
                    break
        finally:
            capture.stop()
            self.stats.captured, self.stats.dropped = capture.captured, capture.dropped
            log.info("live: %s", self.stats.describe())

    def process(self, frame: np.ndarray) -> tuple[np.ndarray, int]:
        """Swap the faces of one ``(H, W, 3)`` uint8 BGR frame; returns ``(labelled frame, faces)``."""
        settings = self.options.settings
        res = self.model.resolution
        crops = [crop_face(frame, points, res, self._face_type) for points in self._tracker.update(frame)]
        predictions = predict(self.model, crops, settings.morph, needs_learned_mask(settings.mask_mode))
        merged, _, patches = merge_frame(frame, [(c, p, None) for c, p in zip(crops, predictions, strict=True)],
                                         settings)
        labelled = mark_frame(merged, visible=self.options.visible_label, text=self.options.label_text)
        return labelled, len(patches)


def run_live(session: LiveSession, sinks: Sequence[FrameSink],
             on_frame: Callable[[LiveFrame], None] | None = None) -> LiveStats:
    """Feed every output frame of ``session`` to ``sinks`` until it ends; Ctrl-C stops it cleanly.

    The sinks write (encode) on their own thread, at most one frame behind the loop, so encoding
    overlaps the next frame's swap without a queue that can grow. ``on_frame`` runs on the
    caller's thread. Latencies in the returned stats run from capture to the frame having been
    written to every sink. Sinks are closed (finalised) at the end, also after Ctrl-C; after
    another error they are aborted.
    """
    frames = session.frames()
    writer = _SinkWriter(sinks, session.stats)
    try:
        for frame in frames:
            writer.put(frame)
            if on_frame is not None:
                on_frame(frame)
    except KeyboardInterrupt:
        log.info("live: stopped by the user")
    except BaseException:
        frames.close()
        writer.finish(abort=True)
        raise
    frames.close()
    writer.finish()
    return session.stats


class _SinkWriter:
    """Writes frames to sinks on a thread; :meth:`put` blocks while one frame is still waiting."""

    def __init__(self, sinks: Sequence[FrameSink], stats: LiveStats) -> None:
        self.sinks = sinks
        self.stats = stats
        self._queue: queue.Queue[LiveFrame | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="recast-live-writer", daemon=True)
        self._thread.start()

    def put(self, frame: LiveFrame) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(frame)

    def finish(self, abort: bool = False) -> None:
        """Write what is queued, stop the thread, then close (or abort) every sink."""
        self._queue.put(None)
        self._thread.join()
        failed = abort or self._error is not None
        for sink in self.sinks:
            if failed:
                sink.abort()
            else:
                sink.close()
        if self._error is not None and not abort:
            raise self._error

    def _run(self) -> None:
        while (frame := self._queue.get()) is not None:
            if self._error is not None:
                continue
            try:
                for sink in self.sinks:
                    sink.write(frame.image, frame.index)
            except BaseException as error:  # handed to the loop's thread by put() / finish()
                self._error = error
                continue
            self.stats.latencies.append(time.perf_counter() - frame.captured)
