"""Landmark masks: the face hull (default training and merge mask) and the eyes+mouth mask.

All functions take ``(68, 2)`` iBUG-68 landmarks in the pixels of an image of ``shape = (h, w)``
and return ``(h, w)`` float32 masks in [0, 1].
"""

from __future__ import annotations

import cv2
import numpy as np

# Convex pieces whose union is the face: jaw halves, cheeks, nose ridge, eye areas, nose.
_HULL_PARTS = (
    [*range(0, 9), 17],
    [*range(8, 17), 26],
    [17, 18, 19, 8],
    [24, 25, 26, 8],
    [*range(19, 25), 8],
    [*range(17, 22), 27, *range(31, 36), 8],
    [*range(22, 27), 27, *range(31, 36), 8],
    [*range(27, 31), *range(31, 36)],
)


def expand_eyebrows(landmarks: np.ndarray, amount: float = 1.0) -> np.ndarray:
    """Push the brow points (17–26) away from the eyes by ``amount`` × half their distance.

    Returns a float64 copy of ``landmarks``; ``amount = 0`` leaves them unchanged.
    """
    points = np.asarray(landmarks, dtype=np.float64).copy()
    if amount == 0:
        return points
    left_eye_top = np.array(
        [points[36] + (points[0] - points[36]) * 0.25, points[36], points[37], points[38], points[39]]
    )
    right_eye_top = np.array(
        [points[42], points[43], points[44], points[45], points[45] + (points[16] - points[45]) * 0.25]
    )
    points[17:22] += amount * 0.5 * (points[17:22] - left_eye_top)
    points[22:27] += amount * 0.5 * (points[22:27] - right_eye_top)
    return points


def forehead_points(landmarks: np.ndarray, height: float = 0.8) -> np.ndarray:
    """Points above the brows that extend the hull over the forehead.

    Each brow point moves up (away from the chin, along the face's vertical axis) by ``height``
    times the brow-to-nose-tip distance. Returns ``(10, 2)`` float64.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    up = points[27] - points[8]
    up /= max(np.linalg.norm(up), 1e-6)
    reach = np.linalg.norm(points[27] - points[30]) + np.linalg.norm(points[19:25].mean(axis=0) - points[27])
    brows = points[17:27]
    # Brow ends rise less than the middle so the outline stays round.
    bend = 1.0 - 0.5 * np.abs(np.linspace(-1.0, 1.0, 10)) ** 2
    return brows + up[None, :] * (reach * height * bend)[:, None]


def hull_mask(
    landmarks: np.ndarray, shape: tuple[int, int], eyebrows_expand: float = 1.0, forehead: float = 0.0
) -> np.ndarray:
    """Face mask: the union of convex hulls over parts of the landmark set.

    Args:
        landmarks: ``(68, 2)`` points in pixels.
        shape: ``(h, w)`` of the output mask.
        eyebrows_expand: brow push (see :func:`expand_eyebrows`); 1.0 matches DeepFaceLab.
        forehead: if > 0, also cover the forehead up to this height (see :func:`forehead_points`);
            useful for ``whole`` and ``head`` faces.

    Returns:
        ``(h, w)`` float32 mask, 1 inside the face.
    """
    points = expand_eyebrows(landmarks, eyebrows_expand)
    mask = np.zeros(shape, dtype=np.uint8)
    for part in _HULL_PARTS:
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points[part]).astype(np.int32)), 1)
    if forehead > 0:
        top = forehead_points(landmarks, forehead)
        cap = np.vstack([points[17:27], top, points[[0, 16]]])
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(cap).astype(np.int32)), 1)
    return mask.astype(np.float32)


def eyes_mouth_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Soft mask over both eyes and the inner mouth, for the eyes-and-mouth loss priority.

    Returns ``(h, w)`` float32 in [0, 1], zero outside the face hull.
    """
    points = np.round(np.asarray(landmarks, dtype=np.float64)).astype(np.int32)
    height = shape[0]
    mask = np.zeros(shape, dtype=np.float32)
    for part in (points[36:42], points[42:48], points[60:68]):
        piece: np.ndarray = np.zeros(shape, dtype=np.uint8)
        cv2.fillConvexPoly(piece, cv2.convexHull(part), 1)
        grow = max(height // 32, 1)
        piece = cv2.dilate(piece, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
        blur = max(height // 16, 1) | 1
        mask += cv2.GaussianBlur(piece.astype(np.float32), (blur, blur), 0)
    return np.clip(mask, 0.0, 1.0) * (hull_mask(landmarks, shape) > 0)
