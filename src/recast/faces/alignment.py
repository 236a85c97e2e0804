"""Face alignment: a 68-point mean face, Umeyama similarity fits, and aligned-crop matrices.

Coordinates are ``(x, y)`` pixels, float. Landmarks follow the iBUG-68 scheme (0–16 jaw,
17–26 brows, 27–35 nose, 36–47 eyes, 48–67 mouth), as predicted by dlib's 68-point model.

Example:
    >>> mat = transform_matrix(landmarks, 512, FaceType.WHOLE)   # frame → aligned, (2, 3)
    >>> face = cv2.warpAffine(frame, mat, (512, 512), flags=cv2.INTER_LANCZOS4)
    >>> aligned_landmarks = transform_points(landmarks, mat)
"""

from __future__ import annotations

import numpy as np

from recast.faces.facetype import FaceType

#: The mean 68-point face in the unit square (x right, y down). It is dlib's iBUG-300W mean
#: shape (the initial shape of its 68-point predictor) scaled and shifted so its brow ends, eye
#: corners, nose and mouth corners sit where DeepFaceLab's template puts them — so recast's face
#: types cover the same areas as DeepFaceLab's (anchors agree to 0.002 of the side).
MEAN_FACE_68 = np.array(
    [
        [-0.1171, 0.2247], [-0.113, 0.3853], [-0.0959, 0.5453], [-0.0625, 0.7023], [0.0001, 0.848],
        [0.0962, 0.9744], [0.2137, 1.0798], [0.3434, 1.1645], [0.4901, 1.1897], [0.6369, 1.1645],
        [0.7665, 1.0798], [0.8841, 0.9744], [0.9802, 0.848], [1.0428, 0.7023], [1.0761, 0.5454],
        [1.0933, 0.3853], [1.0974, 0.2247], [-0.0013, 0.1072], [0.0739, 0.0394], [0.1802, 0.0192],
        [0.2902, 0.0349], [0.3932, 0.0777], [0.5871, 0.0777], [0.6901, 0.0349], [0.8001, 0.0192],
        [0.9064, 0.0394], [0.9816, 0.1072], [0.4902, 0.2035], [0.4901, 0.307], [0.4901, 0.4096],
        [0.4901, 0.5151], [0.3669, 0.5865], [0.4261, 0.6083], [0.4901, 0.627], [0.5542, 0.6083],
        [0.6134, 0.5865], [0.1209, 0.2164], [0.1865, 0.1787], [0.2654, 0.1798], [0.3345, 0.2319],
        [0.2605, 0.2451], [0.182, 0.2441], [0.6459, 0.2319], [0.7149, 0.1798], [0.7938, 0.1787],
        [0.8594, 0.2164], [0.7983, 0.2441], [0.7198, 0.2451], [0.2541, 0.7785], [0.341, 0.7438],
        [0.4289, 0.7258], [0.4901, 0.741], [0.5514, 0.7258], [0.6393, 0.7438], [0.7262, 0.7785],
        [0.6421, 0.8634], [0.5567, 0.901], [0.4901, 0.9081], [0.4236, 0.901], [0.3382, 0.8634],
        [0.2903, 0.7831], [0.4281, 0.777], [0.4901, 0.7836], [0.5522, 0.777], [0.6899, 0.7831],
        [0.5534, 0.8231], [0.4901, 0.8308], [0.4269, 0.8231],
    ],
    dtype=np.float64,
)

#: Points used for the similarity fit: brows, nose, eyes and the two mouth corners. The jaw and
#: the inner lips move with expression and would make the crop's scale jitter.
ALIGN_POINTS = np.array([*range(17, 49), 54])


