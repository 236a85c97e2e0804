"""Colour transfer: recolour one image so its colour distribution matches another's.

Every function takes ``src`` (the image to recolour, e.g. the predicted face) and ``ref`` (the
image whose colours to take, e.g. the destination crop), both ``(H, W, 3)`` float32 BGR in
[0, 1] (the two may differ in size), and optional masks ``(H, W)`` or ``(H, W, 1)`` float32 in
[0, 1] that select the pixels the statistics are taken from (a pixel counts when its mask value
is ≥ 0.5). The mapping fitted on those pixels is applied to *every* pixel of ``src``, and the
result is ``src``'s shape, float32 BGR, clipped to [0, 1].

Unlike DeepFaceLab, masked statistics really ignore the pixels outside the mask (DeepFaceLab
zeroes them and keeps the zeros in the means and covariances, which pulls the colours toward
black when the mask is small).

:data:`COLOR_TRANSFERS` maps the merger's names (``rct``, ``lct``, ``mkl``, ``mkl-m``, ``idt``,
``idt-m``, ``sot-m``, ``mix-m``) to functions ``(src, ref, mask) -> out``; the ``-m`` variants
(and ``rct``) fit on the masked pixels, the others on the whole images.

Example:
    >>> out = COLOR_TRANSFERS["rct"](predicted_face, destination_crop, face_mask)
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from recast.errors import OptionError

ColorTransfer = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], np.ndarray]

_EPS = 1e-5


def rct(
    src: np.ndarray,
    ref: np.ndarray,
    src_mask: np.ndarray | None = None,
    ref_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Reinhard colour transfer: match the per-channel mean and std in CIE L*a*b*.

    Each LAB channel of ``src`` becomes ``(x − μ_src) · σ_ref / σ_src + μ_ref``, with the
    statistics taken over the masked pixels. Returns float32 BGR ``src.shape`` in [0, 1].
    """
    src, ref = _image(src, "src"), _image(ref, "ref")
    src_lab = cv2.cvtColor(src, cv2.COLOR_BGR2LAB)
    ref_lab = cv2.cvtColor(ref, cv2.COLOR_BGR2LAB)
    s_pix = _pixels(src_lab, src_mask)
    r_pix = _pixels(ref_lab, ref_mask)
    s_mean, s_std = s_pix.mean(axis=0), s_pix.std(axis=0)
    r_mean, r_std = r_pix.mean(axis=0), r_pix.std(axis=0)
    gain = r_std / np.maximum(s_std, 1e-3)
    out = (src_lab - s_mean) * gain + r_mean
    out = _clip_lab(out.astype(np.float32))
    return np.clip(cv2.cvtColor(out, cv2.COLOR_LAB2BGR), 0.0, 1.0)


