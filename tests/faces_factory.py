"""Build aligned faces for tests without any detector: a face image with exactly known landmarks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from recast.faces.aligned import write_face
from recast.faces.alignment import transform_matrix, transform_points
from recast.faces.facetype import FaceType
from recast.faces.metadata import FaceMeta
from recast.faces.pose import estimate_pose, project_face_model


def synthetic_frame(
    pitch: float = 0.0, yaw: float = 0.0, roll: float = 0.0, size: tuple[int, int] = (640, 480), seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A BGR frame with a drawn face and its ``(68, 2)`` landmarks (from the generic 3-D face)."""
    width, height = size
    rng = np.random.default_rng(seed)
    frame = np.full((height, width, 3), 60, np.uint8)
    frame[:] = rng.integers(40, 90, size=3, dtype=np.uint8)
    landmarks = project_face_model(pitch, yaw, roll, (width, height), distance=900.0)
    hull = cv2.convexHull(np.round(landmarks).astype(np.int32))
    cv2.fillConvexPoly(frame, hull, (120, 150, 200))
    for a, b in ((36, 42), (42, 48), (48, 60)):
        cv2.fillConvexPoly(frame, cv2.convexHull(np.round(landmarks[a:b]).astype(np.int32)), (30, 30, 90))
    return frame, landmarks.astype(np.float32)


def synthetic_face(
    face_type: FaceType = FaceType.WHOLE, size: int = 256, yaw: float = 0.0, pitch: float = 0.0, seed: int = 0,
    source_filename: str = "00001.png",
) -> tuple[np.ndarray, FaceMeta]:
    """An aligned face image and its metadata, as extraction would write them."""
    frame, points = synthetic_frame(pitch=pitch, yaw=yaw, seed=seed)
    mat = transform_matrix(points, size, face_type)
    image = cv2.warpAffine(frame, mat, (size, size), flags=cv2.INTER_LINEAR)
    height, width = frame.shape[:2]
    (left, top), (right, bottom) = points.min(axis=0), points.max(axis=0)
    meta = FaceMeta(
        face_type=face_type,
        landmarks=transform_points(points, mat).astype(np.float32),
        source_landmarks=points,
        source_rect=(float(left), float(top), float(right), float(bottom)),
        source_filename=source_filename,
        source_size=(width, height),
        image_to_face_mat=mat,
        pose=estimate_pose(points, (width, height)),
        detector="synthetic",
        detector_score=1.0,
    )
    return image, meta


def write_whole_faceset(folder: Path, size: int, count: int = 4) -> Path:
    """``count`` synthetic whole faces of ``size`` px, turning a little (yaw 0.1 · i), written into ``folder``."""
    for i in range(count):
        image, meta = synthetic_face(FaceType.WHOLE, size, yaw=0.1 * i, seed=i, source_filename=f"{i + 1:05d}.png")
        write_face(folder / f"{i:05d}_0.jpg", image, meta)
    return folder
