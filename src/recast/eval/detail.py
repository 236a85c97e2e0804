"""Face detail at matched content, and its ceiling: what a perfect model of a given size gives.

The old figure (:func:`recast.eval.metrics.sharpness_ratio`) divides the result face's Laplacian
energy by the destination's: it counts edges, so an open mouth where the destination's is closed,
seams and noise all read as "sharper". :func:`detail_ratio` compares the two faces region by
region instead. The destination's face hull (eroded) is cut into square tiles (:data:`TILES`
across the face); in each tile

* the *fine* energy is the mean product of two adjacent fine bands, ``(g − G₀.₇ g)·(G₀.₇ g − G₁.₄ g)``
  (``g`` the grey image, ``Gₛ`` a Gaussian blur of ``s`` px): wavelengths of about 2–8 px, the
  scale a model's resolution takes away first. A real edge or texture has the same sign in both
  bands; white noise is only weakly correlated between them, so it adds little, and what it adds
  on average is subtracted (each face's own :func:`noise_sigma`);
* the *content* energy is the mean square of a coarse band ``G₂ g − G₄ g`` (features: eyes, lips,
  nose, a mouth's outline), which a model's resolution leaves intact.

The tile's ratio is the result's fine energy ÷ the destination's, with the result's fine energy
first scaled by ``content_dst ÷ max(content_result, content_dst)``: new content (an open mouth,
teeth) brings its own fine energy and is discounted by it, while a face that lost contrast is not
credited for it. The figure is the median tile ratio, each tile weighted by the destination's fine
energy (flat cheeks with no detail to lose count little), so a few changed tiles move it little.
1 = as much detail as the original footage, below = softer. For the same content (the destination
resampled) it is a fine-band energy ratio, so it falls with the model's resolution, less steeply
than the Laplacian energy (one of its two bands is coarser). Measured on person_J / person_B
frames (``../shared/data``), the 64 / 128 / 256 px ceilings read about 0.58 / 0.87 / 0.99 and
0.17 / 0.55 / 0.90: the soft generated J face has little detail for a model's size to lose.
Known limits: white noise of σ = 10 on J (whose fine detail is ≈ 1 grey level², 1 % of the
noise's) reads up to 0.1 higher (σ ≤ 4 does not); the eyes and lips carry most of the weight, so a
synthetic open mouth much crisper than the destination's lips can raise a frame (by up to 0.2 on
two of five person_B frames at 128 px; ≤ 0.02 on person_J and the astronaut).

A face the merge only partly pasted (an untrained model's learned masks are ≈ 0.5 each) still
shows the destination's own detail through the blend; ``alpha``, the merge's mask, scales each
tile by the share of the model's face in it, so only detail the model put there counts.

:func:`ceiling_frame` is the destination face cut to a model's crop (``resolution``, face type)
and pasted back through the merger's own warp (:func:`recast.merge.blend.crop_face` and
:func:`recast.merge.blend.merge_frame`, ``dst`` mask, no colour transfer) — what a perfect model
of that size gives — and :func:`ceiling_ratio` its detail ratio. Frames are ``(H, W, 3)`` uint8
BGR; landmarks ``(68, 2)`` iBUG-68 points in frame pixels; masks ``(H, W)`` float32 in 0…1.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from recast.eval.metrics import face_region
from recast.faces.alignment import transform_matrix
from recast.faces.facetype import FaceType
from recast.merge.blend import Prediction, crop_face, merge_frame
from recast.merge.settings import MergeSettings

#: Gaussian sigmas (px) bounding the two fine bands: ``(0, 0.7)`` and ``(0.7, 1.4)``.
FINE_SIGMAS = (0.0, 0.7, 1.4)
#: Gaussian sigmas (px) bounding the content band.
CONTENT_SIGMAS = (2.0, 4.0)
#: Tiles across the face width (jaw corner to jaw corner).
TILES = 5
#: Model sizes the report gives the ceiling at, so the user sees what resolution buys.
CEILING_SIZES = (64, 96, 128, 192, 256, 384, 512)
#: The merge a perfect model's face goes through: the dst landmark hull as mask, no colour change.
_PERFECT_MERGE = MergeSettings(mask_mode="dst", color="none")
#: A tile counts when this share of it lies inside the face hull.
_TILE_COVER = 0.3
#: Pixels beyond the hull the bands read (the widest blur's reach).
_PAD = int(np.ceil(3 * CONTENT_SIGMAS[1])) + 2


@dataclass(frozen=True)
class DetailReference:
    """The destination side of :func:`detail_ratio`, computed once per frame.

    Attributes:
        rows, cols: the face window of the frame; ``inside`` ``(h, w)`` bool, the eroded hull in it.
        tiles: ``(y, x)`` corners (window pixels) of the counted tiles; ``side`` their size.
        fine, content: ``(n,)`` float64 per-tile energies of the destination, less its noise's.
    """

    rows: slice
    cols: slice
    inside: np.ndarray
    tiles: tuple[tuple[int, int], ...]
    side: int
    fine: np.ndarray
    content: np.ndarray


def detail_reference(dst: np.ndarray, landmarks: np.ndarray, border: int = 3) -> DetailReference | None:
    """The destination's per-tile energies; None for an empty face region or one without fine detail.

    Args:
        dst: ``(H, W, 3)`` uint8 BGR (or ``(H, W)`` grey) frame.
        landmarks: ``(68, 2)`` landmarks in frame pixels; the hull (brows raised to the forehead,
            no margin) is eroded by ``border`` pixels so the blend seam does not count.
    """
    rows, cols, mask = face_region(landmarks, dst.shape[:2], margin=0.0)
    if border > 0 and mask.size:
        mask = cv2.erode(mask, np.ones((2 * border + 1, 2 * border + 1), np.uint8))
    inside = mask > 0
    if not inside.any():
        return None
    side = max(int(float(np.linalg.norm(landmarks[16] - landmarks[0])) / TILES), 8)
    tiles = tuple((y, x) for y in range(0, inside.shape[0], side) for x in range(0, inside.shape[1], side)
                  if inside[y:y + side, x:x + side].sum() >= _TILE_COVER * side * side)
    if not tiles:
        return None
    grey = _grey_window(dst, rows, cols)
    fine, content = _less_noise(*_tile_energies(grey, inside, tiles, side), noise_sigma(_unpadded(grey), inside))
    if not (fine > 0).any():
        return None
    return DetailReference(rows, cols, inside, tiles, side, fine, content)


def detail_ratio(result: np.ndarray, dst: np.ndarray, dst_landmarks: np.ndarray, alpha: np.ndarray | None = None,
                 reference: DetailReference | None = None) -> float | None:
    """The result face's detail ÷ the destination's, in the destination's face hull (module docstring).

    Args:
        result / dst: ``(H, W, 3)`` uint8 BGR frames of the same size.
        alpha: the merge's mask ``(H, W)`` float32 in 0…1 (the model's share of each pixel);
            None = the model's face covers the whole hull.
        reference: :func:`detail_reference` of ``dst`` when already computed (it is then not read).

    Returns:
        1.0 = as much fine detail as the original footage, below = softer; 0.0 for a flat result
        face; None when the destination face has no fine detail (flat) or no region.
    """
    ref = reference if reference is not None else detail_reference(dst, dst_landmarks)
    if ref is None:
        return None
    grey = _grey_window(result, ref.rows, ref.cols)
    fine, content = _tile_energies(grey, ref.inside, ref.tiles, ref.side)
    fine, content = _less_noise(fine, content, noise_sigma(_unpadded(grey), ref.inside))
    counted = ref.fine > 0
    scale = ref.content / np.maximum(np.maximum(content, ref.content), 1e-12)
    ratios = fine[counted] * scale[counted] / ref.fine[counted]
    if alpha is not None:
        window = alpha[ref.rows, ref.cols]
        share = np.array([window[y:y + ref.side, x:x + ref.side][ref.inside[y:y + ref.side, x:x + ref.side]].mean()
                          for y, x in ref.tiles])
        ratios = ratios * np.clip(share[counted], 0.0, 1.0)
    return _weighted_median(ratios, ref.fine[counted])


def _less_noise(fine: np.ndarray, content: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-tile energies less what white noise of ``sigma`` grey levels adds on average (clipped at 0)."""
    noise_fine, noise_content = _NOISE_GAINS
    return np.maximum(fine - sigma**2 * noise_fine, 0.0), np.maximum(content - sigma**2 * noise_content, 0.0)


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


