"""Debug copies of a faceset: each face with its landmarks, hull-mask outline and pose drawn on it."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from recast.atomic import atomic_write_bytes
from recast.errors import InputError
from recast.faces.aligned import read_face
from recast.faces.masks import hull_mask
from recast.faces.metadata import FaceMeta
from recast.faceset.files import ProgressCallback, require_faces


def draw_face_debug(image: np.ndarray, meta: FaceMeta) -> np.ndarray:
    """Copy of the aligned ``(S, S, 3)`` uint8 BGR face with landmarks (green), the hull mask outline
    (red), the XSeg mask outline if stored (blue) and ``pitch/yaw/roll`` in degrees (text)."""
    canvas = image.copy()
    size = image.shape[0]
    thick = max(1, round(size / 256))
    mask = (hull_mask(meta.landmarks, image.shape[:2], meta.eyebrows_expand) > 0.5).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(canvas, contours, -1, (0, 0, 255), thick)
    if meta.xseg_mask is not None:
        xseg = cv2.resize(meta.xseg_mask, image.shape[1::-1], interpolation=cv2.INTER_LINEAR) > 0.5
        contours, _ = cv2.findContours(xseg.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(canvas, contours, -1, (255, 0, 0), thick)
    for x, y in np.asarray(meta.landmarks):
        cv2.circle(canvas, (int(round(x)), int(round(y))), thick + 1, (0, 255, 0), -1)
    pitch, yaw, roll = (math.degrees(v) for v in meta.pose)
    text = f"{meta.face_type.value} p{pitch:+.0f} y{yaw:+.0f} r{roll:+.0f}"
    scale = max(0.45, size / 600)
    origin = (4, int(22 * scale) + 4)
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return canvas


def debug_faceset(folder: str | Path, output: Path | None = None, on_progress: ProgressCallback | None = None) -> Path:
    """Write debug copies of every face of ``folder`` to ``output`` (default ``<folder>_debug``) as JPEG.

    Raises:
        InputError: no faces; MetadataError: a file is not an aligned face.
    """
    folder = Path(folder)
    output = output or folder.with_name(folder.name + "_debug")
    paths = require_faces(folder)
    for i, path in enumerate(paths):
        face = read_face(path)
        ok, data = cv2.imencode(".jpg", draw_face_debug(face.image, face.meta), [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise InputError(path, "could not encode the debug image")
        atomic_write_bytes(output / f"{path.stem}.jpg", data.tobytes())
        if on_progress is not None:
            on_progress(i + 1, len(paths))
    return output
