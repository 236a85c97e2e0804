"""Per-face measurements used to sort and curate facesets: pure functions of pixels and metadata.

Every image argument is an aligned face, ``(S, S, 3) uint8 BGR``; landmarks are the ``(68, 2)``
aligned-pixel landmarks from :class:`recast.faces.metadata.FaceMeta`. Nothing here reads files.

Histogram features are returned as the element-wise square root of a normalised histogram, so
the Bhattacharyya coefficient of two faces is a dot product and the Bhattacharyya distance
(OpenCV's ``HISTCMP_BHATTACHARYYA``) is ``sqrt(1 - a @ b)`` — this lets whole facesets be compared
with matrix products (see :func:`bhattacharyya_matrix`).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from recast.faces.masks import hull_mask
from recast.faces.metadata import FaceMeta
from recast.faces.pose import estimate_pose

_SHARPNESS_SIZE = 256
_BLOCK = 64
_BETA = 3.6


def face_mask(meta: FaceMeta, size: int, stored: int | None = None) -> np.ndarray:
    """``(size, size)`` bool hull mask of the face for an image of side ``size``.

    ``stored`` is the side the landmarks refer to (the stored aligned image) when the image was
    decoded smaller; default ``size``.
    """
    points = np.asarray(meta.landmarks, dtype=np.float64)
    if stored and stored != size:
        points = points * (size / stored)
    return hull_mask(points, (size, size), meta.eyebrows_expand) > 0.5


def sharpness(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """CPBD sharpness (cumulative probability of blur detection, Narvekar & Karam 2011) in [0, 1].

    The grey image is scaled to 256 px so faces of any size compare. Edge pixels (Canny) with a
    mostly horizontal gradient inside ``mask`` get a Marziliano edge width (distance between the
    intensity extrema on either side along the row); each 64×64 block with enough edges gives a
    just-noticeable width (5 px for contrast ≤ 50, else 3 px), and the score is the share of edge
    pixels whose blur probability ``1 - exp(-(w / w_jnb) ** 3.6)`` is at most 63 %.
    Higher is sharper; 0 means no usable edge.
    """
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    if gray.shape[0] != _SHARPNESS_SIZE:
        gray = cv2.resize(gray, (_SHARPNESS_SIZE, _SHARPNESS_SIZE), interpolation=cv2.INTER_AREA)
        if mask is not None:
            mask = cv2.resize(mask.astype(np.uint8), gray.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
    g = gray.astype(np.float32)
    edges = cv2.Canny(cv2.GaussianBlur(gray, (0, 0), 1.0), 25, 50) > 0
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    edges &= np.abs(gx) >= np.abs(gy)
    if mask is not None:
        edges &= cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    rows, cols = np.nonzero(edges)
    if rows.size == 0:
        return 0.0
    widths = _edge_widths(g, rows, cols, gx[rows, cols] > 0)
    h, w = g.shape
    blocks_y, blocks_x = rows // _BLOCK, cols // _BLOCK
    n_bx = (w + _BLOCK - 1) // _BLOCK
    block_id = blocks_y * n_bx + blocks_x
    counts = np.bincount(block_id, minlength=n_bx * ((h + _BLOCK - 1) // _BLOCK))
    pad = np.pad(g, ((0, (-h) % _BLOCK), (0, (-w) % _BLOCK)), mode="edge")
    tiles = pad.reshape(pad.shape[0] // _BLOCK, _BLOCK, pad.shape[1] // _BLOCK, _BLOCK)
    contrast = (tiles.max(axis=(1, 3)) - tiles.min(axis=(1, 3))).ravel()
    usable = counts[block_id] > 0.002 * _BLOCK * _BLOCK
    if not usable.any():
        return 0.0
    jnb = np.where(contrast[block_id[usable]] <= 50, 5.0, 3.0)
    blur_probability = 1.0 - np.exp(-((widths[usable] / jnb) ** _BETA))
    return float(np.mean(blur_probability <= 0.63))


def _edge_widths(g: np.ndarray, rows: np.ndarray, cols: np.ndarray, rising: np.ndarray) -> np.ndarray:
    """Marziliano widths: for each edge pixel, the run of monotone intensity through it along its row.

    For a rising edge the run ends where the next step is not up (``d <= 0``) on either side. Stops
    are marked on a grid one column wider than the image (column 0 and column ``W`` always stop), so
    one sorted index of stop positions answers both "next stop to the right" and "last stop to the left".
    """
    h, w = g.shape
    d = np.diff(g, axis=1)
    flat = rows * (w + 1) + cols
    widths = np.empty(rows.size, dtype=np.float32)
    stops = np.ones((h, w + 1), dtype=bool)
    for up, select in ((True, rising), (False, ~rising)):
        if not select.any():
            continue
        (np.less_equal if up else np.greater_equal)(d, 0, out=stops[:, 1:w])
        idx = np.flatnonzero(stops)
        f = flat[select]
        right = idx[np.searchsorted(idx, f + 1)] - 1
        left = idx[np.searchsorted(idx, f, side="right") - 1]
        widths[select] = np.maximum(right - left, 1)
    return widths


def laplacian_variance(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Variance of the Laplacian (kernel 11) of the grey face inside ``mask``: high = little motion blur."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    lap = cv2.Laplacian(gray, cv2.CV_64F, ksize=11)
    if mask is not None:
        inner = cv2.erode(mask.astype(np.uint8), np.ones((13, 13), np.uint8)) > 0
        if inner.any():
            return float(lap[inner].var())
    return float(lap.var())


def color_histogram(image: np.ndarray) -> np.ndarray:
    """``(768,)`` float32: sqrt of the normalised 256-bin B, G and R histograms of the whole image."""
    parts = []
    for channel in range(3):
        hist = cv2.calcHist([image], [channel], None, [256], [0, 256]).ravel()
        parts.append(np.sqrt(hist / max(hist.sum(), 1.0)))
    return np.concatenate(parts).astype(np.float32)


def gray_histogram(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """``(256,)`` float32: sqrt of the normalised grey histogram inside ``mask`` (whole image if None)."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    m = None if mask is None else mask.astype(np.uint8)
    hist = cv2.calcHist([gray], [0], m, [256], [0, 256]).ravel()
    return np.sqrt(hist / max(hist.sum(), 1.0)).astype(np.float32)


