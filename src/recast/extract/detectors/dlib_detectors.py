"""dlib's face detectors: HOG + linear SVM (fast, frontal) and the CNN MMOD detector (accurate, slow)."""

from __future__ import annotations

import cv2
import dlib
import numpy as np

from recast.extract.detectors.base import Detection
from recast.extract.model_files import dlib_model


def _sorted(detections: list[Detection]) -> list[Detection]:
    def area(d: Detection) -> float:
        return (d.rect[2] - d.rect[0]) * (d.rect[3] - d.rect[1])

    return sorted(detections, key=area, reverse=True)


class DlibHogDetector:
    """HOG detector. Finds faces ≳ 80 px; ``upsample`` doubles the image that many times first.

    ``threshold`` shifts the SVM decision threshold (negative finds more, with more false hits).
    """

    name = "dlib-hog"

    def __init__(self, upsample: int = 0, threshold: float = 0.0) -> None:
        self._detector = dlib.get_frontal_face_detector()
        self.upsample = upsample
        self.threshold = threshold

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in an ``(H, W, 3)`` uint8 BGR image, largest first."""
        rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        rects, scores, _ = self._detector.run(rgb, self.upsample, self.threshold)
        return _sorted(
            [
                Detection((float(r.left()), float(r.top()), float(r.right()), float(r.bottom())), float(s))
                for r, s in zip(rects, scores, strict=True)
            ]
        )


class DlibCnnDetector:
    """dlib's CNN (MMOD) detector: finds turned and small faces; ~3 s per 512² frame on a CPU."""

    name = "dlib-cnn"

    def __init__(self, upsample: int = 0) -> None:
        self._detector = dlib.cnn_face_detection_model_v1(str(dlib_model("mmod_human_face_detector.dat")))
        self.upsample = upsample

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in an ``(H, W, 3)`` uint8 BGR image, largest first."""
        rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        found = self._detector(rgb, self.upsample)
        return _sorted(
            [
                Detection(
                    (float(d.rect.left()), float(d.rect.top()), float(d.rect.right()), float(d.rect.bottom())),
                    float(d.confidence),
                )
                for d in found
            ]
        )
