"""Head pose (pitch, yaw, roll) from 68 landmarks, by fitting a generic 3-D face with solvePnP.

Conventions (radians, camera looking at the face):
    * yaw > 0: the face turns toward the image's left (the person's right);
    * pitch > 0: the face tilts up;
    * roll > 0: the face rotates clockwise in the image.
"""

from __future__ import annotations

import cv2
import numpy as np

from recast.faces.alignment import MEAN_FACE_68

_MM_PER_UNIT = 122.0  # outer eye corners ~90 mm apart

# Depth of each landmark in mm, negative = toward the camera (OpenCV camera: z points away).
_JAW_Z = [-5.0 + 80.0 * ((i - 8) / 8.0) ** 2 for i in range(17)]
_BROW_Z = [-12.0 + 17.0 * ((j - 4.5) / 4.5) ** 2 for j in range(10)]
_NOSE_Z = [-12.0, -18.0, -24.0, -32.0, -14.0, -20.0, -24.0, -20.0, -14.0]
_EYE_Z = [5.0, -1.0, -1.0, -3.0, -1.0, -1.0] + [-3.0, -1.0, -1.0, 5.0, -1.0, -1.0]
_MOUTH_Z = [2.0, -8.0, -12.0, -13.0, -12.0, -8.0, 2.0, -6.0, -10.0, -11.0, -10.0, -6.0,
            0.0, -8.0, -9.0, -8.0, 0.0, -7.0, -8.0, -7.0]

#: Generic 3-D face, ``(68, 3)`` mm: x right, y down, z away from the camera; origin at the
#: nose bridge. Built from the 2-D mean face plus a smooth depth profile.
FACE_MODEL_3D = np.column_stack(
    [
        (MEAN_FACE_68[:, 0] - MEAN_FACE_68[27, 0]) * _MM_PER_UNIT,
        (MEAN_FACE_68[:, 1] - MEAN_FACE_68[27, 1]) * _MM_PER_UNIT,
        np.array(_JAW_Z + _BROW_Z + _NOSE_Z + _EYE_Z + _MOUTH_Z),
    ]
)

#: Jaw, brows, nose and eye corners: rigid enough to carry the head pose.
POSE_POINTS = np.array([*range(0, 27), *range(27, 36), 36, 39, 42, 45])


def rotation_matrix(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """``(3, 3)`` rotation of the 3-D face for the given angles (the inverse of :func:`estimate_pose`)."""
    cx, sx = np.cos(-pitch), np.sin(-pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    cz, sz = np.cos(roll), np.sin(roll)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def camera_matrix(image_size: tuple[int, int]) -> np.ndarray:
    """Pinhole camera for an image of ``(width, height)``: focal = the longer side, centred."""
    width, height = image_size
    focal = float(max(width, height))
    return np.array([[focal, 0, width / 2.0], [0, focal, height / 2.0], [0, 0, 1]], dtype=np.float64)


def estimate_pose(landmarks: np.ndarray, image_size: tuple[int, int]) -> tuple[float, float, float]:
    """Estimate ``(pitch, yaw, roll)`` in radians, each clipped to ±π/2.

    Args:
        landmarks: ``(68, 2)`` iBUG-68 points in pixels of an image of ``image_size``.
        image_size: ``(width, height)`` of that image.
    """
    image_points = np.asarray(landmarks, dtype=np.float64)[POSE_POINTS]
    model_points = FACE_MODEL_3D[POSE_POINTS]
    # SQPnP finds the global optimum; the iterative solver sometimes settles in a wrong minimum
    # (roll near 90°) on real faces.
    ok, rvec, _tvec = cv2.solvePnP(
        model_points, image_points, camera_matrix(image_size), np.zeros(4), flags=cv2.SOLVEPNP_SQPNP
    )
    if not ok:
        return 0.0, 0.0, 0.0
    rot, _ = cv2.Rodrigues(rvec)
    return _euler_from_rotation(rot)


def _euler_from_rotation(rot: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`rotation_matrix` (``R = Rz @ Ry @ Rx``)."""
    yaw = float(np.arcsin(np.clip(-rot[2, 0], -1.0, 1.0)))
    if abs(np.cos(yaw)) > 1e-6:
        pitch = -float(np.arctan2(rot[2, 1], rot[2, 2]))
        roll = float(np.arctan2(rot[1, 0], rot[0, 0]))
    else:
        pitch = -float(np.arctan2(-rot[1, 2], rot[1, 1]))
        roll = 0.0
    limit = np.pi / 2
    return (float(np.clip(pitch, -limit, limit)), float(np.clip(yaw, -limit, limit)),
            float(np.clip(roll, -limit, limit)))


def project_face_model(
    pitch: float, yaw: float, roll: float, image_size: tuple[int, int] = (512, 512), distance: float = 600.0
) -> np.ndarray:
    """Project the generic 3-D face turned by the given angles: ``(68, 2)`` pixel landmarks.

    Useful to build landmarks with a known pose (tests, synthetic data).
    """
    rotated = FACE_MODEL_3D @ rotation_matrix(pitch, yaw, roll).T
    rotated[:, 2] += distance
    projected = rotated @ camera_matrix(image_size).T
    return projected[:, :2] / projected[:, 2:3]