def umeyama(src: np.ndarray, dst: np.ndarray, estimate_scale: bool = True) -> np.ndarray:
    """Least-squares similarity transform mapping ``src`` onto ``dst`` (Umeyama, 1991).

    Args:
        src: ``(N, 2)`` points.
        dst: ``(N, 2)`` points.
        estimate_scale: fit a uniform scale too (else rotation + translation only).

    Returns:
        ``(3, 3)`` float64 homogeneous matrix ``T`` with ``dst ≈ T @ [src, 1]``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    n, dim = src.shape
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / n
    sign = np.ones(dim)
    if np.linalg.det(cov) < 0:
        sign[-1] = -1
    u, s, vt = np.linalg.svd(cov)
    rotation = u @ np.diag(sign) @ vt
    scale = 1.0
    if estimate_scale:
        var = src_c.var(axis=0).sum()
        scale = float((s * sign).sum() / var) if var > 0 else 1.0
    out = np.eye(dim + 1)
    out[:dim, :dim] = scale * rotation
    out[:dim, dim] = dst_mean - scale * rotation @ src_mean
    return out


def transform_points(points: np.ndarray, mat: np.ndarray, invert: bool = False) -> np.ndarray:
    """Apply a ``(2, 3)`` affine matrix (or its inverse) to ``(N, 2)`` points; returns float64."""
    points = np.asarray(points, dtype=np.float64)
    mat = np.asarray(mat, dtype=np.float64)[:2]
    if invert:
        mat = invert_affine(mat)
    return points @ mat[:, :2].T + mat[:, 2]


def invert_affine(mat: np.ndarray) -> np.ndarray:
    """Inverse of a ``(2, 3)`` affine matrix, as ``(2, 3)`` float64."""
    full = np.vstack([np.asarray(mat, dtype=np.float64)[:2], [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def averaged_yaw(unit_landmarks: np.ndarray) -> float:
    """Cheap yaw proxy from jaw-to-nose distances in unit-square space (0 = frontal)."""
    p = unit_landmarks
    left = np.mean([p[27, 0] - p[0, 0], p[28, 0] - p[1, 0], p[29, 0] - p[2, 0]])
    right = np.mean([p[16, 0] - p[27, 0], p[15, 0] - p[28, 0], p[14, 0] - p[29, 0]])
    return float(right - left)


def transform_matrix(landmarks: np.ndarray, size: int, face_type: FaceType, scale: float = 1.0) -> np.ndarray:
    """Matrix mapping image pixels to an aligned ``size × size`` crop of the given face type.

    Args:
        landmarks: ``(68, 2)`` iBUG-68 landmarks in image pixels.
        size: side of the aligned square in pixels.
        face_type: coverage of the crop (padding around the mean-face square).
        scale: zoom; ``> 1`` crops tighter.

    Returns:
        ``(2, 3)`` float64 affine matrix (image → aligned crop).
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    to_unit = umeyama(landmarks[ALIGN_POINTS], MEAN_FACE_68[ALIGN_POINTS])[:2]
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]], dtype=np.float64)
    tl, tr, br, bl, centre = transform_points(corners, to_unit, invert=True)
    side = float(np.linalg.norm(tl - bl))
    diag1 = (br - tl) / np.linalg.norm(br - tl)
    diag2 = (tr - bl) / np.linalg.norm(tr - bl)
    half_diag = np.linalg.norm(tl - br) * face_type.extent / scale
    up = (tl - bl) / side
    if face_type is FaceType.WHOLE:
        centre = centre + up * side * 0.07
    elif face_type is FaceType.HEAD:
        yaw = averaged_yaw(transform_points(landmarks, to_unit))
        yaw *= abs(np.tanh(yaw * 2.0))
        leftward = (tl - tr) / np.linalg.norm(tl - tr)
        centre = centre - leftward * yaw * side / 2.0 + up * side * 0.5
    src = np.array([centre - diag1 * half_diag, centre + diag2 * half_diag, centre + diag1 * half_diag])
    dst = np.array([[0, 0], [size, 0], [size, size]], dtype=np.float64)
    return _affine_from_3_points(src, dst)


def _affine_from_3_points(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    a = np.hstack([src, np.ones((3, 1))])
    return np.linalg.solve(a, dst).T


def rect_from_landmarks(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """Axis-aligned ``(left, top, right, bottom)`` box around a ``full`` crop of the face."""
    mat = transform_matrix(landmarks, 256, FaceType.FULL)
    corners = transform_points(np.array([[0, 0], [256, 0], [256, 256], [0, 256]]), mat, invert=True)
    (left, top), (right, bottom) = corners.min(axis=0), corners.max(axis=0)
    return float(left), float(top), float(right), float(bottom)
