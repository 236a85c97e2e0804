"""Compositing export: merged faces as RGBA layers plus JSON placement, for VFX tools.

For every merged face ``<frame stem>_<face index>`` three files are written:

* ``…_face.png``: the predicted face after colour transfer in crop space (``R × R``), alpha = the
  processed mask;
* ``…_patch.png``: the face layer warped into frame orientation, alpha = its mask; place its
  top-left corner at ``(x, y)`` of the frame and composite "over" the original frame;
* ``….json``: frame name and size, patch position and size, and the ``crop_to_frame`` /
  ``frame_to_crop`` affine matrices (2 × 3, pixel centres at integer coordinates, OpenCV
  convention) to place the ``_face.png`` yourself.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from recast.atomic import atomic_write_bytes, atomic_write_text
from recast.faces.alignment import invert_affine
from recast.media.images import FAST_PNG_PARAMS
from recast.merge.blend import FacePatch

EXPORT_FORMAT = "recast.merge-patch"


def rgba_png(image: np.ndarray, alpha: np.ndarray) -> bytes:
    """PNG bytes of ``image (H, W, 3)`` float32 BGR [0, 1] with ``alpha (H, W)`` float32 [0, 1]."""
    bgra = np.dstack([image, alpha[..., None]])
    encoded = np.clip(bgra * 255.0 + 0.5, 0, 255).astype(np.uint8)
    ok, data = cv2.imencode(".png", encoded, FAST_PNG_PARAMS)
    if not ok:
        raise ValueError("could not encode an RGBA PNG")
    return data.tobytes()


def export_patch(
    folder: str | Path, frame_name: str, index: int, patch: FacePatch, frame_size: tuple[int, int]
) -> list[Path]:
    """Write the three files of one merged face into ``folder``; returns their paths.

    Args:
        folder: export folder (created if needed).
        frame_name: the frame's file name, e.g. ``00012.png``.
        index: the face's index within the frame.
        patch: the merged face (from :func:`recast.merge.blend.merge_frame`).
        frame_size: ``(width, height)`` of the frame.
    """
    folder = Path(folder)
    stem = f"{Path(frame_name).stem}_{index}"
    face_path, patch_path, json_path = (
        folder / f"{stem}_face.png", folder / f"{stem}_patch.png", folder / f"{stem}.json"
    )
    atomic_write_bytes(face_path, rgba_png(patch.face, patch.face_alpha))
    atomic_write_bytes(patch_path, rgba_png(patch.layer, patch.alpha))
    height, width = patch.alpha.shape
    crop_to_frame = np.asarray(patch.crop_to_frame, np.float64)
    info = {
        "format": EXPORT_FORMAT,
        "version": 1,
        "frame": frame_name,
        "frame_size": [int(frame_size[0]), int(frame_size[1])],
        "face": face_path.name,
        "face_size": int(patch.face.shape[0]),
        "patch": patch_path.name,
        "x": int(patch.x),
        "y": int(patch.y),
        "width": int(width),
        "height": int(height),
        "crop_to_frame": crop_to_frame.tolist(),
        "frame_to_crop": invert_affine(crop_to_frame).tolist(),
    }
    atomic_write_text(json_path, json.dumps(info, indent=2) + "\n")
    return [face_path, patch_path, json_path]
