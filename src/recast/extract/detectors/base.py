"""The face-detector plugin interface.

A detector takes one image and returns face boxes. Rotation retries, minimum face size and the
maximum number of faces are handled once, by the extraction stage, not by each detector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Detection:
    """One detected face.

    Attributes:
        rect: ``(left, top, right, bottom)`` in image pixels, floats.
        score: detector confidence; its scale depends on the detector (higher is better).
        keypoints: optional ``(5, 2)`` float32 ``(x, y)`` points — left eye, right eye, nose,
            left mouth corner, right mouth corner (as seen in the image) — or ``None``.
    """

    rect: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray | None = None

    @property
    def size(self) -> float:
        """The box's shorter side in pixels."""
        left, top, right, bottom = self.rect
        return float(min(right - left, bottom - top))


class Detector(Protocol):
    """Finds faces in an image.

    ``detect`` takes an ``(H, W, 3)`` uint8 **BGR** image and returns detections sorted by
    decreasing box area. It must not print and must be safe to call from one thread at a time.
    """

    name: str

    def detect(self, image: np.ndarray) -> list[Detection]: ...
