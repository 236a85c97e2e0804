"""Cutting faces: an aligned face out of a frame (:func:`cut_face`), and a model's crop out of an
aligned face (:func:`crop_matrix`).

Extraction (:mod:`recast.extract.stage`) and the studio's manual fix both make faces with
:func:`cut_face`, so a hand-placed face is stored exactly as a detected one. Training samples, the XSeg
mask model and the benchmarks crop aligned faces to a model's face type with :func:`crop_matrix`.
"""

from __future__ import annotations

import cv2
import numpy as np

from recast.faces.alignment import transform_matrix, transform_points
from recast.faces.facetype import FaceType
from recast.faces.metadata import FaceMeta
from recast.faces.pose import estimate_pose


def cut_face(
    frame: np.ndarray, frame_name: str, points: np.ndarray, rect: tuple[float, float, float, float], size: int,
    face_type: FaceType, detector: str, score: float, embedding: np.ndarray | None = None,
) -> tuple[np.ndarray, FaceMeta]:
    """The aligned ``size`` px ``face_type`` crop (uint8 BGR) of the face with ``(68, 2)`` landmarks
    ``points`` (frame pixels) in ``frame`` (uint8 BGR, file ``frame_name``), and its metadata;
    ``rect``, ``detector``, ``score`` and ``embedding`` are stored as given."""
    height, width = frame.shape[:2]
    mat = transform_matrix(points, size, face_type)
    image = cv2.warpAffine(frame, mat, (size, size), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REPLICATE)
    meta = FaceMeta(
        face_type=face_type,
        landmarks=transform_points(points, mat).astype(np.float32),
        source_landmarks=np.asarray(points, dtype=np.float32),
        source_rect=rect,
        source_filename=frame_name,
        source_size=(width, height),
        image_to_face_mat=mat,
        pose=estimate_pose(points, (width, height)),
        detector=detector,
        detector_score=score,
        embedding=embedding,
    )
    return image, meta


def crop_matrix(landmarks: np.ndarray, image_size: int, image_face_type: FaceType, resolution: int,
                face_type: FaceType) -> np.ndarray:
    """(2, 3) map from aligned-image pixels to the model's ``resolution`` crop of ``face_type``."""
    if image_face_type == face_type:
        s = resolution / image_size
        return np.array([[s, 0.0, 0.0], [0.0, s, 0.0]])
    return transform_matrix(landmarks, resolution, face_type)
