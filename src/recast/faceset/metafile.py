"""Export a faceset's metadata to one JSON file, and put it back onto edited images.

Editing an aligned face in an image editor usually strips recast's embedded metadata. Export it
first (``metadata.json`` in the folder), edit or even resize the images, then import: each image
gets its entry back, with landmarks and the crop matrix scaled by the image's new size.

File layout::

    {"format": "recast.faceset-metadata", "version": 1,
     "faces": {"00001_0.jpg": {"width": 512, "height": 512, "meta": {…FaceMeta JSON…}}, …}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recast.atomic import atomic_write_bytes, atomic_write_text
from recast.errors import InputError, MetadataError
from recast.faces.aligned import embed_metadata, read_meta
from recast.faces.labels import transform_labels
from recast.faces.metadata import FaceMeta
from recast.faceset.files import list_faces
from recast.media.images import image_size
from recast.options import strictjson

DEFAULT_NAME = "metadata.json"
FORMAT = "recast.faceset-metadata"
VERSION = 1


@dataclass
class ImportResult:
    """What :func:`import_metadata` did."""

    updated: list[str] = field(default_factory=list)
    rescaled: list[str] = field(default_factory=list)
    not_in_file: list[str] = field(default_factory=list)
    missing_images: list[str] = field(default_factory=list)


def export_metadata(folder: str | Path, target: Path | None = None) -> tuple[Path, int, list[str]]:
    """Write the metadata of every face of ``folder`` to ``target`` (default ``folder/metadata.json``).

    Returns ``(path, faces exported, files without metadata)``.
    """
    folder = Path(folder)
    target = target or folder / DEFAULT_NAME
    faces, skipped = {}, []
    for path in list_faces(folder):
        try:
            meta = read_meta(path)
        except MetadataError:
            skipped.append(path.name)
            continue
        width, height = image_size(path.read_bytes()) or (0, 0)
        faces[path.name] = {"width": width, "height": height, "meta": meta.to_json()}
    if not faces:
        raise InputError(folder, "holds no aligned faces with metadata to export")
    atomic_write_text(target, json.dumps({"format": FORMAT, "version": VERSION, "faces": faces}))
    return target, len(faces), skipped


def scale_meta(meta: FaceMeta, sx: float, sy: float) -> FaceMeta:
    """Metadata for the same face in an image scaled by ``(sx, sy)``: landmarks, XSeg labels and the
    frame → face matrix scaled; source-frame values unchanged."""
    scale = np.diag([sx, sy])
    meta.xseg_labels = transform_labels(meta.xseg_labels, np.array([[sx, 0.0, 0.0], [0.0, sy, 0.0]]))
    meta.landmarks = (np.asarray(meta.landmarks, dtype=np.float64) * [sx, sy]).astype(np.float32)
    meta.image_to_face_mat = scale @ np.asarray(meta.image_to_face_mat, dtype=np.float64)
    return meta


def import_metadata(folder: str | Path, source: Path | None = None) -> ImportResult:
    """Embed the exported metadata back into the images of ``folder`` (pixels are not re-encoded).

    Raises:
        InputError: the metadata file is missing or not a recast metadata export.
    """
    folder = Path(folder)
    source = source or folder / DEFAULT_NAME
    try:
        data = strictjson.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(source, "no such file (export the metadata first)") from None
    except (OSError, ValueError) as error:
        raise InputError(source, f"not a readable metadata export ({error})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("faces"), dict):
        raise InputError(source, "not a recast faceset metadata export")
    result = ImportResult()
    present = {p.name: p for p in list_faces(folder)}
    planned: list[tuple[str, Path, FaceMeta]] = []
    for name, entry in data["faces"].items():  # every entry is checked before any image is written
        path = present.get(name)
        if path is None:
            result.missing_images.append(name)
            continue
        try:
            meta = FaceMeta.from_json(entry["meta"])
            old_w, old_h = int(entry["width"]), int(entry["height"])
        except (KeyError, TypeError, ValueError, OverflowError) as error:
            raise MetadataError(source, f"entry {name!r} is invalid: {error}") from None
        raw = path.read_bytes()
        size = image_size(raw)
        if size is None:
            raise InputError(path, "not a JPEG or PNG image")
        if old_w > 0 and old_h > 0 and size != (old_w, old_h):
            meta = scale_meta(meta, size[0] / old_w, size[1] / old_h)
            result.rescaled.append(name)
        try:
            embed_metadata(raw, meta)  # a trial: refuse before anything is written
        except ValueError as error:
            raise InputError(path, f"cannot embed metadata: {error}") from None
        planned.append((name, path, meta))
    for name, path, meta in planned:
        atomic_write_bytes(path, embed_metadata(path.read_bytes(), meta))
        result.updated.append(name)
    result.not_in_file = sorted(set(present) - set(data["faces"]))
    return result
