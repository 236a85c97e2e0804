"""XSeg labels: include / exclude polygons drawn on an aligned face (no torch).

A face's labels are an ordered list of :class:`Polygon`, in the pixels of the aligned image
(x right, y down, pixel centres at integer coordinates, as OpenCV draws them). They are
rasterised in order, as DeepFaceLab does: an include polygon fills 1, an exclude polygon fills 0
over whatever was drawn before it, so an exclude cuts a hand out of an include, and a later
include can put a part back.

Stored in the face's metadata (:class:`recast.faces.metadata.FaceMeta`) as::

    "xseg_labels": {"version": 1, "polygons": [{"type": "include", "points": [[x, y], …]}, …]}

Every polygon is validated on read and on write: 3 … :data:`MAX_POINTS` finite points, within one
face size of the face, at most :data:`MAX_POLYGONS` polygons and :data:`MAX_TOTAL_POINTS` points.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

LABELS_VERSION = 1
MAX_POLYGONS = 256
"""Polygons one face may carry."""
MAX_POINTS = 4096
"""Points one polygon may have."""
MAX_TOTAL_POINTS = 65536
"""Points all polygons of one face may have together."""
POLYGON_TYPES = ("include", "exclude")


@dataclass(frozen=True)
class Polygon:
    """One labelled region: ``points`` ``(K, 2)`` float64 ``(x, y)`` aligned-image pixels, K ≥ 3;
    ``include`` True for face, False for an occluder cut out of it."""

    include: bool
    points: np.ndarray

    def to_json(self) -> dict[str, Any]:
        """``{"type": "include" | "exclude", "points": [[x, y], …]}`` (2 decimals)."""
        return {"type": "include" if self.include else "exclude",
                "points": np.round(np.asarray(self.points, np.float64), 2).tolist()}


def polygon(include: bool, points: Any, face_size: tuple[int, int] | None = None) -> Polygon:
    """A validated :class:`Polygon` from any array-like of ``(x, y)`` pairs.

    Raises:
        ValueError: naming what is wrong (not numbers, not (K, 2), fewer than 3 or more than
            :data:`MAX_POINTS` points, non-finite values, or points farther than one face size
            outside the face of ``face_size = (width, height)``).
    """
    if isinstance(points, (str, bytes, dict)):
        raise ValueError("polygon points are not a list of [x, y] pairs")
    if isinstance(points, (list, tuple)) and len(points) > MAX_POINTS:
        raise ValueError(f"a polygon has {len(points)} points, more than {MAX_POINTS}")
    try:
        array = np.array(points, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ValueError("polygon points are not a list of [x, y] numbers") from None
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"polygon points have shape {array.shape}, expected (K, 2)")
    if not 3 <= len(array) <= MAX_POINTS:
        raise ValueError(f"a polygon needs 3 to {MAX_POINTS} points, got {len(array)}")
    if not np.all(np.isfinite(array)):
        raise ValueError("polygon points hold NaN or infinite values")
    if face_size is not None:
        size = np.asarray(face_size, np.float64)
        if np.any(array < -size) or np.any(array > 2 * size):
            raise ValueError(f"polygon points lie far outside the {face_size[0]}x{face_size[1]} face "
                             f"({float(array.min()):g}..{float(array.max()):g})")
    elif np.any(np.abs(array) > 1e6):
        raise ValueError("polygon points are implausibly large")
    return Polygon(bool(include), array)


def check_polygons(polygons: Sequence[Polygon], face_size: tuple[int, int] | None = None) -> list[Polygon]:
    """Re-validate ``polygons`` (e.g. built by a caller) and their count; returns new validated copies."""
    if not isinstance(polygons, (list, tuple)):
        raise ValueError("labels must be a list of polygons")
    if len(polygons) > MAX_POLYGONS:
        raise ValueError(f"{len(polygons)} polygons, more than {MAX_POLYGONS}")
    out = []
    for item in polygons:
        if not isinstance(item, Polygon):
            raise ValueError(f"a label is a {type(item).__name__}, not a Polygon")
        out.append(polygon(item.include, item.points, face_size))
    _check_total(out)
    return out


def labels_from_json(data: Any, face_size: tuple[int, int] | None = None) -> list[Polygon]:
    """Parse and validate the ``xseg_labels`` block of face metadata.

    Raises:
        ValueError: naming the first problem (wrong types, unknown version, too many polygons or
            points, non-finite or far-away points).
    """
    if not isinstance(data, dict):
        raise ValueError("xseg_labels is not an object")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError("xseg_labels version is missing or not a positive integer")
    if version > LABELS_VERSION:
        raise ValueError(f"xseg_labels version {version} is newer than this recast reads ({LABELS_VERSION})")
    items = data.get("polygons")
    if not isinstance(items, list):
        raise ValueError("xseg_labels polygons is not a list")
    if len(items) > MAX_POLYGONS:
        raise ValueError(f"xseg_labels has {len(items)} polygons, more than {MAX_POLYGONS}")
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or item.get("type") not in POLYGON_TYPES:
            raise ValueError(f"xseg_labels polygon {index} is not {{'type': 'include'|'exclude', 'points': …}}")
        try:
            out.append(polygon(item["type"] == "include", item.get("points"), face_size))
        except ValueError as error:
            raise ValueError(f"xseg_labels polygon {index}: {error}") from None
    _check_total(out)
    return out


def labels_to_json(polygons: Iterable[Polygon]) -> dict[str, Any]:
    """The ``xseg_labels`` block for ``polygons``."""
    return {"version": LABELS_VERSION, "polygons": [p.to_json() for p in polygons]}


def labels_mask(polygons: Iterable[Polygon], shape: tuple[int, int]) -> np.ndarray:
    """Rasterise ``polygons`` in order into a ``shape = (h, w)`` float32 mask of 0 / 1 (anti-aliasing off)."""
    mask = np.zeros(shape, np.float32)
    for item in polygons:
        points = np.round(np.asarray(item.points, np.float64) * 16).astype(np.int32)
        cv2.fillPoly(mask, [points], 1.0 if item.include else 0.0, lineType=cv2.LINE_8, shift=4)
    return mask


def transform_labels(polygons: Iterable[Polygon], mat: np.ndarray) -> list[Polygon]:
    """``polygons`` mapped by the ``(2, 3)`` affine ``mat`` (e.g. an old aligned image → a re-cropped one)."""
    m = np.asarray(mat, np.float64)
    return [Polygon(p.include, np.asarray(p.points, np.float64) @ m[:, :2].T + m[:, 2]) for p in polygons]


def _check_total(polygons: list[Polygon]) -> None:
    total = sum(len(p.points) for p in polygons)
    if total > MAX_TOTAL_POINTS:
        raise ValueError(f"labels hold {total} points, more than {MAX_TOTAL_POINTS}")
