"""Synthetic occluders with known masks, pasted over faces to train XSeg (the RandOcc / NatOcc idea of
"Delving into High-Quality Synthetic Face Occlusion Segmentation Datasets", CVPRW 2022).

Pure NumPy/OpenCV. Images are ``(R, R, 3)`` float32 BGR in [0, 1]; masks ``(R, R)`` float32 in [0, 1].
Each occluder is a colour layer and an alpha (1 = the occluder covers the pixel):

* ``shape`` (RandOcc): random polygons and ellipses filled with a flat colour, a gradient,
  stripes or smooth noise;
* ``cutout`` (NatOcc): a random blob cut out of another image (another face of the set, or a user's
  occluder image), rotated and scaled — real texture with a known outline;
* ``hand``: a palm ellipse with two to four finger capsules, textured with skin cut from another
  face, entering from an edge of the crop — the hardest case, skin on skin;
* ``strands``: a bundle of thin curves in a dark or hair colour falling over the forehead;
* ``bar``: a thick rounded bar (microphone, pen, cup handle) crossing the face.

:func:`occlude` pastes one to ``count`` of them onto a face, mostly over its mask, and returns
the image and the mask minus the occluded pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

KINDS = ("shape", "cutout", "hand", "strands", "bar")
_WEIGHTS = np.array([0.25, 0.25, 0.25, 0.1, 0.15])


def occlude(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, donors: Sequence[np.ndarray],
            count: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Paste 1 … ``count`` random occluders onto ``image``; returns ``(image, mask)`` with the occluded
    pixels (alpha ≥ 0.5) removed from ``mask``.

    Args:
        image: ``(R, R, 3)`` float32 BGR face. mask: its ``(R, R)`` face mask.
        donors: other images (float32 BGR, any size ≥ 16 px) for textures and cut-outs; may be empty.
        count: most occluders pasted.
    """
    res = image.shape[0]
    out, target = image.copy(), mask.copy()
    for _ in range(int(rng.integers(1, max(count, 1) + 1))):
        kind = KINDS[int(rng.choice(len(KINDS), p=_WEIGHTS))]
        layer, alpha = make_occluder(kind, res, rng, donors, target)
        out = out * (1.0 - alpha[..., None]) + layer * alpha[..., None]
        target = target * (alpha < 0.5)
    return np.clip(out, 0.0, 1.0).astype(np.float32), target.astype(np.float32)


