"""Convert DeepFaceLab aligned faces (JPEG + pickled APP15 metadata) into recast aligned faces.

>>> from recast.faceset.dfl import import_dfl
>>> result = import_dfl("workspace/data_src/aligned", "ws/data_src/aligned")
>>> len(result.converted), result.skipped

DeepFaceLab's metadata (see ``docs/architecture.md``) is read with
:func:`recast.faceset.plainpickle.load_plain`, which builds plain data only: a file whose pickle
asks for anything else is skipped, and nothing in it runs. The face pixels are kept byte for byte:
DeepFaceLab's face types use the same template and paddings as recast's (``whole_face`` covers what
``whole`` does), so only the metadata segment is replaced.

Converted: face type, aligned and source landmarks, the frame → face matrix, detector box, source
file name, the brow expansion, the applied XSeg mask and the XSeg polygons (as the face's XSeg
labels, :mod:`recast.faces.labels`, and drawn into the mask when no applied mask exists). Pose is
recomputed. DeepFaceLab does not store the source frame size; it is read from the frame in
``frames`` when there (needed for merging, not for training).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from recast.atomic import atomic_write_bytes, read_regular
from recast.errors import InputError, OptionError, RecastError
from recast.faces.aligned import embed_metadata, meta_from_bytes, strip_foreign_metadata
from recast.faces.facetype import FaceType
from recast.faces.labels import MAX_POLYGONS, Polygon, check_polygons, labels_mask, polygon
from recast.faces.metadata import FaceMeta
from recast.faces.pose import estimate_pose
from recast.faceset.files import ProgressCallback, natural_key
from recast.faceset.plainpickle import load_plain
from recast.media.images import decode_image, image_size

log = logging.getLogger(__name__)

#: DeepFaceLab face-type strings recast converts; the ``*_no_align`` and ``mark_only`` types have no equivalent.
FACE_TYPES = {
    "half_face": FaceType.HALF, "midfull_face": FaceType.MID, "full_face": FaceType.FULL,
    "whole_face": FaceType.WHOLE, "head": FaceType.HEAD,
}
#: Keys of DeepFaceLab's metadata dict that are converted (others are reported as skipped).
USED_KEYS = frozenset({
    "face_type", "landmarks", "source_filename", "source_rect", "source_landmarks", "image_to_face_mat",
    "eyebrows_expand_mod", "seg_ie_polys", "xseg_mask",
})
_APP15 = 0xEF


@dataclass
class DflImportResult:
    """What :func:`import_dfl` did.

    ``converted``: written files. ``skipped``: file name → reason (not a DeepFaceLab face, hostile
    or unreadable metadata, a face type recast lacks …). ``ignored_keys``: metadata keys recast does
    not use, with how many faces had each. ``without_frame_size``: faces whose source frame was not
    found (their ``source_size`` is 0×0: fine for training, merging needs the frames).
    """

    output: Path
    converted: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    ignored_keys: Counter = field(default_factory=Counter)
    without_frame_size: int = 0


def dfl_metadata(data: bytes) -> dict[str, Any] | None:
    """The DeepFaceLab metadata dict of a JPEG, read as plain data; None when it has none.

    Raises:
        ValueError: not a JPEG, or metadata that is not plain data (refused unrun).
    """
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG (DeepFaceLab aligned faces are .jpg)")
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (0xDA, 0xD9):
            break
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2:
            raise ValueError("corrupt JPEG segment")
        payload = data[pos + 4 : pos + 2 + length]
        if marker == _APP15 and payload[:1] == b"\x80":
            value = load_plain(payload)
            if not isinstance(value, dict):
                raise ValueError("metadata is not a dict")
            return value
        pos += 2 + length
    return None


def import_dfl(
    folder: str | Path, out_dir: str | Path | None = None, frames: str | Path | None = None,
    on_progress: ProgressCallback | None = None,
) -> DflImportResult:
    """Convert every DeepFaceLab face of ``folder`` into ``out_dir`` (default ``<folder>_recast``).

    Args:
        folder: DeepFaceLab ``aligned`` folder (``.jpg`` files).
        out_dir: output folder; existing files there are never replaced.
        frames: folder of the source frames, for their sizes (default: ``folder``'s parent, where
            DeepFaceLab keeps them).
        on_progress: called as ``(files done, files total)``.

    Raises:
        InputError: ``folder`` missing or without ``.jpg`` files, or ``out_dir`` is ``folder``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "no such folder")
    out = Path(out_dir) if out_dir is not None else folder.with_name(folder.name + "_recast")
    if out.resolve() == folder.resolve():
        raise OptionError(f"--output {out}: must differ from the DeepFaceLab folder (its files are kept as they are)")
    paths = sorted((p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg")),
                   key=lambda p: natural_key(p.name))
    if not paths:
        hint = "; it holds faceset.pak: unpack it with DeepFaceLab first" if (folder / "faceset.pak").exists() else ""
        raise InputError(folder, "holds no .jpg aligned faces" + hint)
    frame_dir = Path(frames) if frames is not None else folder.parent
    result = DflImportResult(out)
    out.mkdir(parents=True, exist_ok=True)
    for index, path in enumerate(paths):
        target = out / path.name
        try:
            if target.exists():
                raise ValueError(f"{target} already exists (not replaced)")
            data = read_regular(path)
            raw = dfl_metadata(data)
            if raw is None:
                raise ValueError("no DeepFaceLab metadata")
            meta, ignored = _convert(raw, data)
            size = _frame_size(frame_dir, meta.source_filename)
            if size is not None:
                meta.source_size = size
            converted = embed_metadata(strip_foreign_metadata(data), meta)
            meta_from_bytes(converted, target)
        except (OSError, ValueError, TypeError, OverflowError, RecastError) as error:
            result.skipped[path.name] = str(error)
            log.warning("%s: skipped (%s)", path, error)
        else:
            result.without_frame_size += size is None
            atomic_write_bytes(target, converted)
            result.converted.append(target)
            result.ignored_keys.update(ignored)
        if on_progress is not None:
            on_progress(index + 1, len(paths))
    return result


def _convert(raw: dict[str, Any], data: bytes) -> tuple[FaceMeta, list[str]]:
    """Build recast metadata from DeepFaceLab's dict; raises ValueError naming the missing or bad key."""
    face_type_name = raw.get("face_type", "full_face")
    if face_type_name not in FACE_TYPES:
        raise ValueError(f"face type {face_type_name!r} has no recast equivalent")
    side = decode_image(data, "the face image").shape[1]
    landmarks = _array(raw, "landmarks", (68, 2))
    matrix = _array(raw, "image_to_face_mat", (2, 3)) if raw.get("image_to_face_mat") is not None else None
    source = _array(raw, "source_landmarks", (68, 2)) if raw.get("source_landmarks") is not None else None
    if matrix is None and source is None:
        raise ValueError("neither source_landmarks nor image_to_face_mat: the face cannot be placed in its frame")
    if matrix is None:
        assert source is not None
        matrix, _ = cv2.estimateAffinePartial2D(source, landmarks)
        if matrix is None:
            raise ValueError("source_landmarks do not fit the aligned landmarks")
    if source is None:
        inverse = cv2.invertAffineTransform(matrix)
        source = landmarks @ inverse[:, :2].T + inverse[:, 2]
    rect = raw.get("source_rect")
    rect_values = _array(raw, "source_rect", (4,)) if rect is not None else np.concatenate(
        [source.min(axis=0), source.max(axis=0)])
    polygons = _polygons(raw.get("seg_ie_polys"), (side, side))
    extra: dict[str, Any] = {"imported_from": "deepfacelab"}
    meta = FaceMeta(
        face_type=FACE_TYPES[face_type_name],
        landmarks=landmarks.astype(np.float32),
        source_landmarks=source.astype(np.float32),
        source_rect=tuple(float(v) for v in rect_values),  # type: ignore[arg-type]
        source_filename=_filename(raw.get("source_filename")),
        source_size=(0, 0),
        image_to_face_mat=matrix.astype(np.float64),
        pose=estimate_pose(landmarks, (side, side)),
        detector="deepfacelab",
        eyebrows_expand=float(_number(raw.get("eyebrows_expand_mod", 1.0), "eyebrows_expand_mod")),
        xseg_mask=_xseg_mask(raw.get("xseg_mask"), polygons, side),
        xseg_labels=polygons,
        extra=extra,
    )
    return meta, sorted(str(key) for key in raw if key not in USED_KEYS)


def _array(raw: dict[str, Any], key: str, shape: tuple[int, ...]) -> np.ndarray:
    try:
        array = np.asarray(raw[key], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{key} is missing or not numbers") from None
    if array.shape != shape or not np.all(np.isfinite(array)):
        raise ValueError(f"{key} has shape {array.shape} (expected {shape}) or non-finite values")
    return array


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ValueError(f"{key} is not a finite number")
    return float(value)


def _filename(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 1024:
        raise ValueError("source_filename is not a short string")
    name = Path(value.replace("\\", "/")).name
    if name in ("", ".", "..") or any(ord(c) < 32 for c in name):
        raise ValueError(f"source_filename {value[:40]!r} is not a plain file name")
    return name


def _polygons(value: Any, face_size: tuple[int, int]) -> list[Polygon]:
    """``seg_ie_polys`` (``{'polys': [...]}`` or the legacy list of ``(type, pts)``) → validated polygons
    (type 1 = include); polygons with fewer than 3 points are dropped, as DeepFaceLab ignores them."""
    if value is None:
        return []
    items = value.get("polys", []) if isinstance(value, dict) else value
    if not isinstance(items, (list, tuple)) or len(items) > MAX_POLYGONS:
        raise ValueError(f"seg_ie_polys is not a list of at most {MAX_POLYGONS} polygons")
    polygons = []
    for item in items:
        try:
            kind, points = (item.get("type"), item.get("pts")) if isinstance(item, dict) else tuple(item)[:2]
            pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        except (TypeError, ValueError, OverflowError):
            raise ValueError("seg_ie_polys holds a polygon that is not a list of points") from None
        if len(pts) >= 3:
            polygons.append(polygon(kind == 1, pts, face_size))
    return check_polygons(polygons, face_size)


def _xseg_mask(value: Any, polygons: list[Polygon], side: int) -> np.ndarray | None:
    """The applied XSeg mask (encoded image bytes), else the polygons drawn in order."""
    if value is not None:
        if isinstance(value, np.ndarray) and value.dtype == np.uint8:
            value = value.tobytes()
        if not isinstance(value, bytes):
            raise ValueError("xseg_mask is not an encoded image")
        mask = decode_image(value, "xseg_mask", cv2.IMREAD_GRAYSCALE)
        return (mask >= 128).astype(np.float32)
    if not polygons:
        return None
    return labels_mask(polygons, (side, side))


def _frame_size(frame_dir: Path, name: str) -> tuple[int, int] | None:
    if not name:
        return None
    path = frame_dir / name
    if not path.is_file():
        return None
    with open(path, "rb") as file:
        return image_size(file.read(1 << 16))