def lct(
    src: np.ndarray,
    ref: np.ndarray,
    src_mask: np.ndarray | None = None,
    ref_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Linear colour transfer: match the BGR mean and 3×3 covariance (PCA square roots).

    ``out = C_ref^½ · C_src^-½ · (x − μ_src) + μ_ref`` with symmetric matrix square roots, so the
    covariance of the (unclipped) result equals ``C_ref``. Returns float32 BGR in [0, 1].
    """
    src, ref = _image(src, "src"), _image(ref, "ref")
    s_pix, r_pix = _pixels(src, src_mask), _pixels(ref, ref_mask)
    s_mean, r_mean = s_pix.mean(axis=0), r_pix.mean(axis=0)
    transform = _sqrtm(_cov(r_pix)) @ _sqrtm(_cov(s_pix), inverse=True)
    return _apply_linear(src, transform, s_mean, r_mean)


def mkl(
    src: np.ndarray,
    ref: np.ndarray,
    src_mask: np.ndarray | None = None,
    ref_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Monge–Kantorovich linear colour transfer (Pitié & Kokaram 2007).

    The optimal-transport linear map between two Gaussians:
    ``T = A^-½ (A^½ B A^½)^½ A^-½`` with ``A = C_src``, ``B = C_ref``; ``out = T (x − μ_src) + μ_ref``.
    ``T A T = B``, so the result has the reference's covariance while moving colours as little as
    possible. Returns float32 BGR in [0, 1].
    """
    src, ref = _image(src, "src"), _image(ref, "ref")
    s_pix, r_pix = _pixels(src, src_mask), _pixels(ref, ref_mask)
    a, b = _cov(s_pix), _cov(r_pix)
    a_half, a_inv_half = _sqrtm(a), _sqrtm(a, inverse=True)
    transform = a_inv_half @ _sqrtm(a_half @ b @ a_half) @ a_inv_half
    return _apply_linear(src, transform, s_pix.mean(axis=0), r_pix.mean(axis=0))


def idt(
    src: np.ndarray,
    ref: np.ndarray,
    src_mask: np.ndarray | None = None,
    ref_mask: np.ndarray | None = None,
    iterations: int = 20,
    bins: int = 256,
    relaxation: float = 1.0,
    seed: int = 0,
    regularize: bool = True,
) -> np.ndarray:
    """Iterative distribution transfer (Pitié, Kokaram & Dahyot 2005).

    Each iteration rotates the colour space randomly, matches the 1-D distribution of every
    rotated axis to the reference's (quantile mapping on ``bins`` quantiles, i.e. CDF inversion)
    and rotates the displacement back, scaled by ``relaxation``. The full 3-D distribution of the
    result converges to the reference's. Deterministic for a given ``seed``.

    A colour held by many pixels (an 8-bit image has few distinct colours) is a step in each
    axis's distribution, and quantile mapping sends two colours one level apart to far-apart
    places: rainbow speckles on a smooth face. With ``regularize`` the displacement field is
    smoothed by a guided filter with ``src`` as the guide (Pitié et al. 2007's grain reduction:
    where ``src`` is smooth the displacement becomes smooth, at ``src``'s edges it may change),
    which removes them.

    Returns float32 BGR ``src.shape`` in [0, 1].
    """
    src, ref = _image(src, "src"), _image(ref, "ref")
    rng = np.random.default_rng(seed)
    points = src.reshape(-1, 3).astype(np.float64)
    fit_index = _mask_index(src_mask, src.shape[:2])
    fit_rows = _subsample(np.arange(len(points)) if fit_index is None else fit_index, rng)
    target = _pixels(ref, ref_mask).astype(np.float64)
    target = target[_subsample(np.arange(len(target)), rng)]
    for _ in range(iterations):
        rotation = _random_rotation(rng, 3)
        projected = np.ascontiguousarray(rotation.T @ points.T)  # (3, N)
        src_q = _quantiles(projected[:, fit_rows], bins)
        ref_q = _quantiles(rotation.T @ target.T, bins)
        shift = _quantile_map_rows(projected, src_q, ref_q) - projected
        points += relaxation * (shift.T @ rotation.T)
    displacement = (points.reshape(src.shape) - src).astype(np.float32)
    if regularize:
        displacement = _guided_smooth(displacement, src)
    return np.clip(src + displacement, 0.0, 1.0)


def sot(
    src: np.ndarray,
    ref: np.ndarray,
    src_mask: np.ndarray | None = None,
    ref_mask: np.ndarray | None = None,
    steps: int = 10,
    directions: int = 30,
    regularize: bool = True,
    seed: int = 0,
) -> np.ndarray:
    """Sliced optimal transport colour transfer (Rabin et al. / Bonneel et al. 2015).

    Each step draws ``directions`` random unit vectors, moves every pixel along each one by the
    1-D optimal-transport displacement of its projection (quantile mapping onto the
    reference's projections) and averages the moves. With ``regularize`` the total displacement
    field is smoothed edge-aware (bilateral filter, spatial σ = side/16) before it is added, so
    noise and block artefacts are not amplified. Deterministic for a given ``seed``.

    Returns float32 BGR ``src.shape`` in [0, 1].
    """
    src, ref = _image(src, "src"), _image(ref, "ref")
    moved = _sliced_transport(
        src.reshape(-1, 3).astype(np.float64),
        _pixels(ref, ref_mask).astype(np.float64),
        _mask_index(src_mask, src.shape[:2]),
        steps,
        directions,
        np.random.default_rng(seed),
    )
    displacement = (moved.reshape(src.shape) - src).astype(np.float32)
    if regularize:
        displacement = _smooth_displacement(displacement)
    return np.clip(src + displacement, 0.0, 1.0)


def mix(
    src: np.ndarray,
    ref: np.ndarray,
    src_mask: np.ndarray | None = None,
    ref_mask: np.ndarray | None = None,
    steps: int = 10,
    directions: int = 30,
    seed: int = 0,
) -> np.ndarray:
    """Lightness by a linear transfer, chroma by sliced optimal transport, in CIE L*a*b*.

    L* gets the reference's mean and std (as in :func:`rct`); the (a*, b*) chroma plane is moved
    by 2-D sliced optimal transport, independently of lightness. This keeps the shading of
    ``src`` while matching the full skin-tone distribution. Returns float32 BGR in [0, 1].
    """
    src, ref = _image(src, "src"), _image(ref, "ref")
    src_lab = cv2.cvtColor(src, cv2.COLOR_BGR2LAB)
    ref_lab = cv2.cvtColor(ref, cv2.COLOR_BGR2LAB)
    s_pix, r_pix = _pixels(src_lab, src_mask), _pixels(ref_lab, ref_mask)
    out = np.empty_like(src_lab)
    s_l, r_l = s_pix[:, 0], r_pix[:, 0]
    out[..., 0] = (src_lab[..., 0] - s_l.mean()) * (r_l.std() / max(float(s_l.std()), 1e-3)) + r_l.mean()
    chroma = _sliced_transport(
        src_lab[..., 1:].reshape(-1, 2).astype(np.float64) / 127.0,
        r_pix[:, 1:].astype(np.float64) / 127.0,
        _mask_index(src_mask, src.shape[:2]),
        steps,
        directions,
        np.random.default_rng(seed),
    )
    out[..., 1:] = (chroma * 127.0).reshape(src_lab.shape[:2] + (2,))
    return np.clip(cv2.cvtColor(_clip_lab(out), cv2.COLOR_LAB2BGR), 0.0, 1.0)


def _whole(function: Callable[..., np.ndarray]) -> ColorTransfer:
    def transfer(src: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        return function(src, ref)

    transfer.__doc__ = f"{function.__name__} on the whole images (the mask is ignored)."
    return transfer


def _masked(function: Callable[..., np.ndarray]) -> ColorTransfer:
    def transfer(src: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        return function(src, ref, mask, mask)

    transfer.__doc__ = f"{function.__name__} fitted on the pixels where ``mask`` ≥ 0.5 in both images."
    return transfer


#: Merger colour-transfer modes, DeepFaceLab's names → ``(src, ref, mask) -> out``. ``src`` and
#: ``ref`` are aligned crops of the same size; ``mask`` is the face mask shared by both.
COLOR_TRANSFERS: dict[str, ColorTransfer] = {
    "rct": _masked(rct),
    "lct": _whole(lct),
    "mkl": _whole(mkl),
    "mkl-m": _masked(mkl),
    "idt": _whole(idt),
    "idt-m": _masked(idt),
    "sot-m": _masked(sot),
    "mix-m": _masked(mix),
}


def transfer_color(name: str, src: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Run the colour transfer called ``name`` (``"none"`` returns ``src`` unchanged)."""
    if name == "none":
        return _image(src, "src")
    try:
        function = COLOR_TRANSFERS[name]
    except KeyError:
        names = ", ".join(["none", *COLOR_TRANSFERS])
        raise OptionError(f"unknown colour transfer {name!r}; choose one of {names}") from None
    return function(src, ref, mask)


def _image(image: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must be (H, W, 3), got {image.shape}")
    return image.astype(np.float32, copy=False)


def _mask_index(mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """Flat indices of the pixels with mask ≥ 0.5, or None for all (also when too few are set)."""
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=np.float32).reshape(shape[0], shape[1])
    index = np.flatnonzero(mask.ravel() >= 0.5)
    return index if index.size >= 16 else None


def _pixels(image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``(N, C)`` pixels selected by ``mask`` (all pixels when the mask selects almost none)."""
    flat = image.reshape(-1, image.shape[-1])
    index = _mask_index(mask, image.shape)
    return flat if index is None else flat[index]


def _clip_lab(lab: np.ndarray) -> np.ndarray:
    lab[..., 0] = np.clip(lab[..., 0], 0.0, 100.0)
    lab[..., 1:] = np.clip(lab[..., 1:], -127.0, 127.0)
    return lab


def _cov(pixels: np.ndarray) -> np.ndarray:
    return np.cov(pixels.astype(np.float64), rowvar=False) + np.eye(pixels.shape[1]) * _EPS


def _sqrtm(matrix: np.ndarray, inverse: bool = False) -> np.ndarray:
    """Symmetric square root (or inverse square root) of a symmetric positive matrix."""
    values, vectors = np.linalg.eigh(matrix)
    values = np.maximum(values, 1e-12)  # covariances already carry +_EPS on the diagonal
    roots = values**-0.5 if inverse else values**0.5
    return (vectors * roots) @ vectors.T


def _apply_linear(src: np.ndarray, transform: np.ndarray, s_mean: np.ndarray, r_mean: np.ndarray) -> np.ndarray:
    flat = src.reshape(-1, 3).astype(np.float64) - s_mean
    out = flat @ transform.T + r_mean
    return np.clip(out.reshape(src.shape), 0.0, 1.0).astype(np.float32)


def _random_rotation(rng: np.random.Generator, dims: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((dims, dims)))
    return q * np.sign(np.diag(r))


def _quantile_map(values: np.ndarray, src_q: np.ndarray, ref_q: np.ndarray) -> np.ndarray:
    """Map ``values`` through the monotone curve ``src_q[i] → ref_q[i]`` (a repeated ``src_q`` keeps its first pair)."""
    src_q, start = np.unique(src_q, return_index=True)
    ref_q = ref_q[start]
    return np.interp(values, src_q, ref_q)


def _sliced_transport(
    points: np.ndarray,
    target: np.ndarray,
    fit_index: np.ndarray | None,
    steps: int,
    directions: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Move ``points (N, D)`` toward ``target (M, D)`` by sliced OT; fit on ``points[fit_index]``."""
    dims = points.shape[1]
    points = points.copy()
    fit_rows = _subsample(np.arange(len(points)) if fit_index is None else fit_index, rng)
    target = target[_subsample(np.arange(len(target)), rng)]
    for _ in range(steps):
        axes = rng.standard_normal((directions, dims))
        axes /= np.linalg.norm(axes, axis=1, keepdims=True)
        projected = np.ascontiguousarray(axes @ points.T)  # (directions, N)
        src_q = _quantiles(projected[:, fit_rows])
        ref_q = _quantiles(axes @ target.T)
        shift = _quantile_map_rows(projected, src_q, ref_q) - projected
        points += shift.T @ axes * (dims / directions)
    return points


def _subsample(rows: np.ndarray, rng: np.random.Generator, limit: int = 8192) -> np.ndarray:
    """At most ``limit`` of ``rows`` (random, sorted): quantiles need no more."""
    return rows if rows.size <= limit else np.sort(rng.choice(rows, limit, replace=False))


def _quantiles(values: np.ndarray, count: int = 256) -> np.ndarray:
    """``(K, count)`` evenly spaced order statistics of each row of ``values (K, N)``."""
    ordered = np.sort(values, axis=1)
    positions = np.round(np.linspace(0, ordered.shape[1] - 1, count)).astype(np.int64)
    return ordered[:, positions]


def _quantile_map_rows(values: np.ndarray, src_q: np.ndarray, ref_q: np.ndarray, bins: int = 1024) -> np.ndarray:
    """:func:`_quantile_map` for each row of ``values (K, N)``, through a ``bins``-entry lookup table.

    Much faster than ``np.interp`` on every value, and within 1/bins of the row's range of it.
    """
    low, high = values.min(axis=1, keepdims=True), values.max(axis=1, keepdims=True)
    step = np.maximum(high - low, 1e-12) / bins
    grid = low + step * np.arange(bins + 1)
    table = np.stack([_quantile_map(grid[k], src_q[k], ref_q[k]) for k in range(len(values))])
    position = (values - low) / step
    index = np.minimum(position.astype(np.int64), bins - 1)
    frac = position - index
    index += np.arange(len(values))[:, None] * (bins + 1)
    start, end = table.take(index), table.take(index + 1)
    return start + (end - start) * frac


def _guided_smooth(displacement: np.ndarray, guide: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """``displacement (H, W, 3)`` smoothed by a guided filter (He et al. 2010) on ``guide``'s
    luminance: locally ``a · guide + b``, so it cannot jump where the guide barely changes."""
    radius = max(1, round(max(guide.shape[0], guide.shape[1]) / 32))
    size = (2 * radius + 1, 2 * radius + 1)

    def box(image: np.ndarray) -> np.ndarray:
        return cv2.blur(image, size, borderType=cv2.BORDER_REFLECT)

    light = cv2.cvtColor(guide, cv2.COLOR_BGR2GRAY)[..., None]
    mean_light = box(light)[..., None]
    variance = box(light * light)[..., None] - mean_light**2
    mean_shift = box(displacement)
    slope = (box(light * displacement) - mean_light * mean_shift) / (variance + eps)
    offset = mean_shift - slope * mean_light
    return (box(slope) * light + box(offset)).astype(np.float32)


def _smooth_displacement(displacement: np.ndarray) -> np.ndarray:
    sigma_space = max(displacement.shape[0], displacement.shape[1]) / 16.0
    diameter = int(2 * round(sigma_space) + 1)
    return cv2.bilateralFilter(displacement, diameter, 0.1, sigma_space)


#: Whole-image transfers used to recolour training samples (``ct_mode``), by name.
SAMPLE_TRANSFERS: dict[str, Callable[..., np.ndarray]] = {"rct": rct, "lct": lct, "mkl": mkl, "idt": idt, "sot": sot}


def transfer_sample(name: str, target: np.ndarray, reference: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Recolour a training sample toward ``reference`` with a :data:`SAMPLE_TRANSFERS` method.

    ``rng`` seeds the random methods (idt, sot) so augmentation stays reproducible. Both images are
    ``(H, W, 3)`` float32 BGR in [0, 1] (sizes may differ); returns the recoloured ``target``.
    """
    function = SAMPLE_TRANSFERS[name]
    if function in (idt, sot):
        return function(target, reference, seed=int(rng.integers(2**31)))
    return function(target, reference)
