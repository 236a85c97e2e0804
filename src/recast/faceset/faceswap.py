"""Convert FaceSwap's extracted faces (PNG + ``faceswap`` iTXt header) into recast aligned faces.

>>> from recast.faceset.faceswap import import_faceswap
>>> result = import_faceswap("faces_A", "ws/data_src/aligned", frames="frames_A")

FaceSwap writes each face's alignment into a PNG ``iTXt`` chunk with keyword ``faceswap``, as a
Python literal dict: ``alignments`` (box ``x, y, w, h``, ``landmarks_xy`` in frame pixels,
``mask`` by name) and ``source`` (frame file name, frame size, face index). It is parsed with
:func:`ast.literal_eval`, which builds literals only and calls nothing.

FaceSwap crops faces with its own centering, so recast re-crops each face as a recast face type
from the frame landmarks: from the source frame when ``frames`` holds it (exact), otherwise from
the FaceSwap crop itself, placed in the frame by fitting dlib's 68 landmarks found in the crop to
the stored frame landmarks (parts of the new crop outside FaceSwap's repeat its border). The
stored mask (a learned one when there is one) becomes the XSeg mask.
"""

from __future__ import annotations

import ast
import logging
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from recast.atomic import atomic_write_bytes, read_regular
from recast.errors import InputError, OptionError, RecastError
from recast.faces.aligned import encode_face, meta_from_bytes, png_itxt
from recast.faces.alignment import invert_affine, transform_matrix, transform_points
from recast.faces.facetype import FaceType, parse_face_type
from recast.faces.metadata import FaceMeta
from recast.faces.pose import estimate_pose
from recast.faceset.files import ProgressCallback, natural_key
from recast.media.images import decode_image, read_image

log = logging.getLogger(__name__)

KEYWORD = b"faceswap"
#: Mask names preferred for the XSeg mask, learned masks first.
MASK_PREFERENCE = ("bisenet-fp_face", "bisenet-fp_head", "vgg-obstructed", "vgg-clear", "unet-dfl", "custom_face",
                   "custom_head", "components", "extended")
_MAX_HEADER_BYTES = 4 << 20
_MAX_MASK_SIDE = 2048
#: A crop is placed from its own landmarks only when the fit's mean residual is below this share of its side.
_MAX_FIT_ERROR = 0.04


@dataclass
class FaceswapImportResult:
    """What :func:`import_faceswap` did: written files, skipped files with reasons, how faces were placed."""

    output: Path
    converted: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    from_frames: int = 0
    from_crops: int = 0
    masks: Counter = field(default_factory=Counter)


def faceswap_header(data: bytes) -> dict[str, Any] | None:
    """FaceSwap's header dict of a PNG, parsed as literals only; None when there is none.

    Raises:
        ValueError: not a PNG, or a header that is not a literal dict.
    """
    text = png_itxt(data, KEYWORD, _MAX_HEADER_BYTES)
    if text is None:
        return None
    try:
        value = ast.literal_eval(text.decode("utf-8"))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError, UnicodeDecodeError) as error:
        raise ValueError(f"header is not a plain literal ({type(error).__name__}); refused unrun") from None
    if not isinstance(value, dict):
        raise ValueError("header is not a dict")
    return value


