"""XSeg labels in and out of the common labelling formats: LabelMe JSON and COCO polygons.

* **LabelMe**: one ``<face stem>.json`` per face (``shapes`` of ``shape_type`` ``polygon``, with
  ``imagePath``, ``imageWidth``, ``imageHeight``); the face is found by ``imagePath``'s file name,
  else by the JSON file's stem.
* **COCO**: one file with ``images`` (``id``, ``file_name``, ``width``, ``height``),
  ``annotations`` (``image_id``, ``category_id``, polygon ``segmentation`` lists
  ``[x1, y1, x2, y2, …]``) and ``categories`` (``id``, ``name``). RLE masks are refused.

A shape is an *exclude* polygon when its label (LabelMe) or category name (COCO) is one of
:data:`EXCLUDE_LABELS` (or starts with ``exclude``); every other label is *include*. Imported
polygons are ordered includes first, so the excludes cut holes in them. Points are scaled when
the labelled image's size differs from the face's. Exports write recast's labels as ``include`` /
``exclude`` in drawing order (COCO: annotation ids follow that order).

Imports check every file completely before any face is written: hostile input (not JSON, wrong
types, NaN, huge or far-away polygons, too many points) raises one :class:`InputError` naming the
file, and nothing changes. Faces that already have labels are replaced only with ``replace=True``,
after a copy of them is put in ``<folder>_backup/``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recast.atomic import atomic_write_bytes, atomic_write_text, make_folder
from recast.errors import InputError
from recast.faces.aligned import embed_metadata, read_meta
from recast.faces.labels import MAX_POINTS, MAX_POLYGONS, Polygon, check_polygons, polygon
from recast.faceset.files import backup_faces, require_faces
from recast.media.images import image_size

EXCLUDE_LABELS = frozenset({"exclude", "occlusion", "occluder", "obstruction", "hand", "hair", "glasses",
                            "microphone", "object", "background"})
"""Label / category names read as exclude polygons (case-insensitive)."""
MAX_LABEL_FILE_BYTES = 64 << 20
"""Largest LabelMe or COCO file read."""
MAX_COCO_ANNOTATIONS = 1_000_000


@dataclass
class LabelImport:
    """What an import did: ``updated`` face names, ``unmatched`` entries naming no face in the folder,
    ``empty`` faces whose entries held no usable polygon (nothing stored for them), ``backup`` where
    replaced faces were copied first (None when nothing was replaced)."""

    updated: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    backup: Path | None = None


def is_exclude(label: Any) -> bool:
    """True for labels meaning an occluder (see :data:`EXCLUDE_LABELS`)."""
    name = str(label).strip().lower()
    return name in EXCLUDE_LABELS or name.startswith("exclude")


# ------------------------------------------------------------------------------------ LabelMe
def export_labelme(folder: str | Path, out_dir: str | Path) -> int:
    """Write ``<out_dir>/<face stem>.json`` (LabelMe) for every labelled face of ``folder``; returns the count."""
    folder, out_dir = Path(folder), Path(out_dir)
    count = 0
    for path in require_faces(folder):
        meta = read_meta(path)
        if not meta.xseg_labels:
            continue
        width, height = image_size(path.read_bytes()) or (0, 0)
        shapes = [{"label": "include" if p.include else "exclude", "points": p.to_json()["points"],
                   "group_id": None, "shape_type": "polygon", "flags": {}} for p in meta.xseg_labels]
        document: dict[str, Any] = {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": path.name,
                                    "imageData": None, "imageHeight": height, "imageWidth": width}
        make_folder(out_dir)
        atomic_write_text(out_dir / f"{path.stem}.json", json.dumps(document, indent=1) + "\n")
        count += 1
    return count


def import_labelme(folder: str | Path, source: str | Path, replace: bool = False) -> LabelImport:
    """Read LabelMe files (a folder of ``*.json`` or one file) and store their polygons in the faces of ``folder``.

    Raises:
        InputError: naming the LabelMe file for hostile or malformed content, or a face that
            already has labels (without ``replace``); nothing is written then.
    """
    folder, source = Path(folder), Path(source)
    files = sorted(source.glob("*.json")) if source.is_dir() else [source]
    if not files or not files[0].is_file():
        raise InputError(source, "no LabelMe .json files here")
    faces = {p.name: p for p in require_faces(folder)}
    stems = {p.stem: p for p in faces.values()}
    planned: dict[str, list[Polygon]] = {}
    result = LabelImport()
    for file in files:
        data = _load_json(file)
        try:
            name, polygons = _labelme_entry(data, file, faces, stems)
        except (ValueError, TypeError, KeyError, OverflowError) as error:
            raise InputError(file, f"not usable LabelMe labels: {error}") from None
        if name is None:
            result.unmatched.append(file.name)
            continue
        planned[name] = polygons
    return _store(folder, faces, planned, replace, result, source)


def _labelme_entry(data: Any, file: Path, faces: dict[str, Path], stems: dict[str, Path]
                   ) -> tuple[str | None, list[Polygon]]:
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise ValueError("no 'shapes' list")
    image_path = data.get("imagePath")
    name = Path(str(image_path).replace("\\", "/")).name if isinstance(image_path, str) else ""
    face = faces.get(name) or stems.get(file.stem)
    if face is None:
        return None, []
    shapes = data["shapes"]
    if len(shapes) > MAX_POLYGONS:
        raise ValueError(f"{len(shapes)} shapes, more than {MAX_POLYGONS}")
    labelled = _declared_size(data.get("imageWidth"), data.get("imageHeight"), "imageWidth/imageHeight")
    size = _face_size(face)
    polygons = []
    for index, shape in enumerate(shapes):
        if not isinstance(shape, dict):
            raise ValueError(f"shape {index} is not an object")
        if shape.get("shape_type", "polygon") != "polygon":
            continue
        try:
            points = _scaled(polygon(True, shape.get("points"), None).points, labelled, size)
            polygons.append(polygon(not is_exclude(shape.get("label", "")), points, size))
        except ValueError as error:
            raise ValueError(f"shape {index}: {error}") from None
    return face.name, _includes_first(polygons, size)


# --------------------------------------------------------------------------------------- COCO
def export_coco(folder: str | Path, out_file: str | Path) -> int:
    """Write every labelled face of ``folder`` as one COCO file (categories include=1, exclude=2); returns the count."""
    folder = Path(folder)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for path in require_faces(folder):
        meta = read_meta(path)
        if not meta.xseg_labels:
            continue
        width, height = image_size(path.read_bytes()) or (0, 0)
        image_id = len(images) + 1
        images.append({"id": image_id, "file_name": path.name, "width": width, "height": height})
        for item in meta.xseg_labels:
            points = np.round(np.asarray(item.points, np.float64), 2)
            x0, y0 = points.min(axis=0)
            x1, y1 = points.max(axis=0)
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": 1 if item.include else 2,
                "segmentation": [points.ravel().tolist()], "iscrowd": 0,
                "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)], "area": _area(points),
            })
    document = {"info": {"description": "recast XSeg labels"}, "images": images, "annotations": annotations,
                "categories": [{"id": 1, "name": "include"}, {"id": 2, "name": "exclude"}]}
    atomic_write_text(Path(out_file), json.dumps(document) + "\n")
    return len(images)


def import_coco(folder: str | Path, source: str | Path, replace: bool = False) -> LabelImport:
    """Read a COCO file's polygons and store them in the faces of ``folder`` (matched by ``file_name``).

    Raises:
        InputError: naming the COCO file for hostile or malformed content, RLE masks, or a face
            that already has labels (without ``replace``); nothing is written then.
    """
    folder, source = Path(folder), Path(source)
    faces = {p.name: p for p in require_faces(folder)}
    data = _load_json(source)
    result = LabelImport()
    try:
        planned = _coco_entries(data, faces, result)
    except (ValueError, TypeError, KeyError, OverflowError) as error:
        raise InputError(source, f"not usable COCO labels: {error}") from None
    return _store(folder, faces, planned, replace, result, source)


def _coco_entries(data: Any, faces: dict[str, Path], result: LabelImport) -> dict[str, list[Polygon]]:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    images, annotations, categories = (data.get(k) for k in ("images", "annotations", "categories"))
    if not isinstance(images, list) or not isinstance(annotations, list):
        raise ValueError("'images' and 'annotations' must be lists")
    if len(annotations) > MAX_COCO_ANNOTATIONS:
        raise ValueError(f"{len(annotations)} annotations, more than {MAX_COCO_ANNOTATIONS}")
    names = {}
    if isinstance(categories, list):
        for category in categories:
            if isinstance(category, dict) and isinstance(category.get("id"), int):
                names[category["id"]] = str(category.get("name", ""))[:200]
    by_id: dict[int, tuple[str, tuple[float, float] | None]] = {}
    for index, image in enumerate(images):
        if not isinstance(image, dict) or not isinstance(image.get("id"), int) or not isinstance(
                image.get("file_name"), str):
            raise ValueError(f"image {index} has no integer 'id' and string 'file_name'")
        declared = _declared_size(image.get("width"), image.get("height"), f"image {index} width/height")
        by_id[image["id"]] = (Path(image["file_name"].replace("\\", "/")).name, declared)
    found: dict[str, list[Polygon]] = {}
    for index, annotation in enumerate(annotations):
        if not isinstance(annotation, dict) or annotation.get("image_id") not in by_id:
            raise ValueError(f"annotation {index} names no image of the file")
        name, declared = by_id[annotation["image_id"]]
        face = faces.get(name)
        if face is None:
            if name not in result.unmatched:
                result.unmatched.append(name)
            continue
        segmentation = annotation.get("segmentation")
        if isinstance(segmentation, dict):
            raise ValueError(f"annotation {index} is an RLE mask, not polygons")
        if not isinstance(segmentation, list):
            raise ValueError(f"annotation {index} has no polygon 'segmentation' list")
        include = not is_exclude(names.get(annotation.get("category_id"), ""))
        size = _face_size(face)
        polygons = found.setdefault(face.name, [])
        for part in segmentation:
            if not isinstance(part, list) or len(part) % 2 or len(part) > 2 * MAX_POINTS:
                raise ValueError(f"annotation {index}: a polygon is not a flat list of at most {MAX_POINTS} x, y pairs")
            try:
                points = _scaled(polygon(True, [part[i:i + 2] for i in range(0, len(part), 2)], None).points,
                                 declared, size)
                polygons.append(polygon(include, points, size))
            except ValueError as error:
                raise ValueError(f"annotation {index}: {error}") from None
            if len(polygons) > MAX_POLYGONS:
                raise ValueError(f"{face.name} gets more than {MAX_POLYGONS} polygons")
    return {name: _includes_first(polygons, _face_size(faces[name])) for name, polygons in found.items()}


# ------------------------------------------------------------------------------------- shared
def _store(folder: Path, faces: dict[str, Path], planned: dict[str, list[Polygon]], replace: bool,
           result: LabelImport, source: Path) -> LabelImport:
    """Write the planned labels into the faces, after every check (and the backup of replaced faces).

    A face whose entries hold no usable polygon is listed in ``result.empty`` and left as it is."""
    result.empty = sorted(name for name, polygons in planned.items() if not polygons)
    planned = {name: polygons for name, polygons in planned.items() if polygons}
    metas = {name: read_meta(faces[name]) for name in planned}
    labelled = [name for name, meta in metas.items() if meta.xseg_labels]
    if labelled and not replace:
        raise InputError(faces[labelled[0]], f"already has XSeg labels ({len(labelled)} faces do); import with "
                                             f"replace (--replace) to overwrite them from {source.name} after a backup")
    encoded = {}
    for name, meta in metas.items():
        meta.xseg_labels = planned[name]
        try:
            encoded[name] = embed_metadata(faces[name].read_bytes(), meta)
        except ValueError as error:
            raise InputError(faces[name], f"cannot store the labels: {error}") from None
    if labelled:
        result.backup = backup_faces(folder, [faces[name] for name in labelled], "labels")
    for name, data in encoded.items():
        atomic_write_bytes(faces[name], data)
        result.updated.append(name)
    return result


def _load_json(path: Path) -> Any:
    try:
        if path.stat().st_size > MAX_LABEL_FILE_BYTES:
            raise InputError(path, f"is larger than {MAX_LABEL_FILE_BYTES >> 20} MiB; not a label file")
        text = path.read_text(encoding="utf-8")
        return json.loads(text, parse_constant=_refuse_constant)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as error:
        raise InputError(path, f"not a readable JSON label file ({' '.join(str(error).split())[:120]})") from None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"holds {name}, which is not a number")


def _declared_size(width: Any, height: Any, what: str) -> tuple[float, float] | None:
    if width is None and height is None:
        return None
    ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 < v <= 1 << 16
             for v in (width, height))
    if not ok:
        raise ValueError(f"{what} is not a plausible image size")
    return float(width), float(height)


def _face_size(path: Path) -> tuple[int, int]:
    size = image_size(path.read_bytes())
    if size is None:
        raise InputError(path, "not a JPEG or PNG image")
    return size


def _scaled(points: np.ndarray, labelled: tuple[float, float] | None, size: tuple[int, int]) -> np.ndarray:
    """Points of an image of ``labelled`` size in the pixels of the face of ``size``."""
    if labelled is None or labelled == (float(size[0]), float(size[1])):
        return points
    return points * np.array([size[0] / labelled[0], size[1] / labelled[1]])


def _includes_first(polygons: list[Polygon], size: tuple[int, int]) -> list[Polygon]:
    return check_polygons([p for p in polygons if p.include] + [p for p in polygons if not p.include], size)


def _area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return round(0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))), 2)
