"""Decoding video with PyAV, the video side of the decode gate: probe, stream frames out, extract them.

Every video decode in recast opens its container here (:func:`probe`, :func:`iter_frames`,
:func:`extract_frames`, :func:`open_stream` for live sources, :func:`decode_memory`), which refuses
frames over the image gate's pixel limit before decoding any. A file that ends before the frames
its container declares (a truncated download) is decoded as far as it goes, with a warning naming
how many frames it gave. Encoding is :mod:`recast.media.video_encode`.

Frames are ``numpy.ndarray (H, W, 3) uint8 BGR`` (OpenCV order), already turned upright when the
file carries a rotation (phone videos). Times are seconds from the first video frame. Nothing
holds a whole video in memory: decoding streams frame by frame.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from recast.atomic import make_folder
from recast.errors import InputError, OptionError
from recast.media.audio import describe_av_error
from recast.media.images import MAX_IMAGE_PIXELS_ENV, denoise_frame, max_image_pixels, write_image
from recast.runtime.threads import plan_threads

_EPS = 1e-6  # seconds; frame times closer than this count as equal
_COUNT_PACKETS_LIMIT = 1 << 30  # count frames by demuxing files up to 1 GiB when the header has no count
_MOV_FORMATS = {"mov", "mp4"}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a video file.

    ``width``/``height`` are those of the frames :func:`iter_frames` yields (after rotation).
    ``frame_count`` is exact when ``frame_count_exact`` (from the MP4/MOV index or by counting
    packets), otherwise estimated from duration x fps. ``metadata`` has lower-case keys.
    """

    path: Path
    width: int
    height: int
    fps: float
    fps_fraction: Fraction
    frame_count: int
    frame_count_exact: bool
    duration: float
    codec: str
    rotation: int
    has_audio: bool
    audio_tracks: int
    audio_codec: str | None
    audio_sample_rate: int | None
    audio_channels: int | None
    metadata: dict[str, str] = field(default_factory=dict)


def probe(path: str | Path) -> VideoInfo:
    """Read a video's properties and decode its first frame (so an unplayable file fails here).

    Raises:
        InputError: missing file, not a video, or no decodable video frame.
    """
    path = Path(path)
    container, stream = _open(path)
    try:
        rate = _frame_rate(path, stream)
        first = _first_frame(path, container, stream)
        rotation = _rotation(first)
        width, height = (first.height, first.width) if rotation % 180 else (first.width, first.height)
        count, exact = _frame_count(path, container, stream, rate)
        duration = _duration(container, stream, count if exact else None, rate)
        audio = container.streams.audio
        ctx = audio[0].codec_context if audio else None
        return VideoInfo(
            path=path, width=width, height=height, fps=float(rate), fps_fraction=rate,
            frame_count=count, frame_count_exact=exact, duration=float(duration),
            codec=stream.codec_context.name, rotation=rotation, has_audio=bool(audio),
            audio_tracks=len(audio), audio_codec=ctx.name if ctx else None,
            audio_sample_rate=ctx.sample_rate if ctx else None,
            audio_channels=ctx.layout.nb_channels if ctx else None,
            metadata={str(k).lower(): str(v) for k, v in container.metadata.items()},
        )
    finally:
        container.close()


