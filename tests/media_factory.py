"""Synthetic test media: a short clip of a real (public-domain) face, built with recast's own writer."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from skimage import data

from recast.media.video import VideoWriter


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
