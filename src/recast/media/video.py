"""Video files with PyAV: probe, stream frames out, extract them to a folder, cut, encode.

Frames are ``numpy.ndarray (H, W, 3) uint8 BGR`` (OpenCV order), already turned upright when the
file carries a rotation (phone videos). Times are seconds from the first video frame. Nothing
holds a whole video in memory: decoding and encoding stream frame by frame.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import cast

import av
import numpy as np

from recast.atomic import atomic_path, make_folder
from recast.errors import InputError, OptionError
from recast.media.audio import AudioTrack, describe_av_error
from recast.media.images import MAX_IMAGE_PIXELS_ENV, denoise_frame, max_image_pixels, write_image
from recast.paths import check_outputs_not_inputs
from recast.runtime.threads import plan_threads

_EPS = 1e-6  # seconds; frame times closer than this count as equal
_COUNT_PACKETS_LIMIT = 1 << 30  # count frames by demuxing files up to 1 GiB when the header has no count
_MOV_FORMATS = {"mov", "mp4"}


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


def cut(
    video: str | Path,
    out: str | Path,
    start: float,
    end: float,
    audio_track: int = 0,
    *,
    crf: int = 18,
    overwrite: bool = False,
) -> Path:
    """Re-encode ``start``–``end`` seconds of ``video`` into ``out`` (H.264, or by ``out``'s suffix).

    Frames are resampled to the source's average frame rate (constant-rate output, stays in sync
    for variable-rate sources). Audio track ``audio_track`` (0 = first) is cut to the same span,
    sample-accurately (re-encoded to AAC) unless it can be copied unchanged. Returns ``out``.

    Raises:
        InputError: unreadable video, ``out`` is ``video``, or ``out`` exists and not ``overwrite``.
        OptionError: ``start``/``end`` out of range, or no such audio track.
    """
    check_outputs_not_inputs([out], [video])
    info = probe(video)
    if start < 0 or end <= start:
        raise OptionError(f"cut needs 0 <= start < end, got start={start} end={end}")
    if start >= info.duration:
        raise OptionError(f"cut start {start} s is past the end of {video} ({info.duration:.3f} s)")
    with VideoWriter(out, info.fps_fraction, crf=crf, audio_from=video, audio_track=audio_track,
                     audio_start=start, overwrite=overwrite) as writer:
        for _index, frame in iter_frames(video, fps=info.fps_fraction, start=start, end=end):
            writer.write(frame)
    return Path(out)


@dataclass(frozen=True)
class _Encoding:
    format: str  # PyAV/FFmpeg muxer name
    codec: str
    pix_fmt: str
    options: dict[str, str]
    even: bool  # chroma subsampling needs even width and height


def _encoding(path: Path, crf: int, bitrate: int | None, lossless: bool, preset: str) -> _Encoding:
    suffix = path.suffix.lower()
    if suffix in (".mp4", ".m4v", ".mkv"):
        muxer = "matroska" if suffix == ".mkv" else "mp4"
        if lossless and muxer == "matroska":
            return _Encoding(muxer, "ffv1", "bgr0", {"level": "3", "slices": "4", "slicecrc": "1"}, False)
        if lossless:
            return _Encoding(muxer, "libx264", "yuv444p", {"qp": "0", "preset": preset}, False)
        quality = {"b": str(bitrate)} if bitrate else {"crf": str(crf)}
        return _Encoding(muxer, "libx264", "yuv420p", {**quality, "preset": preset}, True)
    if lossless:
        raise OptionError(f"lossless video needs a .mp4 or .mkv output, not {path.name}")
    if suffix == ".mov":
        return _Encoding("mov", "prores_ks", "yuv422p10le", {"profile": "3", "vendor": "apl0"}, True)
    if suffix == ".avi":
        return _Encoding("avi", "mjpeg", "yuvj420p", {}, True)
    raise OptionError(f"cannot encode video {path}: use a .mp4, .mkv, .mov or .avi name")


# Tags the MP4/MOV muxer writes in its standard (iTunes-style) form; other keys need mdta tags.
_MOV_STANDARD_TAGS = {"title", "artist", "album", "comment", "description", "copyright", "date",
                      "genre", "composer", "synopsis", "encoder", "author"}
# RIFF INFO tags the AVI muxer knows; other keys are folded into the comment.
_AVI_TAGS = {"title", "artist", "comment", "copyright", "date", "genre", "language", "album"}


class VideoWriter:
    """Encode ``(H, W, 3) uint8 BGR`` frames into a video file, optionally with another file's audio.

    The output suffix picks the format: ``.mp4``/``.m4v`` H.264 (``crf`` or ``bitrate`` in bit/s;
    ``lossless`` → qp 0 yuv444p), ``.mkv`` H.264 or, with ``lossless``, FFV1 (bit-exact BGR),
    ``.mov`` ProRes 422 HQ, ``.avi`` MJPEG. 4:2:0/4:2:2 formats need even sizes: an odd last
    row/column is cropped. The frame size is taken from the first frame.

    ``audio_from``: a media file whose audio track ``audio_track`` is muxed in, starting at
    ``audio_start`` seconds after that file's first video frame (so the original audio of the
    frames being written stays in sync) and trimmed to the video's length. ``metadata`` goes into
    the container tags (MP4/MOV/MKV keep any key; AVI folds unknown keys into ``comment``).

    Frames go to a hidden temporary file that is renamed onto ``path`` only by a successful
    :meth:`close` (or leaving the ``with`` block without an exception); :meth:`abort` or an
    exception removes it, so an interrupted encode never leaves a complete-looking file.

    Raises:
        InputError: ``path`` exists and not ``overwrite``; unreadable ``audio_from``.
        OptionError: unsupported suffix/options, or no such audio track.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float | Fraction,
        *,
        crf: int = 18,
        bitrate: int | None = None,
        lossless: bool = False,
        preset: str = "medium",
        audio_from: str | Path | None = None,
        audio_track: int = 0,
        audio_start: float = 0.0,
        metadata: dict[str, str] | None = None,
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        self.rate = _as_rate(fps)
        if not 0 <= crf <= 51:
            raise OptionError(f"crf must be 0..51, got {crf}")
        self._encoding = _encoding(self.path, crf, bitrate, lossless, preset)
        if self.path.exists() and not overwrite:
            raise InputError(self.path, "already exists; refusing to overwrite it (--force / overwrite=True)")
        self.frames_written = 0
        self._stream: av.VideoStream | None = None
        self._size: tuple[int, int] | None = None
        self._audio: AudioTrack | None = None
        if audio_from is not None:
            self._audio = AudioTrack(audio_from, audio_track, audio_start, self._encoding.format)
        self._stack = contextlib.ExitStack()
        try:
            if self._audio is not None:
                self._stack.callback(self._audio.close)
            self._tmp = self._stack.enter_context(atomic_path(self.path))
            options = self._container_options(metadata or {})
            self._container = av.open(str(self._tmp), "w", format=self._encoding.format, options=options)
            self._container.metadata.update(self._tags(metadata or {}))
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise
        self._closed = False

    @property
    def has_audio(self) -> bool:
        """Whether an audio track is being muxed (``audio_from`` given and it has audio)."""
        return self._audio is not None and self._audio.present

    def write(self, frame: np.ndarray) -> None:
        """Append one ``(H, W, 3) uint8 BGR`` frame (same size as the first)."""
        if self._closed:
            raise ValueError("VideoWriter is closed")
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) uint8 BGR frame, got {frame.shape} {frame.dtype}")
        if self._stream is None:
            self._start(frame.shape[1], frame.shape[0])
        assert self._stream is not None and self._size is not None
        width, height = self._size
        if frame.shape[:2] != self._first_shape:
            raise ValueError(f"frame size {frame.shape[1]}x{frame.shape[0]} differs from the first frame")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:height, :width]), format="bgr24")
        video_frame.pts = self.frames_written
        video_frame.time_base = 1 / self.rate
        self._mux(self._stream.encode(video_frame))
        self.frames_written += 1
        if self.has_audio:
            assert self._audio is not None
            self._audio.pump(float(self.frames_written / self.rate))

    def close(self) -> None:
        """Flush the encoders, finish the audio, and move the file onto ``path``."""
        if self._closed:
            return
        if self.frames_written == 0:
            self.abort()
            raise InputError(self.path, "no frames were written; nothing to encode")
        try:
            assert self._stream is not None  # frames were written, so _start ran
            self._mux(self._stream.encode(None))
            if self.has_audio:
                assert self._audio is not None
                self._audio.finish(float(self.frames_written / self.rate))
            self._container.close()
        except BaseException as error:
            self._closed = True
            self._stack.__exit__(type(error), error, error.__traceback__)
            raise
        self._closed = True
        self._stack.close()

    def abort(self) -> None:
        """Stop without producing ``path`` (the temporary file is removed)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(av.FFmpegError, OSError, ValueError):
            self._container.close()
        error = RuntimeError("video encode aborted")
        with contextlib.suppress(RuntimeError):
            self._stack.__exit__(RuntimeError, error, None)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _start(self, width: int, height: int) -> None:
        enc = self._encoding
        self._first_shape = (height, width)
        if enc.even:
            width, height = width - width % 2, height - height % 2
        if width < 2 or height < 2:
            raise ValueError(f"frame too small to encode: {width}x{height}")
        self._size = (width, height)
        stream = cast(av.VideoStream, self._container.add_stream(enc.codec, rate=self.rate))
        stream.width, stream.height, stream.pix_fmt = width, height, enc.pix_fmt
        stream.time_base = 1 / self.rate
        stream.options = dict(enc.options)
        if enc.codec == "mjpeg":
            stream.codec_context.qmin = stream.codec_context.qmax = 2
        self._stream = stream
        if self.has_audio:
            assert self._audio is not None
            self._audio.add_stream(self._container)

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            self._container.mux(packet)

    def _container_options(self, metadata: dict[str, str]) -> dict[str, str]:
        if self._encoding.format not in _MOV_FORMATS:
            return {}
        custom = any(key.lower() not in _MOV_STANDARD_TAGS for key in metadata)
        return {"movflags": "+faststart+use_metadata_tags" if custom else "+faststart"}

    def _tags(self, metadata: dict[str, str]) -> dict[str, str]:
        tags = {str(k): str(v) for k, v in metadata.items()}
        if self._encoding.format != "avi":
            return tags
        kept = {k: v for k, v in tags.items() if k.lower() in _AVI_TAGS}
        folded = [f"{k}={v}" for k, v in tags.items() if k.lower() not in _AVI_TAGS]
        if folded:
            kept["comment"] = "; ".join([*([kept["comment"]] if "comment" in kept else []), *folded])
        return kept


def h264_roundtrip(frames: list[np.ndarray], crf: int, scale: float = 1.0, preset: str = "medium") -> list[np.ndarray]:
    """What a video platform's re-encode does to frames: H.264 (libx264, yuv420p) in memory, decoded back.

    For robustness checks (does a watermark survive, how does a detector fare on compressed
    copies, like FaceForensics++'s c23 / c40 variants).

    Args:
        frames: ``(H, W, 3)`` uint8 BGR frames, all the same size.
        crf: x264 constant rate factor (23 default quality, 28 and 35 heavier compression).
        scale: resize factor applied first (INTER_AREA; sizes rounded to even numbers).
        preset: x264 preset.

    Returns:
        The decoded ``(h, w, 3)`` uint8 BGR frames, as many as were given.
    """
    import io

    import cv2

    h, w = frames[0].shape[:2]
    size = (round(w * scale / 2) * 2, round(h * scale / 2) * 2)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        for frame in frames:
            if scale != 1.0:
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="bgr24")))
        out.mux(stream.encode())
    buffer.seek(0)
    with av.open(buffer, "r") as decoded:
        return [f.to_ndarray(format="bgr24") for f in decoded.decode(video=0)]


# decoding internals ----------------------------------------------------------------------------
def _iter_av_frames(
    path: str | Path, fps: float | Fraction | None, start: float | None, end: float | None
) -> Iterator[tuple[int, float, av.VideoFrame, int]]:
    """Yield ``(index from 1, time in s, undecoded-to-numpy frame, rotation)`` as selected."""
    path = Path(path)
    rate = None if fps is None else _as_rate(fps)
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
        frames = _timed_frames(path, container, stream)
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


def _timed_frames(path: Path, container: av.container.InputContainer, stream: av.VideoStream
                  ) -> Iterator[tuple[float, float, av.VideoFrame]]:
    """Yield ``(time, duration, frame)`` in decode order; time relative to the stream start."""
    tb = stream.time_base
    origin = stream.start_time or 0
    fallback = 1 / float(_frame_rate(path, stream))
    last = None
    produced = False
    for frame in container.decode(stream):
        produced = True
        if frame.pts is not None and tb is not None:
            time = float((frame.pts - origin) * tb)
        else:
            time = 0.0 if last is None else last + fallback
        duration = float(frame.duration * tb) if frame.duration and tb is not None else fallback
        last = time
        yield time, duration, frame
    if not produced:
        raise InputError(path, "not a readable video: no decodable video frames")


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


def _open(path: Path) -> tuple[av.container.InputContainer, av.VideoStream]:
    if not path.exists():
        raise InputError(path, "no such file")
    if not path.is_file():
        raise InputError(path, "not a file")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as error:
        raise InputError(path, f"not a readable video: {describe_av_error(error)}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(path, f"not a readable video: {error}") from None
    if not container.streams.video:
        container.close()
        raise InputError(path, "not a readable video: it has no video stream")
    stream = container.streams.video[0]
    limit = max_image_pixels()
    if stream.codec_context.width * stream.codec_context.height > limit:
        container.close()
        raise InputError(path, f"video frames declare {stream.codec_context.width}x{stream.codec_context.height} "
                               f"pixels, over the limit of {limit} pixels (set {MAX_IMAGE_PIXELS_ENV} to raise it)")
    return container, stream


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


def _as_rate(fps: float | Fraction) -> Fraction:
    rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        raise OptionError(f"fps must be positive, got {fps}")
    return rate