def import_faceswap(
    folder: str | Path, out_dir: str | Path | None = None, frames: str | Path | None = None,
    face_type: str | FaceType = FaceType.WHOLE, size: int = 512, on_progress: ProgressCallback | None = None,
) -> FaceswapImportResult:
    """Convert every FaceSwap face PNG of ``folder`` into recast faces in ``out_dir`` (default ``<folder>_recast``).

    Args:
        folder: FaceSwap faces folder (``.png`` with ``faceswap`` headers).
        out_dir: output folder; existing files there are never replaced.
        frames: folder of the source frames (exact re-crops); faces whose frame is not there are
            re-cropped from the FaceSwap crop.
        face_type: recast face type of the new crops. size: their side, 64–2048.
        on_progress: called as ``(files done, files total)``.

    Raises:
        InputError: ``folder`` missing or without PNG files. OptionError: bad size, face type or output.
    """
    folder = Path(folder)
    kind = parse_face_type(face_type)
    if not 64 <= size <= 2048:
        raise OptionError(f"--size {size}: must be between 64 and 2048")
    if not folder.is_dir():
        raise InputError(folder, "no such folder")
    out = Path(out_dir) if out_dir is not None else folder.with_name(folder.name + "_recast")
    if out.resolve() == folder.resolve():
        raise OptionError(f"--output {out}: must differ from the FaceSwap folder (its files are kept as they are)")
    paths = sorted((p for p in folder.iterdir() if p.suffix.lower() == ".png"), key=lambda p: natural_key(p.name))
    if not paths:
        raise InputError(folder, "holds no .png faces (FaceSwap writes its faces as PNG)")
    frame_dir = Path(frames) if frames is not None else None
    result = FaceswapImportResult(out)
    placer = _CropPlacer()
    out.mkdir(parents=True, exist_ok=True)
    for index, path in enumerate(paths):
        target = out / f"{path.stem}.png"
        try:
            if target.exists():
                raise ValueError(f"{target} already exists (not replaced)")
            data = read_regular(path)
            header = faceswap_header(data)
            if header is None:
                raise ValueError("no FaceSwap header")
            image, meta, mask_name, from_frame = _convert(header, data, frame_dir, kind, size, placer)
            encoded = encode_face(image, meta, "png")
            meta_from_bytes(encoded, target)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, OverflowError,
                RecastError) as error:
            result.skipped[path.name] = str(error)
            log.warning("%s: skipped (%s)", path, error)
        else:
            atomic_write_bytes(target, encoded)
            result.converted.append(target)
            result.from_frames += from_frame
            result.from_crops += not from_frame
            if mask_name:
                result.masks[mask_name] += 1
        if on_progress is not None:
            on_progress(index + 1, len(paths))
    return result


class _CropPlacer:
    """Finds where a FaceSwap crop sits in its frame: dlib landmarks in the crop, fitted to the frame's."""

    def __init__(self) -> None:
        self._landmarker: Any = None

    def frame_to_crop(self, crop: np.ndarray, frame_points: np.ndarray) -> np.ndarray:
        """``(2, 3)`` similarity mapping frame pixels to ``crop`` pixels; raises ValueError when it does not fit."""
        from recast.extract.landmarks import DlibLandmarker, to_rgb

        if self._landmarker is None:
            self._landmarker = DlibLandmarker()
        height, width = crop.shape[:2]
        box = (0.1 * width, 0.1 * height, 0.9 * width, 0.9 * height)
        found = self._landmarker.landmarks(to_rgb(crop), box).astype(np.float64)
        matrix, _ = cv2.estimateAffinePartial2D(frame_points, found)
        if matrix is None:
            raise ValueError("the face could not be located in the FaceSwap crop")
        error = float(np.linalg.norm(transform_points(frame_points, matrix) - found, axis=1).mean())
        if error > _MAX_FIT_ERROR * max(width, height):
            raise ValueError("the face could not be located in the FaceSwap crop (give --frames)")
        return matrix


