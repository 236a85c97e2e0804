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

from recast.errors import InputError
from recast.faces.facetype import FaceType, parse_face_type
from recast.media.images import decode_image

FORMAT_NAME = "recast.face"
FORMAT_VERSION = 1


@dataclass
class FaceMeta:
    """Everything known about one aligned face.

    Attributes:
        face_type: coverage of the crop.
        landmarks: ``(68, 2)`` float32, aligned-image pixels.
        source_landmarks: ``(68, 2)`` float32, source-frame pixels.
        source_rect: detector box ``(left, top, right, bottom)`` in source-frame pixels.
        source_filename: frame file name, e.g. ``00012.png`` (frame 12 of a video).
        source_size: ``(width, height)`` of the source frame.
        image_to_face_mat: ``(2, 3)`` float64 affine, source frame → aligned image.
        pose: ``(pitch, yaw, roll)`` radians (see :mod:`recast.faces.pose`).
        detector: name of the detector that found the face.
        detector_score: its confidence.
        embedding: optional ``(128,)`` float32 identity embedding (dlib).
        xseg_mask: optional ``(h, w)`` float32 segmentation mask in [0, 1].
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
        return data

    @classmethod
    def from_json(cls, data: Any, max_mask_size: tuple[int, int] | None = None) -> FaceMeta:
        """Validate and build from a parsed JSON object; raises ``ValueError`` naming the bad field.

        ``max_mask_size`` ``(width, height)`` bounds the embedded XSeg mask (its face's own size);
        the mask's PNG header is checked before it is decoded, so a mask declaring a huge image
        costs nothing. Without it the mask is still bounded by the global decode limit.
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
        extra = data.get("extra", {})
        if not isinstance(extra, dict):
            raise ValueError("extra is not an object")
        return cls(
            face_type=parse_face_type(_string(data, "face_type")),
            landmarks=_points(data, "landmarks", (68, 2)).astype(np.float32),
            source_landmarks=_points(data, "source_landmarks", (68, 2)).astype(np.float32),
            source_rect=tuple(_points(data, "source_rect", (4,)).astype(float).tolist()),
            source_filename=_string(data, "source_filename"),
            source_size=tuple(int(v) for v in _points(data, "source_size", (2,))),
            image_to_face_mat=_points(data, "image_to_face_mat", (2, 3)),
            pose=tuple(_points(data, "pose", (3,)).astype(float).tolist()),
            detector=_string(data, "detector", required=False),
            detector_score=float(_number(data, "detector_score", 0.0)),
            embedding=None if embedding is None else _points(data, "embedding", (128,)).astype(np.float32),
            xseg_mask=None if mask is None else _decode_mask(mask, max_mask_size),
            eyebrows_expand=float(_number(data, "eyebrows_expand", 1.0)),
            extra=extra,
        )


def _round(points: np.ndarray) -> list:
    return np.round(np.asarray(points, dtype=np.float64), 3).tolist()


def _string(data: dict, key: str, required: bool = True) -> str:
    value = data.get(key, None if required else "")
    if not isinstance(value, str) or len(value) > 4096:
        raise ValueError(f"{key} is missing or not a short string")
    return value


def _number(data: dict, key: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{key} is not a finite number")
    return value


def _points(data: dict, key: str, shape: tuple[int, ...]) -> np.ndarray:
    value = data.get(key)
    if value is None:
        raise ValueError(f"{key} is missing")
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{key} is not an array of numbers") from None
    if array.shape != shape:
        raise ValueError(f"{key} has shape {array.shape}, expected {shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{key} holds non-finite numbers")
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
