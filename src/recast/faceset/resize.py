"""Resize a faceset (and optionally change its face type) by re-cropping each face.

For every face the source frame is looked up by ``source_filename`` (in ``frames`` if given, else
the aligned folder's parent). When it is there the new crop is cut from the frame, at full
quality. Otherwise it is cut from the stored aligned image, re-aligned on its landmarks: a
tighter face type can be cut from a wider one (``whole`` → ``full``), never the reverse.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from recast.errors import InputError, OptionError
from recast.faces.aligned import read_face, write_face
from recast.faces.alignment import invert_affine, transform_matrix, transform_points
from recast.faces.facetype import FaceType
from recast.faces.labels import transform_labels
from recast.faces.metadata import FaceMeta
from recast.faceset.files import ProgressCallback, require_faces


@dataclass
class ResizeResult:
    """Where the faces went and how many were cut from source frames vs. the aligned images."""

    output: Path
    from_frames: int = 0
    from_aligned: int = 0
    backup: Path | None = None
    written: list[str] = field(default_factory=list)


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """``(2, 3)`` affine equal to applying ``inner`` then ``outer``."""
    a = np.vstack([np.asarray(outer, dtype=np.float64)[:2], [0, 0, 1]])
    b = np.vstack([np.asarray(inner, dtype=np.float64)[:2], [0, 0, 1]])
    return (a @ b)[:2]


def recrop(
    image: np.ndarray, meta: FaceMeta, size: int, face_type: FaceType, frame: np.ndarray | None = None
) -> tuple[np.ndarray, FaceMeta]:
    """Cut a ``size`` px ``face_type`` crop: from ``frame`` (the source frame) if given, else from the
    aligned ``image``. Returns the new ``(size, size, 3)`` uint8 BGR image and its metadata.

    Raises:
        OptionError: no frame and ``face_type`` is wider than the stored one.
    """
    mask = meta.xseg_mask
    if frame is not None:
        mat = transform_matrix(meta.source_landmarks, size, face_type)
        out = cv2.warpAffine(frame, mat, (size, size), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REPLICATE)
        step = compose(mat, invert_affine(meta.image_to_face_mat))  # old aligned → new aligned, for the mask
    else:
        if not meta.face_type.covers(face_type):
            raise OptionError(f"cannot cut a '{face_type.value}' face from a '{meta.face_type.value}' one "
                              "without its source frame (give --frames)")
        step = transform_matrix(meta.landmarks, size, face_type)
        out = cv2.warpAffine(image, step, (size, size), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REPLICATE)
        mat = compose(step, meta.image_to_face_mat)
    if mask is not None:
        old = image.shape[0]
        scaled = cv2.resize(mask, (old, old), interpolation=cv2.INTER_LINEAR)
        mask = cv2.warpAffine(scaled, step, (size, size), flags=cv2.INTER_LINEAR)
    new = FaceMeta(
        face_type=face_type, landmarks=transform_points(meta.landmarks, step).astype(np.float32),
        source_landmarks=meta.source_landmarks, source_rect=meta.source_rect, source_filename=meta.source_filename,
        source_size=meta.source_size, image_to_face_mat=mat, pose=meta.pose, detector=meta.detector,
        detector_score=meta.detector_score, embedding=meta.embedding, xseg_mask=mask,
        xseg_labels=transform_labels(meta.xseg_labels, step),
        eyebrows_expand=meta.eyebrows_expand, extra=dict(meta.extra),
    )
    return out, new


def _find_frame(name: str, places: list[Path]) -> Path | None:
    for place in places:
        candidate = place / Path(name).name  # never a path outside the frame folders
        if candidate.is_file():
            return candidate
    return None


def resize_faceset(
    folder: str | Path, size: int, face_type: FaceType | None = None, frames: Path | None = None,
    in_place: bool = False, output: Path | None = None, jpeg_quality: int = 95,
    on_progress: ProgressCallback | None = None,
) -> ResizeResult:
    """Re-crop every face of ``folder`` at ``size`` px (and ``face_type``; default: keep each face's).

    Writes to ``output`` (default ``<folder>_<size>``), refusing to overwrite files there; with
    ``in_place`` the originals are first copied to ``<folder>_backup`` (a new name if that exists)
    and then replaced atomically.

    Raises:
        OptionError: size out of range, or a wider face type than stored without source frames.
        InputError: no faces, a file that is not an aligned face, or output files already present.
    """
    folder = Path(folder)
    if not 64 <= size <= 4096:
        raise OptionError(f"--size {size}: must be between 64 and 4096")
    paths = require_faces(folder)
    places = [p for p in (frames, folder.parent) if p is not None]
    if frames is not None and not frames.is_dir():
        raise InputError(frames, "no such folder (--frames)")
    faces = []
    for path in paths:
        meta = read_face(path).meta
        wanted = face_type or meta.face_type
        frame_path = _find_frame(meta.source_filename, places) if meta.source_filename else None
        if frame_path is None and not meta.face_type.covers(wanted):
            raise OptionError(f"{path}: is a '{meta.face_type.value}' face and its source frame "
                              f"{meta.source_filename or '?'} was not found; cannot cut a wider "
                              f"'{wanted.value}' face (give --frames)")
        faces.append((path, wanted, frame_path))
    result = ResizeResult(output=folder if in_place else (output or folder.with_name(f"{folder.name}_{size}")))
    if in_place:
        result.backup = _backup(folder, paths)
    else:
        clashes = [p.name for p in paths if (result.output / p.name).exists()]
        if clashes:
            raise InputError(result.output / clashes[0], "already exists; refusing to overwrite (choose --output)")
    for i, (path, wanted, frame_path) in enumerate(faces):
        face = read_face(path)
        frame = None
        if frame_path is not None:
            from recast.media.images import read_image

            frame = read_image(frame_path)
        image, meta = recrop(face.image, face.meta, size, wanted, frame)
        write_face(result.output / path.name, image, meta, jpeg_quality)
        result.written.append(path.name)
        if frame is not None:
            result.from_frames += 1
        else:
            result.from_aligned += 1
        if on_progress is not None:
            on_progress(i + 1, len(faces))
    return result


def _backup(folder: Path, paths: list[Path]) -> Path:
    backup, n = folder.with_name(f"{folder.name}_backup"), 1
    while backup.exists():
        n += 1
        backup = folder.with_name(f"{folder.name}_backup{n}")
    backup.mkdir()
    for path in paths:
        shutil.copy2(path, backup / path.name)
    return backup
