"""Image effects of the merger: histogram matching, sharpen/blur, motion blur, degradation.

Images are ``(H, W, 3)`` float32 BGR in [0, 1]; masks ``(H, W)`` float32 in [0, 1]. Every
function returns a new float32 image of the input's shape (no in-place changes).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from recast.merge.maskops import motion_kernel

SHARPEN_MODES = ("none", "box", "gaussian")


def hist_match(
    src: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None, threshold: int = 255
) -> np.ndarray:
    """Per-channel histogram matching of ``src`` to ``ref`` (256 levels).

    Args:
        src: image to recolour, ``(H, W, 3)`` float32 BGR [0, 1].
        ref: image whose histograms to take, same shape.
        mask: if given, both images are set to white outside ``mask ≥ 0.5`` before the
            histograms are taken (DeepFaceLab's "masked hist match"), so the face region alone
            drives the match. The mapping is applied to every pixel.
        threshold: 0–255. The source CDF is scaled to ``threshold / 255`` before inverting the
            reference's, which keeps the brightest levels from being pushed to white; 255 = exact.
    """
    src = np.asarray(src, np.float32)
    ref = np.asarray(ref, np.float32)
    src_q = np.clip(np.round(src * 255.0), 0, 255).astype(np.uint8)
    ref_q = np.clip(np.round(ref * 255.0), 0, 255).astype(np.uint8)
    if mask is not None:
        outside = np.asarray(mask, np.float32).reshape(src.shape[:2]) < 0.5
        fit_src, fit_ref = src_q.copy(), ref_q.copy()
        fit_src[outside], fit_ref[outside] = 255, 255
    else:
        fit_src, fit_ref = src_q, ref_q
    levels = np.arange(256, dtype=np.float64)
    out = np.empty_like(src)
    for channel in range(3):
        src_cdf = _cdf(fit_src[..., channel]) * (threshold / 255.0)
        ref_cdf = _cdf(fit_ref[..., channel])
        lut = np.interp(src_cdf, ref_cdf, levels) / 255.0
        out[..., channel] = lut.astype(np.float32)[src_q[..., channel]]
    return out


def sharpen(image: np.ndarray, mode: str, amount: float) -> np.ndarray:
    """Sharpen (``amount`` > 0) or median-blur (``amount`` < 0), DeepFaceLab's scale −100…100.

    * ``box``: ``x + a·(x − box3(x))``; ``gaussian``: ``x + 0.5a·(x − gauss3(x))`` with a = amount.
    * ``amount < 0``: ``⌈|a|/10⌉`` passes of a 5×5 median, the last one blended by ``(|a| mod 10)/10``
      (any mode but ``none``).
    """
    image = np.asarray(image, np.float32)
    if mode == "none" or amount == 0:
        return image
    if amount > 0:
        smooth = cv2.blur(image, (3, 3)) if mode == "box" else cv2.GaussianBlur(image, (3, 3), 0)
        weight = amount if mode == "box" else 0.5 * amount
        return np.clip(image + (image - smooth) * weight, 0.0, 1.0)
    return _median_passes(image, -amount, 10)


def motion_blur(image: np.ndarray, dx: float, dy: float, power: float) -> np.ndarray:
    """Blur along the motion ``(dx, dy)`` (pixels between the previous and the next frame).

    The kernel length is ``|motion| · power / 100`` pixels, at least 2 and at most 50 when the
    blur is on (DeepFaceLab's rule); ``power`` is 0–100.
    """
    image = np.asarray(image, np.float32)
    length = int(math.hypot(dx, dy) * power / 100.0)
    if length < 1:
        return image
    length = int(np.clip(length + 1, 2, 50))
    return cv2.filter2D(image, -1, motion_kernel(dx, dy, length), borderType=cv2.BORDER_REFLECT)


def denoise(image: np.ndarray, power: float) -> np.ndarray:
    """Background denoise, 0–500: ``⌈power/10⌉`` 5×5 median passes, full strength while the
    remaining power is ≥ 100, the last ones blended by ``(remaining mod 100)/100``."""
    image = np.asarray(image, np.float32)
    return image if power <= 0 else _median_passes(image, power, 100)


def bicubic_degrade(image: np.ndarray, power: float) -> np.ndarray:
    """Down-scale by ``1 − power/101`` and back up, bicubic (``power`` 0–100): softens detail."""
    image = np.asarray(image, np.float32)
    if power <= 0:
        return image
    height, width = image.shape[:2]
    scale = 1.0 - power / 101.0
    small = cv2.resize(
        image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_CUBIC
    )
    return np.clip(cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


def color_degrade(image: np.ndarray, power: float) -> np.ndarray:
    """Blend toward a 256-colour (3-3-2 bit BGR) version of the image by ``power/100`` (0–100)."""
    image = np.asarray(image, np.float32)
    if power <= 0:
        return image
    levels = np.array([7.0, 7.0, 3.0], np.float32)  # B and G get 3 bits, R gets 2
    reduced = np.round(image * levels) / levels
    return image + (reduced - image) * (power / 100.0)


def _median_passes(image: np.ndarray, amount: float, full_at: float) -> np.ndarray:
    remaining = float(amount)
    while remaining > 0:
        smooth = cv2.medianBlur(image, 5)
        weight = min(remaining / full_at, 1.0)
        image = image + (smooth - image) * weight
        remaining = max(remaining - 10.0, 0.0)
    return image


def _cdf(channel: np.ndarray) -> np.ndarray:
    counts = np.bincount(channel.ravel(), minlength=256).astype(np.float64)
    cdf = np.cumsum(counts)
    return cdf / max(cdf[-1], 1.0)