def make_occluder(kind: str, res: int, rng: np.random.Generator, donors: Sequence[np.ndarray],
                  mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One occluder of ``kind`` (see :data:`KINDS`) for a ``res`` px face whose mask is ``mask``:
    ``(colour layer (R, R, 3), alpha (R, R))``, float32."""
    centre = _anchor(mask, rng)
    size = res * rng.uniform(0.15, 0.45)
    alpha = np.zeros((res, res), np.float32)
    if kind == "shape":
        _random_shape(alpha, centre, size, rng)
        layer = _fill(res, rng, donors)
    elif kind == "cutout":
        _blob(alpha, centre, size, rng)
        layer = _donor_patch(res, rng, donors) if donors else _fill(res, rng, donors)
    elif kind == "hand":
        _hand(alpha, res, rng, mask)
        layer = _skin(res, rng, donors)
    elif kind == "strands":
        _strands(alpha, res, rng, mask)
        layer = _hair_colour(res, rng)
    else:
        _bar(alpha, centre, size, rng)
        layer = _fill(res, rng, donors)
    if rng.random() < 0.5:  # a soft edge, as focus blur or motion gives real occluders
        alpha = cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.5, 1.5)).astype(np.float32)
    shade = np.float32(rng.uniform(0.6, 1.2))
    return np.clip(layer * shade, 0.0, 1.0).astype(np.float32), np.clip(alpha, 0.0, 1.0)


def _anchor(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A point inside the face mask (anywhere when it is empty), ``(x, y)`` float."""
    ys, xs = np.nonzero(mask > 0.5)
    if len(xs) == 0:
        return rng.uniform(0, mask.shape[0], size=2)
    i = int(rng.integers(len(xs)))
    return np.array([xs[i], ys[i]], np.float64)


def _random_shape(alpha: np.ndarray, centre: np.ndarray, size: float, rng: np.random.Generator) -> None:
    if rng.random() < 0.5:
        axes = (int(size * rng.uniform(0.3, 0.6)), int(size * rng.uniform(0.2, 0.6)))
        cv2.ellipse(alpha, _pt(centre), axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
    else:
        count = int(rng.integers(3, 9))
        angles = np.sort(rng.uniform(0, 2 * np.pi, count))
        radii = size * rng.uniform(0.2, 0.6, count)
        points = centre + np.stack([np.cos(angles) * radii, np.sin(angles) * radii], axis=1)
        cv2.fillPoly(alpha, [np.round(points).astype(np.int32)], 1.0)


def _blob(alpha: np.ndarray, centre: np.ndarray, size: float, rng: np.random.Generator) -> None:
    """A smooth irregular blob: a union of a few overlapping ellipses."""
    for _ in range(int(rng.integers(2, 6))):
        offset = rng.normal(0, size * 0.2, 2)
        axes = (max(2, int(size * rng.uniform(0.15, 0.45))), max(2, int(size * rng.uniform(0.15, 0.45))))
        cv2.ellipse(alpha, _pt(centre + offset), axes, rng.uniform(0, 180), 0, 360, 1.0, -1)


def _hand(alpha: np.ndarray, res: int, rng: np.random.Generator, mask: np.ndarray) -> None:
    """A palm entering from an edge towards the face, with 2–4 fingers pointing inwards."""
    target = _anchor(mask, rng)
    edge = int(rng.integers(4))
    along = rng.uniform(0.1, 0.9) * res
    start = np.array([[along, res * 1.05], [along, -res * 0.05], [-res * 0.05, along], [res * 1.05, along]][edge])
    direction = target - start
    direction /= max(np.linalg.norm(direction), 1e-6)
    reach = rng.uniform(0.4, 0.85)
    palm = start + (target - start) * reach
    width = res * rng.uniform(0.09, 0.16)
    _capsule(alpha, start, palm, width * 1.1)  # wrist / forearm
    angle = np.degrees(np.arctan2(direction[1], direction[0]))
    cv2.ellipse(alpha, _pt(palm), (int(width * 1.4), int(width * 1.1)), angle, 0, 360, 1.0, -1)
    normal = np.array([-direction[1], direction[0]])
    fingers = int(rng.integers(2, 5))
    for k in range(fingers):
        spread = (k - (fingers - 1) / 2) * width * 0.55
        base = palm + direction * width * 0.9 + normal * spread
        bend = rng.normal(0, 0.15, 2)
        tip = base + (direction + bend) * width * rng.uniform(1.6, 2.6)
        _capsule(alpha, base, tip, width * 0.32)


def _strands(alpha: np.ndarray, res: int, rng: np.random.Generator, mask: np.ndarray) -> None:
    """Hair falling over the upper face: thin quadratic curves from above the mask's top."""
    ys, xs = np.nonzero(mask > 0.5)
    top = float(ys.min()) if len(ys) else res * 0.2
    x0 = float(rng.uniform(xs.min(), xs.max())) if len(xs) else res / 2
    length = res * rng.uniform(0.2, 0.5)
    for _ in range(int(rng.integers(8, 30))):
        start = np.array([x0 + rng.normal(0, res * 0.06), top - rng.uniform(0, res * 0.1)])
        mid = start + np.array([rng.normal(0, res * 0.08), length * 0.5])
        end = start + np.array([rng.normal(0, res * 0.12), length * rng.uniform(0.6, 1.0)])
        t = np.linspace(0, 1, 12)[:, None]
        curve = (1 - t) ** 2 * start + 2 * (1 - t) * t * mid + t**2 * end
        thickness = int(rng.integers(1, max(2, res // 64) + 1))
        cv2.polylines(alpha, [np.round(curve).astype(np.int32)], False, 1.0, thickness)


def _bar(alpha: np.ndarray, centre: np.ndarray, size: float, rng: np.random.Generator) -> None:
    angle = rng.uniform(0, np.pi)
    half = np.array([np.cos(angle), np.sin(angle)]) * size * rng.uniform(0.8, 1.6)
    _capsule(alpha, centre - half, centre + half, size * rng.uniform(0.08, 0.2))


def _capsule(alpha: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float) -> None:
    r = max(1, int(radius))
    cv2.line(alpha, _pt(a), _pt(b), 1.0, 2 * r)
    cv2.circle(alpha, _pt(a), r, 1.0, -1)
    cv2.circle(alpha, _pt(b), r, 1.0, -1)


def _fill(res: int, rng: np.random.Generator, donors: Sequence[np.ndarray]) -> np.ndarray:
    """A random texture: flat colour, gradient, stripes, smooth noise, or (if any) a donor image."""
    choice = rng.random()
    colour = rng.uniform(0, 1, 3).astype(np.float32)
    if choice < 0.2:
        return np.broadcast_to(colour, (res, res, 3)).copy()
    if choice < 0.4:
        other = rng.uniform(0, 1, 3).astype(np.float32)
        ramp = np.linspace(0, 1, res, dtype=np.float32)
        ramp = ramp[None, :, None] if rng.random() < 0.5 else ramp[:, None, None]
        return np.broadcast_to(colour + (other - colour) * ramp, (res, res, 3)).copy()
    if choice < 0.55:
        period = rng.uniform(4, res / 6)
        angle = rng.uniform(0, np.pi)
        ys, xs = np.mgrid[:res, :res].astype(np.float32)
        wave = (np.sin((xs * np.cos(angle) + ys * np.sin(angle)) * 2 * np.pi / period) > 0).astype(np.float32)
        other = rng.uniform(0, 1, 3).astype(np.float32)
        return colour + (other - colour) * wave[..., None]
    if choice < 0.75 or not donors:
        coarse = rng.uniform(0, 1, (int(rng.integers(2, 12)),) * 2 + (3,)).astype(np.float32)
        return cv2.resize(coarse, (res, res), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    return _donor_patch(res, rng, donors)


def _donor_patch(res: int, rng: np.random.Generator, donors: Sequence[np.ndarray]) -> np.ndarray:
    """A randomly rotated, scaled and flipped view of a donor image, ``(res, res, 3)``."""
    donor = donors[int(rng.integers(len(donors)))]
    h, w = donor.shape[:2]
    scale = res / min(h, w) * rng.uniform(0.8, 2.0)
    mat = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(0, 360), scale)
    mat[:, 2] += (res / 2 - w / 2, res / 2 - h / 2)
    patch = cv2.warpAffine(donor, mat, (res, res), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return patch[:, ::-1].copy() if rng.random() < 0.5 else patch


def _skin(res: int, rng: np.random.Generator, donors: Sequence[np.ndarray]) -> np.ndarray:
    """Skin texture: the cheek area of a donor face (a face crop's centre), else a skin tone."""
    if donors:
        donor = donors[int(rng.integers(len(donors)))]
        h, w = donor.shape[:2]
        x0, y0 = int(w * rng.uniform(0.3, 0.45)), int(h * rng.uniform(0.45, 0.55))
        patch = donor[y0:y0 + max(4, h // 8), x0:x0 + max(4, w // 8)]
        return cv2.resize(patch, (res, res), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    tone = np.array([rng.uniform(0.3, 0.75), rng.uniform(0.4, 0.8), rng.uniform(0.55, 0.95)], np.float32)
    noise = cv2.resize(rng.normal(0, 0.03, (8, 8, 3)).astype(np.float32), (res, res))
    return np.clip(tone + noise, 0, 1)


def _hair_colour(res: int, rng: np.random.Generator) -> np.ndarray:
    base = rng.uniform(0.02, 0.5) * np.array([rng.uniform(0.6, 1.0), rng.uniform(0.8, 1.0), 1.0], np.float32)
    noise = cv2.resize(rng.normal(0, 0.05, (16, 16, 3)).astype(np.float32), (res, res))
    return np.clip(base + noise, 0, 1).astype(np.float32)


def _pt(point: np.ndarray) -> tuple[int, int]:
    return int(round(float(point[0]))), int(round(float(point[1])))
