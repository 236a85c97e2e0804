"""Aligned-face metadata: what recast stores inside every aligned face image.

The metadata is plain JSON (never pickle), validated field by field on read, so a shared
faceset cannot run code or crash the reader with odd types.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from recast.errors import InputError, OptionError
from recast.faces.facetype import FaceType, parse_face_type
from recast.faces.labels import Polygon, labels_from_json, labels_to_json
from recast.media.images import decode_image
from recast.options.strictjson import check_finite

FORMAT_NAME = "recast.face"
FORMAT_VERSION = 1
MAX_SOURCE_SIDE = 1 << 16
"""Largest source-frame width or height metadata may declare."""
MAX_COORD = 1e6
"""Bound on aligned coordinates when the face size is unknown, and on the detector score."""
MIN_MAT_DET = 1e-10
"""``image_to_face_mat``'s linear part must have ``MIN_MAT_DET <= |det| <= 1 / MIN_MAT_DET``."""


@dataclass
class FaceMeta:
    """Everything known about one aligned face.

    Attributes:
        face_type: coverage of the crop.
        landmarks: ``(68, 2)`` float32, aligned-image pixels.
        source_landmarks: ``(68, 2)`` float32, source-frame pixels.
        source_rect: detector box ``(left, top, right, bottom)`` in source-frame pixels.
        source_filename: frame file name, e.g. ``00012.png`` (frame 12 of a video).
        source_size: ``(width, height)`` of the source frame; ``(0, 0)`` when unknown (faces imported
            without their frames: fine for training, merging needs the frames).
        image_to_face_mat: ``(2, 3)`` float64 affine, source frame → aligned image.
        pose: ``(pitch, yaw, roll)`` radians (see :mod:`recast.faces.pose`).
        detector: name of the detector that found the face.
        detector_score: its confidence.
        embedding: optional ``(128,)`` float32 identity embedding (dlib).
        xseg_mask: optional ``(h, w)`` float32 segmentation mask in [0, 1], applied by an XSeg
            model (``recast xseg apply``) or imported; covers the whole aligned image.
        xseg_labels: include / exclude polygons the user drew (aligned-image pixels; see
            :mod:`recast.faces.labels`), in drawing order; empty when unlabelled.
        eyebrows_expand: brow push used for the hull mask.
        extra: free-form JSON-safe values written by tools (e.g. sort scores).
    """

    face_type: FaceType
    landmarks: np.ndarray
    source_landmarks: np.ndarray
    source_rect: tuple[float, float, float, float]
    source_filename: str
    source_size: tuple[int, int]
    image_to_face_mat: np.ndarray
    pose: tuple[float, float, float] = (0.0, 0.0, 0.0)
    detector: str = ""
    detector_score: float = 0.0
    embedding: np.ndarray | None = None
    xseg_mask: np.ndarray | None = None
    xseg_labels: list[Polygon] = field(default_factory=list)
    eyebrows_expand: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def source_frame_index(self) -> int | None:
        """Frame number parsed from ``source_filename`` (``00012.png`` → 12), or None."""
        stem = self.source_filename.rsplit(".", 1)[0]
        return int(stem) if stem.isdigit() else None

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict, with the format name and version."""
        data: dict[str, Any] = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "face_type": self.face_type.value,
            "landmarks": _round(self.landmarks),
            "source_landmarks": _round(self.source_landmarks),
            "source_rect": [round(float(v), 3) for v in self.source_rect],
            "source_filename": self.source_filename,
            "source_size": [int(v) for v in self.source_size],
            "image_to_face_mat": np.asarray(self.image_to_face_mat, dtype=np.float64).tolist(),
            "pose": [round(float(v), 6) for v in self.pose],
            "detector": self.detector,
            "detector_score": round(float(self.detector_score), 6),
            "eyebrows_expand": float(self.eyebrows_expand),
            "extra": self.extra,
        }
        if self.embedding is not None:
            data["embedding"] = [round(float(v), 7) for v in np.asarray(self.embedding).ravel()]
        if self.xseg_mask is not None:
            data["xseg_mask_png"] = _encode_mask(self.xseg_mask)
        if self.xseg_labels:
            data["xseg_labels"] = labels_to_json(self.xseg_labels)
        return data

    @classmethod
    def from_json(cls, data: Any, face_size: tuple[int, int] | None = None) -> FaceMeta:
        """Validate and build from a parsed JSON object; raises ``ValueError`` naming the bad field.

        Every number is range-checked, not only for being finite: the source frame is at most
        :data:`MAX_SOURCE_SIDE` pixels a side, source points lie within one frame size of the
        frame, aligned points within one face size of the face (``face_size``, the aligned image's
        ``(width, height)``, when known; else :data:`MAX_COORD`), the crop matrix is invertible
        with a bounded scale, and ``source_filename`` is a plain file name (no folder).

        XSeg labels (``xseg_labels``) are validated by :func:`recast.faces.labels.labels_from_json`
        (counts, finite points within one face size of the face).

        ``face_size`` also bounds the embedded XSeg mask: its PNG header is checked before it is
        decoded, so a mask declaring a huge image costs nothing. Without it the mask is still
        bounded by the global decode limit.
        """
        if not isinstance(data, dict):
            raise ValueError("metadata is not a JSON object")
        if data.get("format") != FORMAT_NAME:
            raise ValueError(f"format is {data.get('format')!r}, expected {FORMAT_NAME!r}")
        version = data.get("version")
        if not isinstance(version, int) or version < 1:
            raise ValueError("version is missing or not a positive integer")
        if version > FORMAT_VERSION:
            raise ValueError(f"version {version} is newer than this recast reads ({FORMAT_VERSION})")
        embedding = data.get("embedding")
        mask = data.get("xseg_mask_png")
        labels = data.get("xseg_labels")
        extra = data.get("extra", {})
        if not isinstance(extra, dict):
            raise ValueError("extra is not an object")
        check_finite(extra, "extra")
        try:
            face_type = parse_face_type(_string(data, "face_type"))
        except OptionError:
            raise ValueError(f"face_type {str(data.get('face_type'))[:40]!r} is not a known face type") from None
        size = _points(data, "source_size", (2,), 0, MAX_SOURCE_SIDE)
        if np.any(size != np.round(size)):
            raise ValueError("source_size is not two whole numbers")
        if np.count_nonzero(size) == 1:
            raise ValueError("source_size is 0 in one dimension only")
        frame = size if size.any() else np.full(2, MAX_SOURCE_SIDE, np.float64)  # 0×0: frame size unknown
        low, high = -frame, 2 * frame  # within one frame size of the frame
        face = np.array(face_size if face_size is not None else (MAX_COORD, MAX_COORD), np.float64)
        mat = _points(data, "image_to_face_mat", (2, 3), -MAX_COORD * 100, MAX_COORD * 100)
        if not MIN_MAT_DET <= abs(float(np.linalg.det(mat[:, :2]))) <= 1 / MIN_MAT_DET:
            raise ValueError("image_to_face_mat is not an invertible crop transform with a sane scale")
        return cls(
            face_type=face_type,
            landmarks=_points(data, "landmarks", (68, 2), -face, 2 * face).astype(np.float32),
            source_landmarks=_points(data, "source_landmarks", (68, 2), low, high).astype(np.float32),
            source_rect=tuple(_points(data, "source_rect", (4,), np.tile(low, 2), np.tile(high, 2)).tolist()),
            source_filename=_file_name(data, "source_filename"),
            source_size=(int(size[0]), int(size[1])),
            image_to_face_mat=mat,
            pose=tuple(_points(data, "pose", (3,), -2 * math.pi, 2 * math.pi).tolist()),
            detector=_string(data, "detector", required=False),
            detector_score=float(_number(data, "detector_score", 0.0, -MAX_COORD, MAX_COORD)),
            embedding=None if embedding is None else _points(data, "embedding", (128,), -100, 100).astype(np.float32),
            xseg_mask=None if mask is None else _decode_mask(mask, face_size),
            xseg_labels=[] if labels is None else labels_from_json(labels, face_size),
            eyebrows_expand=float(_number(data, "eyebrows_expand", 1.0, 0.0, 10.0)),
            extra=extra,
        )


def _round(points: np.ndarray) -> list:
    return np.round(np.asarray(points, dtype=np.float64), 3).tolist()


def _string(data: dict, key: str, required: bool = True) -> str:
    value = data.get(key, None if required else "")
    if not isinstance(value, str) or len(value) > 4096:
        raise ValueError(f"{key} is missing or not a short string")
    return value


def _file_name(data: dict, key: str) -> str:
    """A plain file name: no folder part, not ``.``/``..``, no control characters."""
    value = _string(data, key)
    if (not value or value in (".", "..") or "/" in value or "\\" in value or len(value) > 255
            or any(ord(c) < 32 for c in value)):
        raise ValueError(f"{key} is not a plain file name")
    return value


def _number(data: dict, key: str, default: float, low: float, high: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{key} is not a finite number")
    if not low <= value <= high:
        raise ValueError(f"{key} {value:g} is outside {low:g}..{high:g}")
    return value


def _points(data: dict, key: str, shape: tuple[int, ...], low: float | np.ndarray, high: float | np.ndarray
            ) -> np.ndarray:
    """A float64 array of ``shape`` whose values lie in ``low..high`` (scalars or broadcastable arrays)."""
    value = data.get(key)
    if value is None:
        raise ValueError(f"{key} is missing")
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{key} is not an array of numbers") from None
    if array.shape != shape:
        raise ValueError(f"{key} has shape {array.shape}, expected {shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{key} holds non-finite numbers")
    if np.any(array < low) or np.any(array > high):
        raise ValueError(f"{key} holds values outside the plausible range "
                         f"({float(np.min(array)):g}..{float(np.max(array)):g})")
    return array


def _encode_mask(mask: np.ndarray) -> str:
    ok, png = cv2.imencode(".png", np.clip(np.asarray(mask) * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if not ok:
        raise ValueError("could not encode the XSeg mask")
    return base64.b64encode(png.tobytes()).decode("ascii")


def _decode_mask(text: Any, max_size: tuple[int, int] | None) -> np.ndarray:
    if not isinstance(text, str):
        raise ValueError("xseg_mask_png is not a string")
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise ValueError("xseg_mask_png is not base64") from None
    if not raw.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("xseg_mask_png is not a PNG image")
    try:
        mask = decode_image(raw, "xseg_mask_png", cv2.IMREAD_GRAYSCALE, max_size)
    except InputError as error:
        raise ValueError(f"xseg_mask_png: {error.problem}") from None
    return mask.astype(np.float32) / 255.0
