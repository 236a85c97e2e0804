"""Per-frame face analysis: detection (with rotation retries), landmarks and optional embedding.

This is the part of extraction that runs in worker processes. It knows nothing about files.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from recast.extract.detectors import create_detector
from recast.extract.detectors.base import Detection
from recast.extract.landmarks import DlibEmbedder, DlibLandmarker, to_rgb

#: Longest image side each detector works at by default (0 = full size). dlib's HOG and CNN scan
#: every position and are fast only on small images; MTCNN builds its own pyramid from
#: ``min_face_size``, so it sees the full frame.
DEFAULT_DETECT_SIZE = {"dlib-hog": 640, "dlib-cnn": 640}

_ROTATIONS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


@dataclass
class FoundFace:
    """A face found in a frame, in that frame's pixel coordinates.

    Attributes:
        rect: detector box ``(left, top, right, bottom)``.
        score: detector confidence.
        landmarks: ``(68, 2)`` float32.
        rotation: degrees the frame was turned clockwise before the face was found (0 normally).
        embedding: ``(128,)`` float32 or None.
    """

    rect: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray
    rotation: int = 0
    embedding: np.ndarray | None = None


@dataclass(frozen=True)
class AnalyzeOptions:
    """Options of :class:`FrameAnalyzer` (see :class:`recast.extract.stage.ExtractOptions`)."""

    detector: str = "dlib-hog"
    detector_kwargs: tuple[tuple[str, object], ...] = ()
    min_face_size: int = 40
    max_faces: int = 0
    try_rotations: bool = True
    detect_size: int | None = None
    embed: bool = False


def rotation_matrix_back(rotation: int, width: int, height: int) -> np.ndarray:
    """``(2, 3)`` matrix mapping pixels of the frame turned ``rotation``° clockwise back to the frame."""
    if rotation == 90:
        return np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, height - 1.0]])
    if rotation == 180:
        return np.array([[-1.0, 0.0, width - 1.0], [0.0, -1.0, height - 1.0]])
    if rotation == 270:
        return np.array([[0.0, -1.0, width - 1.0], [1.0, 0.0, 0.0]])
    return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


class FrameAnalyzer:
    """Finds faces in frames: detect → 68 landmarks → (optionally) identity embedding."""

    def __init__(self, options: AnalyzeOptions) -> None:
        self.options = options
        kwargs = dict(options.detector_kwargs)
        if options.detector == "mtcnn":
            kwargs.setdefault("min_face_size", options.min_face_size)
        self.detector = create_detector(options.detector, **kwargs)
        self.landmarker = DlibLandmarker()
        self.embedder = DlibEmbedder() if options.embed else None

    def analyze(self, frame: np.ndarray) -> list[FoundFace]:
        """All faces in an ``(H, W, 3)`` uint8 BGR frame, largest first (at most ``max_faces``)."""
        faces = self._find(frame, 0)
        if not faces and self.options.try_rotations:
            for rotation, code in _ROTATIONS.items():
                faces = self._find(cv2.rotate(frame, code), rotation, frame.shape)
                if faces:
                    break
        if self.options.max_faces > 0:
            faces = faces[: self.options.max_faces]
        if self.embedder is not None:
            rgb = to_rgb(frame)
            for face in faces:
                face.embedding = self.embedder.embed(rgb, face.landmarks)
        return faces

    def _find(self, image: np.ndarray, rotation: int, original_shape: tuple[int, ...] | None = None) -> list[FoundFace]:
        detections = self._detect_scaled(image)
        detections = [d for d in detections if d.size >= self.options.min_face_size]
        if not detections:
            return []
        rgb = to_rgb(image)
        height, width = (original_shape or image.shape)[:2]
        back = rotation_matrix_back(rotation, width, height)
        faces = []
        for det in detections:
            points = self.landmarker.landmarks(rgb, det.rect)
            points = (points.astype(np.float64) @ back[:, :2].T + back[:, 2]).astype(np.float32)
            corners = np.array([det.rect[:2], det.rect[2:]], dtype=np.float64) @ back[:, :2].T + back[:, 2]
            (left, top), (right, bottom) = corners.min(axis=0), corners.max(axis=0)
            faces.append(FoundFace((left, top, right, bottom), det.score, points, rotation))
        return faces

    def _detect_scaled(self, image: np.ndarray) -> list[Detection]:
        """Detect on a copy whose longer side is at most ``detect_size``; boxes in ``image`` pixels."""
        longest = max(image.shape[:2])
        limit = self.options.detect_size
        if limit is None:
            limit = DEFAULT_DETECT_SIZE.get(self.options.detector, 0)
        if limit <= 0 or longest <= limit:
            return self.detector.detect(image)
        scale = limit / longest
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return [
            Detection(
                tuple(v / scale for v in d.rect),  # type: ignore[arg-type]
                d.score,
                None if d.keypoints is None else d.keypoints / scale,
            )
            for d in self.detector.detect(small)
        ]