def _grey_window(image: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
    """The face window of ``image`` as float32 grey, ``_PAD`` px wider each side (edge-replicated at the frame edge)."""
    height, width = image.shape[:2]
    y0, y1 = max(rows.start - _PAD, 0), min(rows.stop + _PAD, height)
    x0, x1 = max(cols.start - _PAD, 0), min(cols.stop + _PAD, width)
    window = image[y0:y1, x0:x1]
    grey = (cv2.cvtColor(window, cv2.COLOR_BGR2GRAY) if window.ndim == 3 else window).astype(np.float32)
    padded = cv2.copyMakeBorder(grey, _PAD - (rows.start - y0), _PAD - (y1 - rows.stop),
                                _PAD - (cols.start - x0), _PAD - (x1 - cols.stop), cv2.BORDER_REPLICATE)
    return padded


def _unpadded(image: np.ndarray) -> np.ndarray:
    """The face window of a :func:`_grey_window` (or of an image computed from one)."""
    return image[_PAD:-_PAD, _PAD:-_PAD]


def _bands(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel fine (product of the two fine bands) and content (squared coarse band) energies of ``grey``."""
    levels = {sigma: grey if sigma == 0 else cv2.GaussianBlur(grey, (0, 0), sigma)
              for sigma in (*FINE_SIGMAS, *CONTENT_SIGMAS)}
    finest, fine, coarse = FINE_SIGMAS
    low, high = CONTENT_SIGMAS
    return (levels[finest] - levels[fine]) * (levels[fine] - levels[coarse]), (levels[low] - levels[high]) ** 2


def _tile_energies(grey: np.ndarray, inside: np.ndarray, tiles: tuple[tuple[int, int], ...],
                   side: int) -> tuple[np.ndarray, np.ndarray]:
    """``(fine, content)`` ``(n,)`` float64 mean energies over the hull part of each tile of the padded ``grey``."""
    fine, content = (_unpadded(band) for band in _bands(grey))
    means = np.zeros((2, len(tiles)))
    for index, (y, x) in enumerate(tiles):
        part = inside[y:y + side, x:x + side]
        means[0, index] = fine[y:y + side, x:x + side][part].mean()
        means[1, index] = content[y:y + side, x:x + side][part].mean()
    return means[0], means[1]


def _noise_gains() -> tuple[float, float]:
    """What unit white noise adds on average to the fine and content energies (from the filters' impulse responses)."""
    impulse = np.zeros((65, 65), np.float32)
    impulse[32, 32] = 1.0
    fine, content = _bands(impulse)
    return float(fine.sum()), float(content.sum())


_NOISE_GAINS = _noise_gains()


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value below which half of the total weight lies (``values``, ``weights`` ``(n,)``, n ≥ 1)."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2.0)])


def ceiling_frame(dst: np.ndarray, dst_landmarks: np.ndarray, resolution: int, face_type: FaceType) -> np.ndarray:
    """The ``dst`` frame with its face replaced by a perfect model's output at ``resolution`` px.

    The face is cut to the model's crop and pasted back by the merger's own functions; returns
    ``dst`` unchanged (a copy) when the merger pastes nothing (face outside the frame).
    """
    crop = crop_face(dst, dst_landmarks, resolution, face_type)
    out, _, _ = merge_frame(dst, [(crop, Prediction(crop.image), None)], _PERFECT_MERGE)
    return out


def ceiling_ratio(dst: np.ndarray, dst_landmarks: np.ndarray, resolution: int, face_type: FaceType,
                  reference: DetailReference | None = None) -> float | None:
    """:func:`detail_ratio` of :func:`ceiling_frame`: the best a ``resolution`` px model can score here."""
    return detail_ratio(ceiling_frame(dst, dst_landmarks, resolution, face_type), dst, dst_landmarks,
                        reference=reference)


def own_resolution(dst_landmarks: np.ndarray, face_type: FaceType) -> int:
    """The crop size at which ``face_type``'s crop of this face keeps the frame's own pixel size."""
    mat = transform_matrix(dst_landmarks, 256, face_type)
    return max(8, int(round(256 / np.sqrt(abs(np.linalg.det(mat[:, :2]))))))
