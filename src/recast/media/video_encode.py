"""Encoding video with PyAV: :class:`VideoWriter` (frames → a file, with another file's audio), :func:`cut`
and :func:`h264_roundtrip` (what a platform's re-encode does to frames).

Frames are ``numpy.ndarray (H, W, 3) uint8 BGR`` (OpenCV order). Nothing holds a whole video in
memory: encoding streams frame by frame. Decoding lives in :mod:`recast.media.video` (the gate).
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import cast

import av
import numpy as np

from recast.atomic import atomic_path
from recast.errors import InputError, OptionError
from recast.media.audio import AudioTrack
from recast.media.video import as_rate, decode_memory, iter_frames, probe
from recast.paths import check_outputs_not_inputs

_MOV_FORMATS = {"mov", "mp4"}


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
        self.rate = as_rate(fps)
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
    return decode_memory(buffer.getvalue(), "h264 round trip")
