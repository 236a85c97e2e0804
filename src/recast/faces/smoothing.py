"""Temporal landmark smoothing for video: the One-Euro filter (Casiez et al., CHI 2012).

A low-pass filter whose cut-off frequency rises with speed: on still segments it removes the
detector's frame-to-frame jitter, during fast head motion it lets the landmarks follow with
little lag. Speeds are measured in face sizes per second, so the same settings work for small
and large faces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import numpy as np


@dataclass(frozen=True)
class SmoothingConfig:
    """One-Euro parameters.

    Attributes:
        min_cutoff: cut-off frequency in Hz when still (lower = smoother, more lag when moving).
        beta: how fast the cut-off rises with speed (per face-size/second).
        derivative_cutoff: cut-off frequency used to smooth the speed estimate, Hz.
    """

    min_cutoff: float = 0.5
    beta: float = 3.0
    derivative_cutoff: float = 1.0


def _alpha(cutoff: float | np.ndarray, dt: float) -> float | np.ndarray:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


class LandmarkSmoother:
    """Smooths one face's ``(68, 2)`` landmarks frame by frame.

    >>> smoother = LandmarkSmoother(fps=30.0)
    >>> smoothed = [smoother(points) for points in landmark_track]
    """

    def __init__(self, fps: float, config: SmoothingConfig | None = None) -> None:
        self.dt = 1.0 / max(fps, 1e-3)
        self.config = config or SmoothingConfig()
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the history (call at a cut or when the face is lost)."""
        self._value = None
        self._speed = None

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Filter the next frame's ``(68, 2)`` landmarks; returns float64 ``(68, 2)``."""
        points = np.asarray(points, dtype=np.float64)
        if self._value is None:
            self._value = points.copy()
            self._speed = np.zeros(len(points))
            return points.copy()
        scale = max(float(np.ptp(points[:, 0]) + np.ptp(points[:, 1])) / 2.0, 1.0)
        # One speed for the whole face: detector jitter is independent from point to point and
        # averages out, so a still face keeps a low cut-off while a moving head raises it for all.
        raw_speed = np.full(len(points), np.linalg.norm(points - self._value, axis=1).mean() / (self.dt * scale))
        cfg = self.config
        self._speed = self._speed + _alpha(cfg.derivative_cutoff, self.dt) * (raw_speed - self._speed)
        cutoff = cfg.min_cutoff + cfg.beta * self._speed
        alpha = cast(np.ndarray, _alpha(cutoff, self.dt))[:, None]
        self._value = self._value + alpha * (points - self._value)
        return self._value.copy()


def smooth_track(track: np.ndarray, fps: float, config: SmoothingConfig | None = None) -> np.ndarray:
    """Smooth a whole ``(T, 68, 2)`` landmark track; returns float64 ``(T, 68, 2)``."""
    smoother = LandmarkSmoother(fps, config)
    return np.stack([smoother(frame) for frame in np.asarray(track)])


def mean_motion(track: np.ndarray) -> float:
    """Mean per-landmark displacement between consecutive frames of a ``(T, 68, 2)`` track, pixels."""
    track = np.asarray(track, dtype=np.float64)
    if len(track) < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(track, axis=0), axis=2).mean())
