"""Colour transfer of one face toward another's colours, for ``ct_mode`` training augmentation.

Every function takes ``target`` (the image to recolour) and ``reference`` (whose colours to copy),
both ``(H, W, 3)`` float32 BGR in [0, 1] (sizes may differ), and returns the recoloured target,
``(H, W, 3)`` float32 in [0, 1]. ``rng`` makes the random methods reproducible.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from recast.errors import OptionError


def rct(target: np.ndarray, reference: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Reinhard transfer: match per-channel mean and std in L*a*b*."""
    t = cv2.cvtColor(target, cv2.COLOR_BGR2LAB)
    r = cv2.cvtColor(reference, cv2.COLOR_BGR2LAB)
    t_mean, t_std = t.reshape(-1, 3).mean(0), t.reshape(-1, 3).std(0)
    r_mean, r_std = r.reshape(-1, 3).mean(0), r.reshape(-1, 3).std(0)
    out = (t - t_mean) * (r_std / np.maximum(t_std, 1e-6)) + r_mean
    out = np.clip(out, [0, -127, -127], [100, 127, 127]).astype(np.float32)
    return np.clip(cv2.cvtColor(out, cv2.COLOR_LAB2BGR), 0, 1)


def _mean_cov(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = pixels.mean(0)
    centred = pixels - mean
    return mean, centred.T @ centred / max(len(pixels) - 1, 1) + np.eye(3) * 1e-5


def _sqrtm(matrix: np.ndarray, inverse: bool = False) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    values = np.maximum(values, 1e-10)
    return (vectors * (values ** (-0.5 if inverse else 0.5))) @ vectors.T


def lct(target: np.ndarray, reference: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Linear colour transfer: whiten with the target covariance, recolour with the reference's."""
    t = target.reshape(-1, 3).astype(np.float64)
    t_mean, t_cov = _mean_cov(t)
    r_mean, r_cov = _mean_cov(reference.reshape(-1, 3).astype(np.float64))
    out = (t - t_mean) @ (_sqrtm(r_cov) @ _sqrtm(t_cov, inverse=True)).T + r_mean
    return np.clip(out, 0, 1).reshape(target.shape).astype(np.float32)


def mkl(target: np.ndarray, reference: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Monge–Kantorovich linear map between the colour covariances (Pitié's closed form)."""
    t = target.reshape(-1, 3).astype(np.float64)
    t_mean, a = _mean_cov(t)
    r_mean, b = _mean_cov(reference.reshape(-1, 3).astype(np.float64))
    a_half, a_inv_half = _sqrtm(a), _sqrtm(a, inverse=True)
    transform = a_inv_half @ _sqrtm(a_half @ b @ a_half) @ a_inv_half
    out = (t - t_mean) @ transform.T + r_mean
    return np.clip(out, 0, 1).reshape(target.shape).astype(np.float32)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


def idt(target: np.ndarray, reference: np.ndarray, rng: np.random.Generator | None = None,
        iterations: int = 20, bins: int = 256) -> np.ndarray:
    """Pitié's iterative distribution transfer: 1-D histogram matching along random rotated axes."""
    rng = rng or np.random.default_rng(0)
    t = target.reshape(-1, 3).astype(np.float64)
    r = reference.reshape(-1, 3).astype(np.float64)
    relaxation = 1.0 / iterations
    for _ in range(iterations):
        rot = _random_rotation(rng)
        tp, rp = t @ rot, r @ rot
        moved = np.empty_like(tp)
        for axis in range(3):
            lo = min(tp[:, axis].min(), rp[:, axis].min())
            hi = max(tp[:, axis].max(), rp[:, axis].max()) + 1e-9
            t_hist, edges = np.histogram(tp[:, axis], bins=bins, range=(lo, hi))
            r_hist, _ = np.histogram(rp[:, axis], bins=bins, range=(lo, hi))
            t_cdf = np.cumsum(t_hist) / max(t_hist.sum(), 1)
            r_cdf = np.cumsum(r_hist) / max(r_hist.sum(), 1)
            centres = (edges[:-1] + edges[1:]) / 2
            mapped = np.interp(t_cdf, r_cdf, centres)
            moved[:, axis] = np.interp(tp[:, axis], centres, mapped) - tp[:, axis]
        t = t + relaxation * (moved @ rot.T)
    return np.clip(t, 0, 1).reshape(target.shape).astype(np.float32)


def sot(target: np.ndarray, reference: np.ndarray, rng: np.random.Generator | None = None,
        steps: int = 10, directions: int = 5) -> np.ndarray:
    """Sliced optimal transport along random directions, displacement smoothed by a bilateral filter."""
    rng = rng or np.random.default_rng(0)
    t = target.reshape(-1, 3).astype(np.float32)
    r = reference.reshape(-1, 3).astype(np.float32)
    if len(r) != len(t):
        r = r[rng.integers(0, len(r), size=len(t))]
    current = t.copy()
    for _ in range(steps):
        step = np.zeros_like(current)
        for _ in range(directions):
            d = rng.normal(size=3).astype(np.float32)
            d /= np.linalg.norm(d)
            pc, pr = current @ d, r @ d
            order = np.argsort(pc)
            shift = np.empty_like(pc)
            shift[order] = np.sort(pr) - pc[order]
            step += shift[:, None] * d[None, :]
        current += step / directions
    delta = (current - t).reshape(target.shape)
    delta = cv2.bilateralFilter(delta.astype(np.float32), 0, 5.0 / 255, 16)
    return np.clip(target + delta, 0, 1).astype(np.float32)


COLOR_TRANSFERS: dict[str, Callable[..., np.ndarray]] = {"rct": rct, "lct": lct, "mkl": mkl, "idt": idt, "sot": sot}


def get_color_transfer(name: str) -> Callable[..., np.ndarray] | None:
    """The function for a ``ct_mode`` name, or None for ``none``; raises OptionError otherwise."""
    if name in ("", "none"):
        return None
    try:
        return COLOR_TRANSFERS[name]
    except KeyError:
        raise OptionError(f"unknown ct_mode {name!r}; choose none, {', '.join(COLOR_TRANSFERS)}") from None