def bhattacharyya_matrix(a: np.ndarray, b: np.ndarray, channels: int = 1) -> np.ndarray:
    """Pairwise summed Bhattacharyya distances between sqrt-histogram rows of ``a`` and ``b``.

    Args:
        a: ``(N, channels * bins)`` float32 from :func:`color_histogram` / :func:`gray_histogram`.
        b: ``(M, channels * bins)`` float32.
        channels: number of histograms concatenated per row; their distances are added.

    Returns:
        ``(N, M)`` float32.
    """
    bins = a.shape[1] // channels
    out = np.zeros((a.shape[0], b.shape[0]), dtype=np.float32)
    for c in range(channels):
        coeff = a[:, c * bins : (c + 1) * bins] @ b[:, c * bins : (c + 1) * bins].T
        np.subtract(1.0, coeff, out=coeff)
        np.maximum(coeff, 0.0, out=coeff)
        np.sqrt(coeff, out=coeff)
        out += coeff
    return out


def hsv_means(image: np.ndarray) -> tuple[float, float]:
    """Mean hue (OpenCV 0–179) and mean value (0–255) of the image in HSV."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    return float(hsv[..., 0].mean()), float(hsv[..., 2].mean())


def black_count(image: np.ndarray) -> int:
    """Number of zero-valued channel entries (black borders left by cropping past the frame edge)."""
    return int(image.size - np.count_nonzero(image))


def aligned_pose(meta: FaceMeta, size: int) -> tuple[float, float]:
    """``(pitch, yaw)`` in radians from solvePnP on the aligned landmarks of a ``size`` px face
    (DeepFaceLab's definition; independent of the frame's camera)."""
    pitch, yaw, _roll = estimate_pose(meta.landmarks, (size, size))
    return pitch, yaw


def roll(meta: FaceMeta) -> float:
    """In-plane rotation of the face in its source frame (radians): the rotation alignment removed."""
    mat = np.asarray(meta.image_to_face_mat, dtype=np.float64)
    return -math.atan2(mat[1, 0], mat[0, 0])


def rect_area(meta: FaceMeta) -> float:
    """Area of the detector box in source-frame pixels (0 for a degenerate box)."""
    left, top, right, bottom = meta.source_rect
    return max(right - left, 0.0) * max(bottom - top, 0.0)


def small_gray(image: np.ndarray, size: int = 32) -> np.ndarray:
    """``(size * size,)`` float32 grey thumbnail in [0, 1] (for near-duplicate and absdiff tests)."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return (cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0).ravel()


def difference_hash(image: np.ndarray) -> np.ndarray:
    """``(64,)`` bool dHash: signs of horizontal differences of a 9×8 grey thumbnail."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    thumb = cv2.resize(gray, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    return (thumb[:, 1:] > thumb[:, :-1]).ravel()