def _convert(
    header: dict[str, Any], data: bytes, frame_dir: Path | None, kind: FaceType, size: int, placer: _CropPlacer,
) -> tuple[np.ndarray, FaceMeta, str | None, bool]:
    alignments, source = header["alignments"], header.get("source", {})
    if not isinstance(alignments, dict) or not isinstance(source, dict):
        raise ValueError("alignments or source is not a dict")
    points = np.asarray(alignments["landmarks_xy"], dtype=np.float64)
    if points.shape != (68, 2) or not np.all(np.isfinite(points)):
        raise ValueError(f"landmarks of shape {points.shape}: recast needs 68 points")
    name = Path(str(source.get("source_filename", "")).replace("\\", "/")).name
    height, width = (int(v) for v in source.get("source_frame_dims", (0, 0)))
    to_face = transform_matrix(points, size, kind)
    frame_path = frame_dir / name if frame_dir is not None and name else None
    from_frame = frame_path is not None and frame_path.is_file()
    if from_frame:
        assert frame_path is not None
        frame = read_image(frame_path)
        height, width = frame.shape[:2]
        image = cv2.warpAffine(frame, to_face, (size, size), flags=cv2.INTER_LANCZOS4,
                               borderMode=cv2.BORDER_REPLICATE)
    else:
        crop = decode_image(data, "the FaceSwap crop")
        crop_to_face = _compose(to_face, invert_affine(placer.frame_to_crop(crop, points)))
        image = cv2.warpAffine(crop, crop_to_face, (size, size), flags=cv2.INTER_LANCZOS4,
                               borderMode=cv2.BORDER_REPLICATE)
    mask_name, mask = _mask(alignments.get("mask", {}), to_face, size, points)
    landmarks = transform_points(points, to_face)
    box = [float(alignments.get(k, 0)) for k in ("x", "y", "w", "h")]
    if not np.all(np.isfinite(box)):
        raise ValueError("source_rect: the box (x, y, w, h) holds non-finite numbers")
    meta = FaceMeta(
        face_type=kind,
        landmarks=landmarks.astype(np.float32),
        source_landmarks=points.astype(np.float32),
        source_rect=(box[0], box[1], box[0] + box[2], box[1] + box[3]),
        source_filename=name,
        source_size=(width, height),
        image_to_face_mat=to_face,
        pose=estimate_pose(landmarks, (size, size)),
        detector="faceswap",
        xseg_mask=mask,
        extra={"imported_from": "faceswap", **({"faceswap_mask": mask_name} if mask_name else {})},
    )
    return image, meta, mask_name, from_frame


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The ``(2, 3)`` affine doing ``inner`` then ``outer``."""
    full = np.vstack([np.asarray(outer, np.float64), [0.0, 0.0, 1.0]]) @ np.vstack([inner, [0.0, 0.0, 1.0]])
    return full[:2]


def _mask(masks: Any, to_face: np.ndarray, size: int, points: np.ndarray) -> tuple[str | None, np.ndarray | None]:
    """The preferred stored mask, moved into the recast crop; (None, None) when there is none."""
    if not isinstance(masks, dict) or not masks:
        return None, None
    name = next((n for n in MASK_PREFERENCE if n in masks), sorted(masks)[0])
    entry = masks[name]
    if not isinstance(entry, dict) or not isinstance(entry.get("mask"), bytes):
        raise ValueError(f"mask {name!r} holds no compressed mask bytes")
    side = int(entry.get("stored_size", 128))
    if not 1 <= side <= _MAX_MASK_SIDE:
        raise ValueError(f"mask {name!r} has an unusable stored size {side}")
    inflater = zlib.decompressobj()
    raw = inflater.decompress(entry["mask"], side * side + 1)
    if len(raw) != side * side:
        raise ValueError(f"mask {name!r} does not hold {side}x{side} bytes")
    stored = np.frombuffer(raw, np.uint8).reshape(side, side)
    matrix = np.asarray(entry["affine_matrix"], dtype=np.float64).reshape(-1, 3)[:2]
    # FaceSwap documents the matrix as stored → frame; accept the other direction too, whichever
    # puts the face's landmarks inside the stored square.
    centre = points.mean(axis=0, keepdims=True)
    inside = transform_points(centre, matrix, invert=True)[0]
    stored_to_frame = matrix if np.all((inside >= 0) & (inside <= side)) else invert_affine(matrix)
    moved = cv2.warpAffine(stored, _compose(to_face, stored_to_frame), (size, size), flags=cv2.INTER_LINEAR)
    return name, (moved >= 128).astype(np.float32)
