"""Audio for an encoded video: take one track from another media file, aligned to the new video.

Used by :class:`recast.media.video.VideoWriter`. The track is either stream-copied (bit-exact,
when the codec fits the output container and no leading audio must be cut away) or decoded,
trimmed to the sample and re-encoded (AAC; PCM in AVI). Either way the output audio starts at
the same instant as the output video and stops at the video's end.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import numpy as np
from av.container import InputContainer, OutputContainer

from recast.errors import InputError, OptionError

# Audio codecs each output container takes as a stream copy, and what it gets otherwise.
_COPY_CODECS = {
    "mp4": {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"},
    "mov": {"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s24le", "pcm_f32le"},
    "matroska": {"aac", "mp3", "opus", "vorbis", "flac", "ac3", "eac3", "pcm_s16le", "pcm_s24le"},
    "avi": {"pcm_s16le", "mp3"},
}
_ENCODE_CODEC = {"mp4": "aac", "mov": "aac", "matroska": "aac", "avi": "pcm_s16le"}
_EDIT_LIST_FORMATS = {"mp4", "mov"}  # muxers that keep AAC priming packets (negative pts) correctly
_EPS = 1e-3  # seconds; timestamps closer than this count as equal


class AudioTrack:
    """One audio track of ``source`` muxed into ``output``; source time ``origin`` → output time 0.

    Call :meth:`add_stream` before the first packet is muxed, :meth:`pump` as video advances (keeps
    the file interleaved), :meth:`finish` with the final video duration, then :meth:`close`.
    """

    def __init__(self, source: str | Path, track: int, start: float, container_format: str) -> None:
        self.source = Path(source)
        if not self.source.is_file():
            raise InputError(self.source, "no such file" if not self.source.exists() else "not a file")
        try:
            self._input: InputContainer = av.open(str(self.source), metadata_errors="ignore")
        except av.FFmpegError as error:
            raise InputError(self.source, f"not a readable media file: {describe_av_error(error)}") from None
        tracks = self._input.streams.audio
        self.present = len(tracks) > 0
        if not self.present:
            return
        if not 0 <= track < len(tracks):
            self._input.close()
            raise OptionError(f"audio track {track} does not exist in {self.source} "
                              f"(it has {len(tracks)} audio track(s), numbered from 0)")
        self._in = tracks[track]
        videos = self._input.streams.video
        video_start = _start_seconds(videos[0]) if videos else 0.0
        self.origin = video_start + start
        audio_start = _start_seconds(self._in)
        codec = self._in.codec_context.name
        self.copy = codec in _COPY_CODECS[container_format] and audio_start >= self.origin - _EPS
        self._keep_priming = container_format in _EDIT_LIST_FORMATS
        self._encode_codec = _ENCODE_CODEC[container_format]
        self._out: av.AudioStream | None = None
        self._done = False
        self._pending: av.Packet | None = None
        self._packets: Iterator[av.Packet] | None = None
        self._chunks: Iterator[tuple[int, np.ndarray]] | None = None
        self._written = 0  # re-encode mode: samples sent to the encoder
        self._held: tuple[int, np.ndarray] | None = None

    def add_stream(self, output: OutputContainer) -> None:
        """Create the output audio stream (call before anything is muxed into ``output``)."""
        self._output = output
        if self.copy:
            self._out = output.add_stream_from_template(self._in)
            assert self._in.time_base is not None
            self._offset_ticks = round(self.origin / self._in.time_base)
            self._packets = self._input.demux(self._in)
            return
        ctx = self._in.codec_context
        self._rate = ctx.sample_rate
        self._layout = ctx.layout.name
        out = output.add_stream(self._encode_codec, rate=self._rate, layout=self._layout)
        if self._encode_codec == "aac":
            out.codec_context.bit_rate = min(320_000, 96_000 * ctx.layout.nb_channels)
        self._out = cast(av.AudioStream, out)
        self._chunks = self._decoded_chunks()

    def pump(self, until: float) -> None:
        """Mux audio up to output time ``until`` seconds (no trimming yet)."""
        if self._done:
            return
        if self.copy:
            self._copy_until(until, trim=False)
        else:
            self._encode_until(round(until * self._rate), trim=False)

    def finish(self, end: float) -> None:
        """Mux the rest of the audio that falls before output time ``end`` and flush the encoder."""
        if self._done:
            return
        if self.copy:
            self._copy_until(end, trim=True)
        else:
            self._encode_until(round(end * self._rate), trim=True)
            assert self._out is not None
            for packet in self._out.encode(None):
                self._output.mux(packet)
        self._done = True

    def close(self) -> None:
        """Close the source file."""
        self._input.close()

    # stream copy ---------------------------------------------------------------------------
    def _copy_until(self, until: float, trim: bool) -> None:
        tb = self._in.time_base
        assert tb is not None and self._packets is not None
        while True:
            packet = self._pending or next(self._packets, None)
            self._pending = None
            if packet is None:
                self._done = True
                return
            if packet.pts is None or packet.size == 0:
                continue
            start = float(packet.pts * tb) - self.origin
            if start < -_EPS and not (packet.is_discard and self._keep_priming):
                continue  # priming that this muxer cannot represent
            middle = start + float((packet.duration or 0) * tb) / 2
            if middle >= until - _EPS:  # keeps the audio within half a packet of the video's end
                if trim:
                    self._done = True
                else:
                    self._pending = packet
                return
            packet.pts -= self._offset_ticks
            if packet.dts is not None:
                packet.dts -= self._offset_ticks
            packet.stream = self._out
            self._output.mux(packet)

    # decode, trim, re-encode ---------------------------------------------------------------
    def _encode_until(self, sample: int, trim: bool) -> None:
        assert self._chunks is not None
        while self._written < sample:
            chunk = self._held or next(self._chunks, None)
            self._held = None
            if chunk is None:
                self._done = True
                return
            position, samples = chunk
            if position > self._written:  # the source audio starts after the video: pad silence
                self._encode(np.zeros((samples.shape[0], min(position, sample) - self._written), np.float32))
                if self._written < position:
                    self._held = chunk
                    break
            room = sample - self._written
            if samples.shape[1] > room:
                if not trim:
                    self._held = chunk
                    break
                samples = samples[:, :room]
            self._encode(samples)
        if trim:
            self._done = True

    def _encode(self, samples: np.ndarray) -> None:
        if samples.shape[1] == 0:
            return
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout=self._layout)
        frame.rate = self._rate
        frame.pts = self._written
        frame.time_base = Fraction(1, self._rate)
        self._written += samples.shape[1]
        assert self._out is not None
        for packet in self._out.encode(frame):
            self._output.mux(packet)

    def _decoded_chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(output sample position, (channels, n) float32)``, cut to start at output time 0."""
        if self.origin > 1.0:
            assert self._in.time_base is not None
            self._input.seek(round((self.origin - 1.0) / self._in.time_base), stream=self._in)
        resampler = av.AudioResampler(format="fltp", layout=self._layout, rate=self._rate)
        position: int | None = None
        try:
            for frame in self._input.decode(self._in):
                for converted in resampler.resample(frame):
                    samples = converted.to_ndarray()
                    if position is None:
                        if converted.pts is None:
                            position = 0
                        else:
                            assert converted.time_base is not None
                            position = round((float(converted.pts * converted.time_base) - self.origin)
                                             * self._rate)
                    if position < 0:  # before output time 0: cut away
                        drop = min(-position, samples.shape[1])
                        samples = samples[:, drop:]
                        position += drop
                        if samples.shape[1] == 0:
                            continue
                    yield position, samples
                    position += samples.shape[1]
        except av.FFmpegError as error:
            raise InputError(self.source, f"audio is not decodable: {describe_av_error(error)}") from None


def describe_av_error(error: Exception) -> str:
    """One line for an FFmpeg/PyAV error, without the file name PyAV appends."""
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return " ".join(str(text).split())


def _start_seconds(stream: av.stream.Stream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)
