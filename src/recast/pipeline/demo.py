"""The built-in demo: two short sample clips made from public-domain portraits, swapped end to end.

The portraits ship with recast's dependencies — Grace Hopper (U.S. Navy photo, in matplotlib's
sample data) and the NASA astronaut portrait (in scikit-image's data) — so the demo needs no
download. The clips are the still portraits drifting and turning slightly, enough for every
stage to run; a real swap needs real footage of two consenting people.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from recast.errors import RecastError
from recast.media.video import VideoWriter


def portrait(name: str) -> tuple[np.ndarray, tuple[float, float], float]:
    """A sample portrait as ``(image BGR uint8, face centre (x, y), face width px)``."""
    if name == "hopper":
        import matplotlib.cbook

        path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        return cv2.imread(str(path)), (268.0, 245.0), 215.0
    if name == "astronaut":
        try:
            from skimage import data
        except ImportError:
            raise RecastError("the demo needs scikit-image (pip install scikit-image)") from None
        return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (222.0, 126.0), 87.0
    raise RecastError(f"unknown sample portrait {name!r}")


def sample_frames(name: str, count: int = 60, size: int = 320) -> list[np.ndarray]:
    """Frames of a sample portrait drifting and turning slightly; the face fills about 40 % of the width."""
    image, (cx, cy), face_width = portrait(name)
    zoom = 0.4 * size / face_width
    frames = []
    for t in range(count):
        angle = 5.0 * np.sin(t / 7.0)
        mat = cv2.getRotationMatrix2D((cx, cy), angle, zoom * (1.0 + 0.04 * np.sin(t / 11.0)))
        mat[:, 2] += np.array([size / 2 - cx + 6.0 * np.sin(t / 5.0), size / 2.2 - cy + 4.0 * np.cos(t / 6.0)])
        frames.append(cv2.warpAffine(image, mat, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT))
    return frames


def write_sample_videos(folder: str | Path, count: int = 60, fps: int = 24) -> tuple[Path, Path]:
    """Write ``sample_src.mp4`` (Grace Hopper) and ``sample_dst.mp4`` (the astronaut) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, file_name in (("hopper", "sample_src.mp4"), ("astronaut", "sample_dst.mp4")):
        path = folder / file_name
        if not path.exists():
            with VideoWriter(path, fps, crf=16, preset="fast") as writer:
                for frame in sample_frames(name, count):
                    writer.write(frame)
        paths.append(path)
    return paths[0], paths[1]


def set_aside_demo_work(workspace: str | Path) -> Path | None:
    """Move a previous demo's ``work`` folder (faces, model, merged frames) into ``work_trash/<n>``.

    The next demo run then starts from scratch (nothing is deleted). Returns where it went, or
    None when there was no previous work.
    """
    work = Path(workspace) / "work"
    if not work.exists():
        return None
    trash = Path(workspace) / "work_trash"
    trash.mkdir(exist_ok=True)
    number = 1
    while (trash / str(number)).exists():
        number += 1
    os.replace(work, trash / str(number))
    return trash / str(number)
