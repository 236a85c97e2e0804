"""The XSeg labelling API: what a mask editor (``recast studio``) calls. Pure functions, files in, files out.

Conventions:

* a *face* is an aligned-face file (``.jpg`` / ``.png`` with recast metadata);
* images are ``(H, W, 3)`` uint8 **BGR** (OpenCV order); masks ``(H, W)`` float32 in [0, 1], 1 = face,
  in the pixels of the face image;
* labels are a list of :class:`recast.faces.labels.Polygon` in drawing order (an exclude polygon
  cuts out what earlier includes drew); points are ``(K, 2)`` float64 ``(x, y)`` in face-image
  pixels. :func:`write_labels` also takes the JSON form ``{"type": "include" | "exclude",
  "points": [[x, y], …]}`` a browser sends.

Typical editor loop::

    faces = list_faces(folder)                       # [(path, labelled?), …] in name order
    image, labels = read_face_image(path), read_labels(path)
    model = load_mask_model("workspace/model/xseg")  # once (torch loads here)
    overlay = predict_mask(model, image, read_meta(path))   # what the model gets wrong
    write_labels(path, polygons)                     # atomic; validated; InputError naming the file

Every error the user can fix is one :class:`recast.errors.InputError` line naming the file; a
refused write leaves the file as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from recast.atomic import atomic_write_bytes
from recast.errors import InputError
from recast.faces.aligned import embed_metadata, read_face, read_meta
from recast.faces.labels import Polygon, check_polygons, labels_mask, polygon
from recast.faceset.files import list_faces as _face_files
from recast.media.images import image_size

if TYPE_CHECKING:
    from recast.faces.metadata import FaceMeta
    from recast.models.xseg_inference import XSegPredictor

__all__ = ["Polygon", "label_mask", "list_faces", "load_mask_model", "predict_mask", "read_face_image",
           "read_labels", "read_meta", "write_labels"]


def list_faces(folder: str | Path) -> list[tuple[Path, bool]]:
    """``(face path, has labels)`` for every face of ``folder``, in natural name order (next / previous /
    next unlabelled are index steps in this list)."""
    return [(path, bool(read_meta(path).xseg_labels)) for path in _face_files(folder)]


def read_face_image(face_path: str | Path) -> np.ndarray:
    """The face image, ``(H, W, 3)`` uint8 BGR."""
    return read_face(face_path).image


def read_labels(face_path: str | Path) -> list[Polygon]:
    """The face's labels in drawing order (empty when unlabelled)."""
    return read_meta(face_path).xseg_labels


def write_labels(face_path: str | Path, polygons: list[Polygon] | list[dict[str, Any]]) -> None:
    """Replace the face's labels with ``polygons`` (an empty list removes them), atomically.

    Raises:
        InputError: naming the file, for a polygon with non-finite, too many or far-away points,
            too many polygons, or an unreadable face; the file is then unchanged.
    """
    path = Path(face_path)
    data = _read(path)
    size = image_size(data)
    meta = read_meta(path)
    try:
        items = [polygon(item.get("type") == "include", item.get("points"), size) if isinstance(item, dict)
                 else item for item in polygons]
        if any(isinstance(item, dict) and item.get("type") not in ("include", "exclude") for item in polygons):
            raise ValueError("a polygon's type is not 'include' or 'exclude'")
        meta.xseg_labels = check_polygons(items, size)  # type: ignore[arg-type]
        encoded = embed_metadata(data, meta)
    except (ValueError, TypeError) as error:
        raise InputError(path, f"labels refused: {error}") from None
    atomic_write_bytes(path, encoded)


def label_mask(face_path: str | Path) -> np.ndarray:
    """The face's labels drawn as a mask ``(H, W)`` float32 0/1 (all zeros when unlabelled)."""
    path = Path(face_path)
    size = image_size(_read(path))
    if size is None:
        raise InputError(path, "not a JPEG or PNG image")
    return labels_mask(read_labels(path), (size[1], size[0]))


def load_mask_model(model_dir: str | Path, device: str = "cpu") -> XSegPredictor:
    """A trained XSeg model folder, ready for :func:`predict_mask` (keep it; loading costs ~0.1–1 s)."""
    from recast.models.xseg_inference import XSegPredictor

    return XSegPredictor.load(model_dir, device)


def predict_mask(model: XSegPredictor, face_image: np.ndarray, meta: FaceMeta | None = None) -> np.ndarray:
    """The model's mask of one face, ``(H, W)`` float32 in [0, 1] in the pixels of ``face_image``.

    Args:
        model: from :func:`load_mask_model`.
        face_image: ``(H, W, 3)`` uint8 BGR.
        meta: the face's metadata (:func:`read_meta`): the face is re-cropped to the model's face
            type through its landmarks. Without it the image is taken to be cropped as the model's
            face type already, and is only resized.
    """
    image = np.asarray(face_image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"face_image must be (H, W, 3) uint8 BGR, got {image.shape} {image.dtype}")
    if meta is not None:
        return model.face_mask(image, meta)
    height, width = image.shape[:2]
    side = model.resolution
    crop = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    mask = model.predict(crop[None])[0]
    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror or error}") from None
