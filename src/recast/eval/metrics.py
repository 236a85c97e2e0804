"""Per-frame swap-quality metrics on landmarks, embeddings and frames (no I/O, no state).

Landmarks are ``(68, 2)`` iBUG-68 points in frame pixels (x, y), float. Frames are
``(H, W, 3) uint8 BGR``. Angles are returned in degrees.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from recast.faces.alignment import transform_points, umeyama
from recast.faces.masks import expand_eyebrows, hull_mask
from recast.faces.pose import estimate_pose

#: Points that move little with expression: nose (27–35) and the four eye corners. The
#: expression metric aligns the two faces on these before comparing eyes and mouth.
STABLE_POINTS = np.array([*range(27, 36), 36, 39, 42, 45])
EYE_POINTS = np.arange(36, 48)
MOUTH_POINTS = np.arange(48, 68)
EXPRESSION_POINTS = np.arange(36, 68)


def inter_ocular(landmarks: np.ndarray) -> float:
    """Distance between the outer eye corners (points 36 and 45), in pixels (the 300-W normaliser)."""
    points = np.asarray(landmarks, dtype=np.float64)
    return float(np.linalg.norm(points[45] - points[36]))


def pose_error(dst_landmarks: np.ndarray, result_landmarks: np.ndarray,
               image_size: tuple[int, int]) -> tuple[float, float, float]:
    """``(|Δpitch|, |Δyaw|, |Δroll|)`` in degrees between two faces in frames of ``(width, height)``."""
    dst_pose = estimate_pose(dst_landmarks, image_size)
    result_pose = estimate_pose(result_landmarks, image_size)
    pitch, yaw, roll = (abs(math.degrees(a - b)) for a, b in zip(result_pose, dst_pose, strict=True))
    return pitch, yaw, roll


def expression_error(dst_landmarks: np.ndarray, result_landmarks: np.ndarray) -> dict[str, float]:
    """Eye and mouth landmark distance after a similarity fit on :data:`STABLE_POINTS`.

    The result's landmarks are mapped onto the destination's by the least-squares similarity
    (rotation, uniform scale, shift) of their stable points, so head position and size do not
    count. Distances are divided by the destination's :func:`inter_ocular` distance.

    Returns:
        ``{"expression": mean over 36–67, "eyes": mean over 36–47, "mouth": mean over 48–67}``.
    """
    dst = np.asarray(dst_landmarks, dtype=np.float64)
    result = np.asarray(result_landmarks, dtype=np.float64)
    fit = umeyama(result[STABLE_POINTS], dst[STABLE_POINTS])
    aligned = transform_points(result, fit[:2])
    distance = np.linalg.norm(aligned - dst, axis=1) / max(inter_ocular(dst), 1e-6)
    return {
        "expression": float(distance[EXPRESSION_POINTS].mean()),
        "eyes": float(distance[EYE_POINTS].mean()),
        "mouth": float(distance[MOUTH_POINTS].mean()),
    }


def landmark_motion(previous: np.ndarray, current: np.ndarray) -> float:
    """Mean displacement of the 68 points between two frames, in pixels."""
    step = np.asarray(current, dtype=np.float64) - np.asarray(previous, dtype=np.float64)
    return float(np.linalg.norm(step, axis=1).mean())


def excess_motion(dst_previous: np.ndarray, dst_current: np.ndarray,
                  result_previous: np.ndarray, result_current: np.ndarray) -> float:
    """Mean length of the result's landmark motion minus the destination's, in pixels.

    Zero when the swapped face moves exactly with the destination face; jitter of the result
    that the destination does not have shows up in full.
    """
    dst_step = np.asarray(dst_current, dtype=np.float64) - np.asarray(dst_previous, dtype=np.float64)
    result_step = np.asarray(result_current, dtype=np.float64) - np.asarray(result_previous, dtype=np.float64)
    return float(np.linalg.norm(result_step - dst_step, axis=1).mean())


def face_region(landmarks: np.ndarray, shape: tuple[int, int], margin: float = 0.2) -> tuple[slice, slice, np.ndarray]:
    """The face hull dilated by ``margin`` × the face width (jaw 0–16), computed in a window.

    The margin covers what a merge changes beyond the hull (mask blur, erosion, colour edges).

    Returns:
        ``(rows, cols, mask)``: the window of a ``(h, w)`` frame and its ``uint8`` mask (1 = face).
    """
    points = np.asarray(landmarks, dtype=np.float64)
    radius = int(round(margin * float(np.linalg.norm(points[16] - points[0]))))
    outline = np.vstack([points, expand_eyebrows(points)])
    height, width = shape
    x0, y0 = np.clip(np.floor(outline.min(axis=0)).astype(int) - radius - 2, 0, [width, height])
    x1, y1 = np.clip(np.ceil(outline.max(axis=0)).astype(int) + radius + 3, 0, [width, height])
    x1, y1 = max(x1, x0), max(y1, y0)
    mask: np.ndarray = (hull_mask(points - [x0, y0], (y1 - y0, x1 - x0)) > 0).astype(np.uint8)
    if radius > 0 and mask.size:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        mask = cv2.dilate(mask, kernel)
    return slice(y0, y1), slice(x0, x1), mask


def face_region_mask(landmarks: np.ndarray, shape: tuple[int, int], margin: float = 0.2) -> np.ndarray:
    """``(h, w)`` bool mask of :func:`face_region` (True = face)."""
    rows, cols, mask = face_region(landmarks, shape, margin)
    full = np.zeros(shape, dtype=bool)
    full[rows, cols] = mask > 0
    return full


def background_psnr(result: np.ndarray, dst: np.ndarray, dst_landmarks: np.ndarray, margin: float = 0.2) -> float:
    """PSNR (dB) of ``result`` vs ``dst`` (same-shape uint8 images) outside the destination's :func:`face_region`.

    ``math.inf`` when the background is untouched (or the face fills the frame).
    """
    rows, cols, mask = face_region(dst_landmarks, dst.shape[:2], margin)
    total = cv2.norm(result, dst, cv2.NORM_L2SQR)
    inside = cv2.norm(result[rows, cols], dst[rows, cols], cv2.NORM_L2SQR, mask=mask) if mask.size else 0.0
    count = (dst.shape[0] * dst.shape[1] - int(np.count_nonzero(mask))) * (dst.shape[2] if dst.ndim == 3 else 1)
    squared = total - inside  # sums of integer squares: exact in float64, so "identical" is exact
    if count <= 0 or squared <= 0.0:
        return math.inf
    return 10.0 * math.log10(255.0 * 255.0 * count / squared)


def laplacian_energy(image: np.ndarray, landmarks: np.ndarray, border: int = 3) -> float:
    """Fine detail inside a face: the mean squared Laplacian of the grey image over the face hull.

    Args:
        image: ``(H, W, 3)`` uint8 BGR (or ``(H, W)`` grey) frame.
        landmarks: ``(68, 2)`` face landmarks in frame pixels; the hull (brows raised to the
            forehead, no margin) is eroded by ``border`` pixels so the blend seam does not count.

    Returns:
        The energy in grey levels² (0 for a flat face or an empty region).
    """
    rows, cols, mask = face_region(landmarks, image.shape[:2], margin=0.0)
    if not mask.size:
        return 0.0
    if border > 0:
        mask = cv2.erode(mask, np.ones((2 * border + 1, 2 * border + 1), np.uint8))
    window = image[rows, cols]
    grey = cv2.cvtColor(window, cv2.COLOR_BGR2GRAY) if window.ndim == 3 else window
    laplacian = cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F, ksize=3)
    inside = mask > 0
    return float(np.mean(laplacian[inside] ** 2)) if inside.any() else 0.0


def sharpness_ratio(result: np.ndarray, dst: np.ndarray, dst_landmarks: np.ndarray) -> float | None:
    """:func:`laplacian_energy` of the result face ÷ that of the destination face, in the destination's
    face region: 1.0 = as sharp as the original footage, below = softer. None for a flat destination face."""
    reference = laplacian_energy(dst, dst_landmarks)
    return laplacian_energy(result, dst_landmarks) / reference if reference > 0 else None


def eye_region(landmarks: np.ndarray, shape: tuple[int, int], margin: float = 0.12) -> tuple[slice, slice, np.ndarray]:
    """Both eyes' outlines (36–41, 42–47) dilated by ``margin`` × the inter-ocular distance: lids and sockets.

    Returns:
        ``(rows, cols, mask)``: the window of a ``(h, w)`` frame and its ``uint8`` mask (1 = eye region).
    """
    points = np.asarray(landmarks, dtype=np.float64)
    radius = max(1, int(round(margin * inter_ocular(points))))
    eyes = points[EYE_POINTS]
    height, width = shape
    x0, y0 = np.clip(np.floor(eyes.min(axis=0)).astype(int) - radius - 1, 0, [width, height])
    x1, y1 = np.clip(np.ceil(eyes.max(axis=0)).astype(int) + radius + 2, 0, [width, height])
    x1, y1 = max(x1, x0), max(y1, y0)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for start in (36, 42):
        outline = np.round(points[start:start + 6] - [x0, y0]).astype(np.int32)
        cv2.fillConvexPoly(mask, cv2.convexHull(outline), 1)
    if mask.size:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)))
    return slice(y0, y1), slice(x0, x1), mask


def eye_region_ratios(result: np.ndarray, dst: np.ndarray,
                      dst_landmarks: np.ndarray) -> tuple[float | None, float | None]:
    """How the result's eyes compare with the destination's, in the destination's :func:`eye_region`.

    Returns:
        ``(sharpness, brightness)``: the result's mean squared Laplacian ÷ the destination's (1 = as
        sharp; blurred eyes fall below) and its mean grey level ÷ the destination's (1 = as bright;
        dark eyes fall below). None where the destination's value is 0 or the region is empty.
    """
    rows, cols, mask = eye_region(dst_landmarks, dst.shape[:2])
    inside = mask > 0
    if not inside.any():
        return None, None
    figures = []
    for image in (result, dst):
        window = image[rows, cols]
        grey = (cv2.cvtColor(window, cv2.COLOR_BGR2GRAY) if window.ndim == 3 else window).astype(np.float32)
        laplacian = cv2.Laplacian(grey, cv2.CV_32F, ksize=3)
        figures.append((float(np.mean(laplacian[inside] ** 2)), float(np.mean(grey[inside]))))
    (result_detail, result_level), (dst_detail, dst_level) = figures
    return (result_detail / dst_detail if dst_detail > 0 else None,
            result_level / dst_level if dst_level > 0 else None)


#: dlib's face-recognition model calls two faces the same person below this embedding distance.
SAME_PERSON_DISTANCE = 0.6


def identity_distance(embedding: np.ndarray, centroid: np.ndarray) -> float:
    """Euclidean distance between a 128-d embedding and an identity centroid (dlib: < 0.6 = same person,
    :data:`SAME_PERSON_DISTANCE`)."""
    return float(np.linalg.norm(np.asarray(embedding, np.float64) - np.asarray(centroid, np.float64)))
