"""Synthetic test media: a short clip of a real (public-domain) face, built with recast's own writer."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from skimage import data

from recast.media.video_encode import VideoWriter


def astronaut_bgr() -> np.ndarray:
    """scikit-image's astronaut portrait (public domain), ``(512, 512, 3)`` uint8 BGR."""
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def face_clip_frames(count: int = 24, size: int = 320) -> list[np.ndarray]:
    """Frames of the astronaut's face drifting and turning slightly, ``(size, size, 3)`` BGR."""
    image = astronaut_bgr()
    frames = []
    for t in range(count):
        angle = 6.0 * np.sin(t / 5.0)
        shift = np.array([8.0 * np.sin(t / 4.0), 5.0 * np.cos(t / 6.0)])
        mat = cv2.getRotationMatrix2D((222.0, 125.0), angle, 1.0)
        mat[:, 2] += shift - np.array([222.0 - size / 2, 125.0 - size / 2.5])
        frames.append(cv2.warpAffine(image, mat, (size, size), borderMode=cv2.BORDER_REFLECT))
    return frames


def write_face_clip(path: Path, count: int = 24, size: int = 320, fps: int = 25) -> Path:
    """Write :func:`face_clip_frames` as an H.264 MP4 at ``path``."""
    with VideoWriter(path, fps, crf=18, preset="ultrafast") as writer:
        for frame in face_clip_frames(count, size):
            writer.write(frame)
    return path


def tone(seconds: float, rate: int = 44100, burst_at: float = 0.5) -> np.ndarray:
    """``(2, n)`` float32 stereo: a quiet 440 Hz tone with a loud 1 kHz burst at ``burst_at`` s for 0.2 s."""
    t = np.arange(round(seconds * rate)) / rate
    wave = 0.05 * np.sin(2 * np.pi * 440 * t)
    burst = (t >= burst_at) & (t < burst_at + 0.2)
    wave[burst] = 0.6 * np.sin(2 * np.pi * 1000 * t[burst])
    return np.stack([wave, wave]).astype(np.float32)


def write_av_clip(path: Path, frames: list[np.ndarray], fps: int, audio: np.ndarray | None = None,
                  rate: int = 44100) -> Path:
    """Write BGR ``frames`` as H.264 (+ AAC ``audio`` ``(2, n)`` float32) with PyAV directly."""
    from fractions import Fraction

    import av

    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"crf": "16"}
        stream = container.add_stream("aac", rate=rate, layout="stereo") if audio is not None else None
        step = rate // fps
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in video.encode(frame):
                container.mux(packet)
            if stream is not None and audio is not None:
                chunk = av.AudioFrame.from_ndarray(audio[:, i * step:(i + 1) * step].copy(), format="fltp",
                                                   layout="stereo")
                chunk.rate, chunk.pts, chunk.time_base = rate, i * step, Fraction(1, rate)
                for packet in stream.encode(chunk):
                    container.mux(packet)
        for each in (video, stream):
            if each is not None:
                for packet in each.encode(None):
                    container.mux(packet)
    return path
