"""Face detail at matched content, and its ceiling: what a perfect model of a given size gives.

The old figure (:func:`recast.eval.metrics.sharpness_ratio`) divides the result face's Laplacian
energy by the destination's: it counts edges, so an open mouth where the destination's is closed,
seams and noise all read as "sharper". :func:`detail_figure` measures each face against itself
instead: how much steeper its edges are at the finest scale than at a coarse scale,

    D = Σ ⟨g_fine − g_coarse, g_coarse⟩ / Σ |g_coarse|²

over the destination's face hull (eroded), where ``g_fine`` is the grey image's gradient (Sobel)
and ``g_coarse`` the gradient of the image blurred by :data:`COARSE_SIGMA` pixels. A blurred edge
has nearly the same slope at both scales (D → 0); a crisp one is much steeper at the fine scale.
Only the fine gradient *along* the coarse one counts, so zero-mean noise adds nothing on average
(and slightly raises the denominator); more edges at the same crispness (an open mouth, teeth)
leave the ratio where it was. :func:`detail_ratio` is the result's D ÷ the destination's D
(1 = as crisp as the original footage).

:func:`ceiling_frame` is the destination face cut to a model's crop (``resolution``, face type)
and pasted back through the merger's own warp (:func:`recast.merge.blend.crop_face` and
:func:`recast.merge.blend.merge_frame`, ``dst`` mask, no colour transfer) — what a perfect model
of that size gives — and :func:`ceiling_ratio` its detail ratio. Frames are ``(H, W, 3)`` uint8
BGR; landmarks ``(68, 2)`` iBUG-68 points in frame pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from recast.eval.metrics import face_region
from recast.faces.alignment import transform_matrix
from recast.faces.facetype import FaceType
from recast.merge.blend import Prediction, crop_face, merge_frame
from recast.merge.settings import MergeSettings

#: Gaussian sigma (pixels) of the fine gradient; the coarse one is twice as wide.
FINE_SIGMA = 0.5
#: Model sizes the report gives the ceiling at, so the user sees what resolution buys.
CEILING_SIZES = (64, 96, 128, 192, 256, 384, 512)
#: The merge a perfect model's face goes through: the dst landmark hull as mask, no colour change.
_PERFECT_MERGE = MergeSettings(mask_mode="dst", color="none")


def detail_energy(image: np.ndarray, landmarks: np.ndarray, border: int = 3) -> tuple[float, float]:
    """``(Σ⟨g_fine − g_coarse, g_coarse⟩, Σ|g_coarse|²)`` of the grey ``image`` over the face hull, less noise.

    What white noise of the image's own level (:func:`noise_sigma`) adds to each mean on average
    is subtracted, so noise does not read as detail.

    Args:
        image: ``(H, W, 3)`` uint8 BGR (or ``(H, W)`` grey) frame.
        landmarks: ``(68, 2)`` landmarks in frame pixels; the hull (brows raised to the forehead,
            no margin) is eroded by ``border`` pixels so the blend seam does not count.

    Returns:
        Both means over the hull in grey levels² per pixel; ``(0, 0)`` for an empty region.
    """
    rows, cols, mask = face_region(landmarks, image.shape[:2], margin=0.0)
    if border > 0 and mask.size:
        mask = cv2.erode(mask, np.ones((2 * border + 1, 2 * border + 1), np.uint8))
    inside = mask > 0
    if not inside.any():
        return 0.0, 0.0
    pad = int(np.ceil(8 * FINE_SIGMA)) + 2  # the blur and the gradients read beyond the hull
    height, width = image.shape[:2]
    y0, y1 = max(rows.start - pad, 0), min(rows.stop + pad, height)
    x0, x1 = max(cols.start - pad, 0), min(cols.stop + pad, width)
    window = image[y0:y1, x0:x1]
    grey = (cv2.cvtColor(window, cv2.COLOR_BGR2GRAY) if window.ndim == 3 else window).astype(np.float32)
    inner = (slice(rows.start - y0, rows.stop - y0), slice(cols.start - x0, cols.stop - x0))
    fine_x, fine_y = (g[inner][inside] for g in _gradient(grey, FINE_SIGMA))
    coarse_x, coarse_y = (g[inner][inside] for g in _gradient(grey, 2 * FINE_SIGMA))
    excess = float(np.mean((fine_x - coarse_x) * coarse_x + (fine_y - coarse_y) * coarse_y))
    coarse = float(np.mean(coarse_x**2 + coarse_y**2))
    noise = noise_sigma(grey[inner], inside) ** 2
    noise_excess, noise_coarse = _NOISE_GAINS
    return excess - noise * noise_excess, max(coarse - noise * noise_coarse, 0.0)


def noise_sigma(grey: np.ndarray, inside: np.ndarray) -> float:
    """Standard deviation (grey levels) of white noise in ``grey`` ``(h, w)`` float32 over ``inside`` (bool).

    The median absolute diagonal Haar detail ÷ 0.6745 (Donoho's estimator): robust to edges,
    which are sparse in a face.
    """
    height, width = (grey.shape[0] // 2) * 2, (grey.shape[1] // 2) * 2
    blocks = grey[:height, :width]
    diagonal = (blocks[0::2, 0::2] - blocks[0::2, 1::2] - blocks[1::2, 0::2] + blocks[1::2, 1::2]) / 2.0
    chosen = inside[:height:2, :width:2]
    return float(np.median(np.abs(diagonal[chosen]))) / 0.6745 if chosen.any() else 0.0


def _gradient(grey: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """``(d/dx, d/dy)`` of ``grey`` blurred by a Gaussian of ``sigma`` px (central differences)."""
    blurred = cv2.GaussianBlur(grey, (0, 0), sigma)
    return (cv2.Sobel(blurred, cv2.CV_32F, 1, 0, ksize=1) / 2.0,
            cv2.Sobel(blurred, cv2.CV_32F, 0, 1, ksize=1) / 2.0)


def _noise_gains() -> tuple[float, float]:
    """What unit white noise adds to the two means of :func:`detail_energy` (from the filters' impulse responses)."""
    impulse = np.zeros((65, 65), np.float32)
    impulse[32, 32] = 1.0
    fine_x, fine_y = _gradient(impulse, FINE_SIGMA)
    coarse_x, coarse_y = _gradient(impulse, 2 * FINE_SIGMA)
    coarse = float(np.sum(coarse_x**2 + coarse_y**2))
    return float(np.sum(fine_x * coarse_x + fine_y * coarse_y)) - coarse, coarse


_NOISE_GAINS = _noise_gains()


def detail_figure(image: np.ndarray, landmarks: np.ndarray) -> float | None:
    """``D`` of the face (see the module docstring): 0 = no edge crisper than the coarse scale.

    None for a flat face (no coarse gradient) or an empty region.
    """
    excess, coarse = detail_energy(image, landmarks)
    return excess / coarse if coarse > 0 else None


def detail_ratio(result: np.ndarray, dst: np.ndarray, dst_landmarks: np.ndarray) -> float | None:
    """:func:`detail_figure` of the result face ÷ the destination's, both in the destination's face hull.

    1.0 = edges as crisp as the original footage's, below = softer. None when the destination
    face has no detail figure (flat) or a non-positive one.
    """
    reference = detail_figure(dst, dst_landmarks)
    if reference is None or reference <= 0:
        return None
    value = detail_figure(result, dst_landmarks)
    return 0.0 if value is None else value / reference  # a flat result face has no detail


def ceiling_frame(dst: np.ndarray, dst_landmarks: np.ndarray, resolution: int, face_type: FaceType) -> np.ndarray:
    """The ``dst`` frame with its face replaced by a perfect model's output at ``resolution`` px.

    The face is cut to the model's crop and pasted back by the merger's own functions; returns
    ``dst`` unchanged (a copy) when the merger pastes nothing (face outside the frame).
    """
    crop = crop_face(dst, dst_landmarks, resolution, face_type)
    out, _, _ = merge_frame(dst, [(crop, Prediction(crop.image), None)], _PERFECT_MERGE)
    return out


def ceiling_ratio(dst: np.ndarray, dst_landmarks: np.ndarray, resolution: int, face_type: FaceType) -> float | None:
    """:func:`detail_ratio` of :func:`ceiling_frame`: the best a ``resolution`` px model can score here."""
    return detail_ratio(ceiling_frame(dst, dst_landmarks, resolution, face_type), dst, dst_landmarks)


def own_resolution(dst_landmarks: np.ndarray, face_type: FaceType) -> int:
    """The crop size at which ``face_type``'s crop of this face keeps the frame's own pixel size."""
    mat = transform_matrix(dst_landmarks, 256, face_type)
    return max(8, int(round(256 / np.sqrt(abs(np.linalg.det(mat[:, :2]))))))
