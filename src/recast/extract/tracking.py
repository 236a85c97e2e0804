"""Follow faces from frame to frame so each one's landmarks can be smoothed over time."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recast.faces.smoothing import LandmarkSmoother, SmoothingConfig


@dataclass(eq=False)  # tracks are matched by identity (a field-wise == would compare arrays)
class _Track:
    centre: np.ndarray
    size: float
    smoother: LandmarkSmoother
    last_seen: int = 0


@dataclass
class FaceTracker:
    """Matches each frame's faces to tracks (nearest centre) and smooths their landmarks.

    A face further than ``max_jump`` face sizes from every track starts a new track; a track
    not seen for ``max_gap`` frames is dropped, so smoothing never bridges a cut.
    """

    fps: float
    config: SmoothingConfig = field(default_factory=SmoothingConfig)
    max_jump: float = 0.5
    max_gap: int = 2
    _tracks: list[_Track] = field(default_factory=list)
    _frame: int = 0

    def update(self, landmarks: list[np.ndarray]) -> list[np.ndarray]:
        """Smooth one frame's faces (each ``(68, 2)``); returns them in the same order."""
        self._frame += 1
        self._tracks = [t for t in self._tracks if self._frame - t.last_seen <= self.max_gap]
        free = list(self._tracks)
        out = []
        for points in landmarks:
            centre = points.mean(axis=0)
            size = float(np.ptp(points[:, 0]) + np.ptp(points[:, 1])) / 2.0
            track = min(free, key=lambda t: float(np.linalg.norm(t.centre - centre)), default=None)
            if track is None or np.linalg.norm(track.centre - centre) > self.max_jump * max(size, track.size):
                track = _Track(centre, size, LandmarkSmoother(self.fps, self.config))
                self._tracks.append(track)
            else:
                free.remove(track)
            track.centre, track.size, track.last_seen = centre, size, self._frame
            out.append(track.smoother(points).astype(np.float32))
        return out
