"""Debug frames: the source frame with each face's box, landmarks and aligned-crop outline."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from recast.atomic import atomic_path
from recast.extract.analyze import FoundFace
from recast.faces.alignment import transform_matrix, transform_points
from recast.faces.facetype import FaceType


def draw_debug(frame: np.ndarray, faces: list[FoundFace], face_type: FaceType, path: Path) -> None:
    """Write a copy of ``frame`` (uint8 BGR) with the faces drawn on it as a JPEG at ``path``."""
    canvas = frame.copy()
    thickness = max(1, round(max(frame.shape[:2]) / 500))
    for face in faces:
        left, top, right, bottom = (int(round(v)) for v in face.rect)
        cv2.rectangle(canvas, (left, top), (right, bottom), (0, 0, 255), thickness)
        for x, y in face.landmarks:
            cv2.circle(canvas, (int(round(x)), int(round(y))), thickness, (0, 255, 0), -1)
        mat = transform_matrix(face.landmarks, 256, face_type)
        outline = transform_points(np.array([[0, 0], [256, 0], [256, 256], [0, 256]]), mat, invert=True)
        cv2.polylines(canvas, [np.round(outline).astype(np.int32)], True, (255, 0, 0), thickness)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        cv2.imwrite(str(tmp), canvas, [cv2.IMWRITE_JPEG_QUALITY, 85])
