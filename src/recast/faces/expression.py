"""Expression measures from 68 landmarks: how open the mouth and the eyes are (pure geometry, no torch).

Both are ratios of landmark distances, so they do not depend on the face's size or on the
image the landmarks are in (aligned or frame pixels):

* mouth openness: the mean gap between the inner lips (61–67, 62–66, 63–65) over the inner mouth
  width (60–64). About 0 closed, 0.3–0.6 talking, near 1 wide open.
* eye openness: the eye aspect ratio (Soukupová & Čech 2016), (|37–41| + |38–40|) / (2·|36–39|),
  averaged over both eyes. About 0.25–0.35 open, below 0.15 closed.
"""

from __future__ import annotations

import numpy as np

_INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
_EYES = ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47))


def mouth_openness(landmarks: np.ndarray) -> float:
    """Inner-lip gap ÷ inner mouth width of ``(68, 2)`` landmarks (0 = closed)."""
    points = np.asarray(landmarks, dtype=np.float64)
    gap = np.mean([np.linalg.norm(points[a] - points[b]) for a, b in _INNER_LIP_PAIRS])
    width = float(np.linalg.norm(points[64] - points[60]))
    return float(gap / width) if width > 1e-6 else 0.0


def eye_openness(landmarks: np.ndarray) -> float:
    """Eye aspect ratio of ``(68, 2)`` landmarks, mean of both eyes (≈ 0.3 open, < 0.15 closed)."""
    points = np.asarray(landmarks, dtype=np.float64)
    ratios = []
    for p1, p2, p3, p4, p5, p6 in _EYES:
        width = float(np.linalg.norm(points[p4] - points[p1]))
        height = float(np.linalg.norm(points[p2] - points[p6]) + np.linalg.norm(points[p3] - points[p5]))
        ratios.append(height / (2 * width) if width > 1e-6 else 0.0)
    return float(np.mean(ratios))
