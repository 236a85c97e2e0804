"""Synthetic aligned facesets for tests, benchmarks and demos (no downloads, no real people).

Each face is a drawn cartoon whose features sit exactly on its 68 landmarks: skin-coloured face
polygon over a textured background, eyes, brows, nose and lips. ``identity`` changes colours and
proportions, so two identities make a src/dst pair that a model can tell apart. Pose varies per face
(roll, scale, shift and a yaw-like shift of the inner features).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from recast.faces.aligned import write_face
from recast.faces.alignment import MEAN_FACE_68, transform_matrix, transform_points
from recast.faces.facetype import FaceType
from recast.faces.metadata import FaceMeta
from recast.faces.pose import estimate_pose

_FRAME = 256
_PALETTES = [  # (background BGR, skin BGR, lips BGR, iris BGR)
    ((90, 120, 60), (120, 160, 215), (90, 90, 190), (120, 70, 30)),
    ((160, 90, 90), (90, 120, 160), (70, 60, 140), (40, 90, 40)),
    ((60, 60, 60), (150, 185, 230), (110, 100, 200), (30, 30, 30)),
]


def synthetic_landmarks(rng: np.random.Generator, identity: int) -> np.ndarray:
    """(68, 2) float64 landmarks in a 256×256 frame, with a random pose."""
    points = MEAN_FACE_68.astype(np.float64).copy()
    widen = 1.0 + 0.12 * (identity % 3 - 1)
    points[:, 0] = 0.5 + (points[:, 0] - 0.5) * widen
    yaw = rng.uniform(-0.12, 0.12)
    points[27:68, 0] += yaw
    points[0:17, 0] += yaw * 0.3
    points = points * 100.0 + 78.0
    angle = np.deg2rad(rng.uniform(-15, 15))
    scale = rng.uniform(0.9, 1.1)
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([128.0, 128.0])
    return (points - centre) @ rot.T + centre + rng.uniform(-8, 8, size=2)


def draw_face(landmarks: np.ndarray, identity: int, rng: np.random.Generator) -> np.ndarray:
    """Draw a cartoon face on its landmarks; (256, 256, 3) uint8 BGR."""
    background, skin, lips, iris = _PALETTES[identity % len(_PALETTES)]
    ys, xs = np.mgrid[0:_FRAME, 0:_FRAME].astype(np.float32)
    image = np.empty((_FRAME, _FRAME, 3), np.float32)
    for c in range(3):
        image[..., c] = background[c] + 40 * np.sin(xs / 23.0 + c) * np.cos(ys / 31.0)
    image += rng.normal(0, 6, size=image.shape).astype(np.float32)
    image = np.clip(image, 0, 255).astype(np.uint8)
    pts = np.round(landmarks).astype(np.int32)
    outline = np.vstack([pts[0:17], pts[26:16:-1] - [0, 25]])
    cv2.fillPoly(image, [cv2.convexHull(outline)], skin, lineType=cv2.LINE_AA)
    shade = tuple(int(v * 0.7) for v in skin)
    cv2.polylines(image, [pts[17:22], pts[22:27]], False, (40, 40, 60), 3, cv2.LINE_AA)
    cv2.polylines(image, [pts[27:31], pts[31:36]], False, shade, 2, cv2.LINE_AA)
    for eye in (pts[36:42], pts[42:48]):
        cv2.fillPoly(image, [eye], (235, 235, 235), lineType=cv2.LINE_AA)
        centre = tuple(int(v) for v in eye.mean(axis=0))
        cv2.circle(image, centre, 3, iris, -1, cv2.LINE_AA)
    cv2.fillPoly(image, [pts[48:60]], lips, lineType=cv2.LINE_AA)
    cv2.fillPoly(image, [pts[60:68]], (40, 30, 60), lineType=cv2.LINE_AA)
    return image


def write_synthetic_faceset(folder: str | Path, count: int, identity: int = 0, size: int = 128,
                            face_type: FaceType = FaceType.WHOLE, seed: int = 0) -> Path:
    """Write ``count`` aligned faces (``size`` px JPEGs with metadata) into ``folder``; returns it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, identity])
    for i in range(count):
        frame_points = synthetic_landmarks(rng, identity)
        frame = draw_face(frame_points, identity, rng)
        mat = transform_matrix(frame_points, size, face_type)
        image = cv2.warpAffine(frame, mat, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        points = transform_points(frame_points, mat).astype(np.float32)
        x0, y0 = frame_points.min(axis=0)
        x1, y1 = frame_points.max(axis=0)
        meta = FaceMeta(
            face_type=face_type, landmarks=points, source_landmarks=frame_points.astype(np.float32),
            source_rect=(float(x0), float(y0), float(x1), float(y1)), source_filename=f"{i:05d}.png",
            source_size=(_FRAME, _FRAME), image_to_face_mat=mat,
            pose=estimate_pose(points, (size, size)), detector="synthetic",
        )
        write_face(folder / f"{i:05d}_0.jpg", image, meta)
    return folder