def iter_frames(
    path: str | Path,
    fps: float | Fraction | None = None,
    start: float | None = None,
    end: float | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Decode ``path`` lazily, yielding ``(index, frame)``; ``index`` counts yielded frames from 1.

    ``frame`` is ``(H, W, 3) uint8 BGR``, upright. ``start``/``end`` (seconds from the first frame)
    keep frames with ``start <= t < end``. ``fps`` resamples to a constant rate like ffmpeg's
    ``fps`` filter: output frame k (time ``t0 + k / fps``, ``t0`` = ``start`` or the first frame)
    shows the last input frame earlier than ``t0 + (k + 0.5) / fps`` (frames are dropped or
    repeated, never blended).

    Raises:
        InputError: unreadable file, or decoding fails / yields no frame at all.
        OptionError: bad ``fps``/``start``/``end``.
    """
    for index, _time, frame, rotation in _iter_av_frames(path, fps, start, end):
        yield index, _to_bgr(frame, rotation)


def extract_frames(
    video: str | Path,
    out_dir: str | Path,
    fps: float | None = None,
    fmt: str = "png",
    jpeg_quality: int = 95,
    denoise: float = 0,
    *,
    start: float | None = None,
    end: float | None = None,
    progress: Callable[[int, bool], None] | None = None,
) -> int:
    """Write the frames of ``video`` to ``out_dir/00001.png`` … (``fmt`` ``"png"`` or ``"jpg"``).

    Each file is written atomically; frames whose file already exists are skipped (decoded but
    not converted or written), so an interrupted extraction resumes where it stopped.
    ``denoise`` is :func:`recast.media.images.denoise_frame` strength (0 = off). Image encoding
    runs in a small thread pool beside the decoder. ``progress(index, written)`` is called per
    frame in order (``written`` False for a skipped one). Returns the number of frames in the
    sequence (written + skipped).

    Raises:
        InputError: unreadable video. OptionError: bad ``fmt``/``fps``/``start``/``end``.
    """
    fmt = fmt.lower().lstrip(".")
    if fmt not in ("png", "jpg"):
        raise OptionError(f"frame format must be png or jpg, got {fmt!r}")
    out_dir = Path(out_dir)
    count = 0
    pending: list[tuple[int, Future[None]]] = []
    with ThreadPoolExecutor(max_workers=plan_threads().io_threads) as pool:

        def save(image: np.ndarray, target: Path) -> None:
            write_image(target, denoise_frame(image, denoise), jpeg_quality=jpeg_quality)

        def drain(limit: int) -> None:
            while len(pending) > limit:
                index, future = pending.pop(0)
                future.result()
                if progress is not None:
                    progress(index, True)

        for index, _time, frame, rotation in _iter_av_frames(video, fps, start, end):
            count = index
            if index == 1:
                make_folder(out_dir)  # only once the video proved readable
            target = out_dir / f"{index:05d}.{fmt}"
            if target.exists():
                drain(0)
                if progress is not None:
                    progress(index, False)
                continue
            pending.append((index, pool.submit(save, _to_bgr(frame, rotation), target)))
            drain(8)
        drain(0)
    return count


# decoding internals ----------------------------------------------------------------------------
def _iter_av_frames(
    path: str | Path, fps: float | Fraction | None, start: float | None, end: float | None
) -> Iterator[tuple[int, float, av.VideoFrame, int]]:
    """Yield ``(index from 1, time in s, undecoded-to-numpy frame, rotation)`` as selected."""
    path = Path(path)
    rate = None if fps is None else as_rate(fps)
    if start is not None and start < 0:
        raise OptionError(f"start must be >= 0 seconds, got {start}")
    if start is not None and end is not None and end <= start:
        raise OptionError(f"end ({end} s) must be after start ({start} s)")
    container, stream = _open(path)
    try:
        stream.thread_type = "AUTO"
        if start:
            assert stream.time_base is not None
            with contextlib.suppress(av.FFmpegError):
                container.seek(round(start / stream.time_base) + (stream.start_time or 0),
                               stream=stream, backward=True)
        frames = _timed_frames(path, container, stream, check_count=not start)
        selected = _select(frames, start, end) if rate is None else _resample(frames, rate, start, end)
        rotation = None
        for index, (time, frame) in enumerate(selected, start=1):
            if rotation is None:
                rotation = _rotation(frame)
            yield index, time, frame, rotation
    except av.FFmpegError as error:
        raise InputError(path, f"not a readable video: {describe_av_error(error)}") from None
    finally:
        container.close()


def _timed_frames(path: Path, container: av.container.InputContainer, stream: av.VideoStream,
                  check_count: bool = False) -> Iterator[tuple[float, float, av.VideoFrame]]:
    """Yield ``(time, duration, frame)`` in decode order; time relative to the stream start.

    With ``check_count`` (decoding from the start), a stream that ends before the frame count its
    container's index declares (MP4/MOV) logs a warning with both counts.
    """
    tb = stream.time_base
    origin = stream.start_time or 0
    fallback = 1 / float(_frame_rate(path, stream))
    last = None
    produced = 0
    for frame in container.decode(stream):
        produced += 1
        if frame.pts is not None and tb is not None:
            time = float((frame.pts - origin) * tb)
        else:
            time = 0.0 if last is None else last + fallback
        duration = float(frame.duration * tb) if frame.duration and tb is not None else fallback
        last = time
        yield time, duration, frame
    if not produced:
        raise InputError(path, "not a readable video: no decodable video frames")
    declared = stream.frames if _MOV_FORMATS & set(container.format.name.split(",")) else 0
    if check_count and declared > produced:
        log.warning("%s: truncated or damaged video: decoded %d of the %d frames its container declares",
                    path, produced, declared)


def _select(frames: Iterator[tuple[float, float, av.VideoFrame]], start: float | None, end: float | None
            ) -> Iterator[tuple[float, av.VideoFrame]]:
    for time, _duration, frame in frames:
        if start is not None and time < start - _EPS:
            continue
        if end is not None and time >= end - _EPS:
            return
        yield time, frame


def _resample(frames: Iterator[tuple[float, float, av.VideoFrame]], rate: Fraction,
              start: float | None, end: float | None) -> Iterator[tuple[float, av.VideoFrame]]:
    """Constant-rate output: slot k (time t0 + k/rate) shows the last frame before its midpoint."""
    step = 1 / float(rate)
    origin = start
    slot = 0
    current = None
    stream_end = 0.0
    for time, duration, frame in frames:
        if origin is None:
            origin = time
        while current is not None and time >= origin + (slot + 0.5) * step - _EPS:
            slot_time = origin + slot * step
            if end is not None and slot_time >= end - _EPS:
                return
            yield slot_time, current
            slot += 1
        current = frame
        stream_end = time + duration
    limit = stream_end if end is None else min(stream_end, end)
    while current is not None and origin is not None and origin + slot * step < limit - _EPS:
        yield origin + slot * step, current
        slot += 1


def open_stream(source: str | Path | io.BytesIO, name: str | Path, options: dict[str, str] | None = None,
                timeout: float | None = None) -> tuple[av.container.InputContainer, av.VideoStream]:
    """Open a video file, in-memory video or live stream URL for decoding; its first video stream.

    The stream's declared frame size is bounded by the image gate's pixel limit before any frame
    is decoded. The caller closes the container.

    Raises:
        InputError: not openable, no video stream, or frames over the pixel limit.
    """
    try:
        container = av.open(source if isinstance(source, io.BytesIO) else str(source), "r", options=options or {},
                            metadata_errors="ignore", timeout=timeout)
    except av.FFmpegError as error:
        raise InputError(name, f"not a readable video: {describe_av_error(error)}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(name, f"not a readable video: {error}") from None
    if not container.streams.video:
        container.close()
        raise InputError(name, "not a readable video: it has no video stream")
    stream = container.streams.video[0]
    limit = max_image_pixels()
    if stream.codec_context.width * stream.codec_context.height > limit:
        container.close()
        raise InputError(name, f"video frames declare {stream.codec_context.width}x{stream.codec_context.height} "
                               f"pixels, over the limit of {limit} pixels (set {MAX_IMAGE_PIXELS_ENV} to raise it)")
    return container, stream


def decode_memory(data: bytes, name: str) -> list[np.ndarray]:
    """Every frame of a small in-memory video (e.g. one just encoded) as ``(H, W, 3) uint8 BGR``.

    Raises:
        InputError: not a readable video, or frames over the pixel limit.
    """
    container, stream = open_stream(io.BytesIO(data), name)
    try:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(stream)]
    except av.FFmpegError as error:
        raise InputError(name, f"not a readable video: {describe_av_error(error)}") from None
    finally:
        container.close()


def _open(path: Path) -> tuple[av.container.InputContainer, av.VideoStream]:
    if not path.exists():
        raise InputError(path, "no such file")
    if not path.is_file():
        raise InputError(path, "not a file")
    return open_stream(path, path)


def _first_frame(path: Path, container: av.container.InputContainer, stream: av.VideoStream
                 ) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.FFmpegError as error:
        raise InputError(path, f"not a readable video: {describe_av_error(error)}") from None
    raise InputError(path, "not a readable video: no decodable video frames")


def _frame_rate(path: Path, stream: av.VideoStream) -> Fraction:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate or rate <= 0:
        raise InputError(path, "not a readable video: unknown frame rate")
    rate = Fraction(rate)
    return rate.limit_denominator(1001) if rate.denominator > 1001 else rate


def _duration(container: av.container.InputContainer, stream: av.VideoStream, exact_count: int | None,
              rate: Fraction) -> float:
    """Video stream duration; else exact frame count / fps; else the container's duration."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if exact_count is not None or not container.duration:
        return float((exact_count or 0) / rate)
    return container.duration / av.time_base


def _frame_count(path: Path, container: av.container.InputContainer, stream: av.VideoStream,
                 rate: Fraction) -> tuple[int, bool]:
    """(count, exact): the MP4/MOV index, else counted packets (cheap: no decoding), else estimate."""
    if stream.frames > 0 and _MOV_FORMATS & set(container.format.name.split(",")):
        return stream.frames, True
    if path.stat().st_size <= _COUNT_PACKETS_LIMIT:
        try:
            container.seek(0)
            count = sum(1 for packet in container.demux(stream) if packet.size > 0)
            return count, True
        except av.FFmpegError:
            pass
    seconds = container.duration / av.time_base if container.duration else 0.0
    return max(1, round(seconds * float(rate))), False


def _rotation(frame: av.VideoFrame) -> int:
    """Counter-clockwise degrees (0/90/180/270) that make the frame upright."""
    return round((frame.rotation or 0) / 90) % 4 * 90


def _to_bgr(frame: av.VideoFrame, rotation: int) -> np.ndarray:
    image: np.ndarray = frame.to_ndarray(format="bgr24")
    if rotation:
        image = np.ascontiguousarray(np.rot90(image, rotation // 90))
    return image


def as_rate(fps: float | Fraction) -> Fraction:
    """``fps`` as an exact frame rate (floats rounded to a denominator of at most 1001)."""
    rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        raise OptionError(f"fps must be positive, got {fps}")
    return rate
