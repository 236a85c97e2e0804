"""Faces in a live stream: detect every few frames, fit landmarks every frame, smooth them.

Detection (dlib's HOG on a downscaled copy) costs several times the 68-point landmark fit, so it
runs only every ``detect_every`` frames. In between, each face's detector box is carried along by
its landmarks: the box found at the last detection is moved and scaled as the previous frame's
landmarks moved and scaled since then, and the landmarks are fitted in that box. The landmarks are
then smoothed per face by the One-Euro filter of :class:`recast.extract.tracking.FaceTracker`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from recast.extract.detectors import create_detector
from recast.extract.landmarks import DlibLandmarker, to_rgb
from recast.extract.tracking import FaceTracker
from recast.faces.smoothing import SmoothingConfig


@dataclass
class _Face:
    """A tracked face: its last detector box and where its landmarks were then and now."""

    box: np.ndarray
    anchor_centre: np.ndarray
    anchor_size: float
    landmarks: np.ndarray


def _centre_size(points: np.ndarray) -> tuple[np.ndarray, float]:
    return points.mean(axis=0), float(np.ptp(points[:, 0]) + np.ptp(points[:, 1])) / 2.0


@dataclass
class LiveFaceTracker:
    """Per-frame face landmarks for a live stream.

    Attributes:
        fps: the stream's frame rate (for the smoothing filter).
        detect_every: run the detector on every N-th frame (1 = every frame).
        detect_size: longest side of the copy the detector sees (0 = full size); HOG finds faces
            of about 80 px and more at that size, so 480 finds faces of ≥ 107 px in 640×480 frames
            and ≥ 213 px in 1280×720 ones (HOG took 7 ms at 320, ~20 ms at 480–640 on 2 busy cores).
        max_faces: keep at most this many faces, largest first.
        min_face_size: ignore detections smaller than this, in frame pixels.
        smoothing: One-Euro parameters; None switches smoothing off.
    """

    fps: float
    detect_every: int = 5
    detect_size: int = 480
    max_faces: int = 1
    min_face_size: int = 40
    smoothing: SmoothingConfig | None = field(default_factory=SmoothingConfig)
    _faces: list[_Face] = field(default_factory=list)
    _frame: int = 0

    def __post_init__(self) -> None:
        self._detector = create_detector("dlib-hog")
        self._landmarker = DlibLandmarker()
        self._smoother = FaceTracker(self.fps, self.smoothing) if self.smoothing is not None else None

    def update(self, frame: np.ndarray) -> list[np.ndarray]:
        """Landmarks ``(68, 2)`` float32 (frame pixels) of each face in ``frame`` (uint8 BGR), largest first."""
        if self._frame % max(1, self.detect_every) == 0 or not self._faces:
            self._faces = self._detect(frame)
        else:
            self._faces = [self._follow(face, frame) for face in self._faces]
        self._frame += 1
        points = [face.landmarks for face in self._faces]
        return self._smoother.update(points) if self._smoother is not None else points

    def _landmarks(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray:
        """Fit the 68 landmarks in ``box`` (left, top, right, bottom), converting only the area around it."""
        height, width = frame.shape[:2]
        margin = (box[2:] - box[:2]).max() * 0.5
        x0, y0 = (np.floor(box[:2] - margin).astype(int)).clip(0)
        x1, y1 = min(int(np.ceil(box[2] + margin)), width), min(int(np.ceil(box[3] + margin)), height)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return self._landmarker.landmarks(to_rgb(frame), tuple(box))
        offset = np.array([x0, y0, x0, y0], np.float64)
        points = self._landmarker.landmarks(to_rgb(frame[y0:y1, x0:x1]), tuple(box - offset))
        return points + np.array([x0, y0], np.float32)

    def _detect(self, frame: np.ndarray) -> list[_Face]:
        longest = max(frame.shape[:2])
        scale = self.detect_size / longest if 0 < self.detect_size < longest else 1.0
        small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else frame
        faces = []
        for detection in self._detector.detect(small):
            box = np.asarray(detection.rect, np.float64) / scale
            if min(box[2] - box[0], box[3] - box[1]) < self.min_face_size:
                continue
            landmarks = self._landmarks(frame, box)
            centre, size = _centre_size(landmarks)
            faces.append(_Face(box, centre, size, landmarks))
            if len(faces) >= self.max_faces:
                break
        return faces

    def _follow(self, face: _Face, frame: np.ndarray) -> _Face:
        """Fit the landmarks in the detector box carried along by the previous landmarks."""
        centre, size = _centre_size(face.landmarks)
        ratio = size / max(face.anchor_size, 1e-6)
        box_centre = (face.box[:2] + face.box[2:]) / 2.0 + (centre - face.anchor_centre)
        half = (face.box[2:] - face.box[:2]) / 2.0 * ratio
        box = np.concatenate([box_centre - half, box_centre + half])
        landmarks = self._landmarks(frame, box)
        return _Face(face.box, face.anchor_centre, face.anchor_size, landmarks)
