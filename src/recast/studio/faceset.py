"""The faceset browser's file work: compact listings, cached thumbnails, trash and restore through
the folder's sort journal, overlay geometry, and the manual fix (a face re-cut from edited landmarks).

Thumbnails live in ``WORKSPACE/.studio/thumbs/`` under a key made of the face file's inode, mtime
and size: a rename (sort, trash, restore) keeps the key, rewriting the face (a manual fix writes a
new file atomically) changes it, so a stale thumbnail is never served and 10,000 faces are shrunk
once. Every move of a face goes through :class:`recast.faceset.journal.Journal`, so ``recast sort
--restore`` undoes the studio's trash moves like any other; a fixed face's previous file is kept in
``<folder>_fix_backup/`` and named in the new face's metadata, so the fix can be undone.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from recast.atomic import atomic_write_bytes
from recast.errors import InputError
from recast.faces.aligned import is_face_file, meta_from_bytes, read_face, read_meta, write_face
from recast.faces.alignment import invert_affine
from recast.faces.crop import cut_face
from recast.faces.facetype import FaceType
from recast.faces.masks import hull_mask
from recast.faces.metadata import FaceMeta
from recast.faceset.files import natural_key, trash_dir, trash_moves
from recast.faceset.journal import Journal
from recast.faceset.resize import compose
from recast.media.images import decode_image, image_size, read_image

THUMB_SIDE = 128
THUMBS = Path(".studio") / "thumbs"
FIX_KEY = "manual_fix"
EXTRACT_LOG = ".recast-extract.jsonl"
_LISTINGS: dict[Path, tuple[tuple[int, int], list[tuple[str, str]]]] = {}
_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))


def file_key(stat: os.stat_result) -> str:
    """What identifies a face file's content: inode, mtime (ns) and size, in hex."""
    return f"{stat.st_ino:x}-{stat.st_mtime_ns:x}-{stat.st_size:x}"


def list_folder(folder: Path) -> list[tuple[str, str]]:
    """``(name, key)`` of every face file in ``folder`` (natural order, hidden files skipped); [] when
    the folder does not exist.

    A listing is remembered until the folder's own mtime changes (every create, rename and atomic
    rewrite of a face changes it); one taken within a second of a change is not remembered, since
    the clock the filesystem stamps with can be coarser than the changes.
    """
    try:
        info = folder.stat()
    except FileNotFoundError:
        return []
    if not folder.is_dir():
        return []
    stamp = (info.st_ino, info.st_mtime_ns)
    known = _LISTINGS.get(folder)
    if known is not None and known[0] == stamp:
        return known[1]
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not is_face_file(entry.name) or not entry.is_file():
                continue
            found.append((entry.name, file_key(entry.stat())))
    found.sort(key=lambda item: natural_key(item[0]))
    if time.time() - info.st_mtime > 1.0:
        if len(_LISTINGS) >= 16:
            _LISTINGS.clear()
        _LISTINGS[folder] = (stamp, found)
    return found


def face_path(folder: Path, name: str) -> Path:
    """``folder/name`` for a face file name (no folder part, a face suffix); InputError if there is none."""
    if not name or "/" in name or "\\" in name or name.startswith(".") or not is_face_file(name):
        raise InputError(Path(name), "not a face file name")
    path = folder / name
    if not path.is_file():
        raise InputError(Path(name), f"no such face in {folder.name}")
    return path


def thumbnail(workspace: Path, path: Path) -> tuple[Path, str]:
    """The cached ``THUMB_SIDE`` px JPEG of face ``path`` (made now when missing), and its key."""
    key = file_key(path.stat())
    cached = workspace / THUMBS / key[-2:] / f"{key}.jpg"
    if cached.is_file():
        return cached, key
    data = path.read_bytes()
    side = max(image_size(data) or (THUMB_SIDE, THUMB_SIDE))
    flags = next((flag for factor, flag in _REDUCED if side // factor >= THUMB_SIDE), cv2.IMREAD_COLOR)
    image = decode_image(data, path.name, flags)
    small = cv2.resize(image, (THUMB_SIDE, THUMB_SIDE), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise InputError(path, "could not encode its thumbnail")
    cached.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(cached, encoded.tobytes())
    return cached, key


def _polygons(mask: np.ndarray) -> list[list[list[float]]]:
    contours, _ = cv2.findContours((mask > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    shapes = [cv2.approxPolyDP(c, 1.0, True).reshape(-1, 2) for c in contours if cv2.contourArea(c) > 4]
    return [shape.astype(float).tolist() for shape in shapes]


def overlay(meta: FaceMeta, size: int) -> dict[str, Any]:
    """What the page draws over a ``size`` px face: its 68 landmarks and its mask outline (the XSeg
    mask when it has one, else the landmark hull), in aligned-image pixels."""
    if meta.xseg_mask is not None:
        mask, kind = cv2.resize(meta.xseg_mask, (size, size), interpolation=cv2.INTER_LINEAR), "xseg"
    else:
        mask, kind = hull_mask(meta.landmarks, (size, size), meta.eyebrows_expand), "hull"
    return {"size": size, "landmarks": np.round(meta.landmarks.astype(np.float64), 1).tolist(),
            "mask": _polygons(mask), "mask_kind": kind}


def face_details(path: Path) -> dict[str, Any]:
    """A face's metadata as the detail view and the manual fix show it (JSON-able)."""
    data = path.read_bytes()
    meta = meta_from_bytes(data, path.name)
    size = (image_size(data) or (0, 0))[0]
    return {
        "name": path.name, "key": file_key(path.stat()), "face_type": meta.face_type.value,
        "source_filename": meta.source_filename, "source_size": list(meta.source_size),
        "source_rect": [round(float(v), 1) for v in meta.source_rect],
        "source_landmarks": np.round(meta.source_landmarks.astype(np.float64), 2).tolist(),
        "pose_degrees": [round(float(np.degrees(v)), 1) for v in meta.pose],
        "detector": meta.detector, "detector_score": round(float(meta.detector_score), 3),
        "has_embedding": meta.embedding is not None, "fix": meta.extra.get(FIX_KEY),
        **overlay(meta, size),
    }


def trash_faces(folder: Path, names: Iterable[str]) -> list[str]:
    """Move faces of ``folder`` to ``<folder>_trash`` through the journal; returns their names there."""
    names = list(names)
    for name in names:
        face_path(folder, name)
    journal = Journal(folder)
    journal.recover()
    moves = trash_moves(folder, names, journal.original_names())
    journal.move(moves, {"action": "trash", "from": {target: name for name, target in moves}})
    return [Path(target).name for _, target in moves]


def restore_faces(folder: Path, names: Iterable[str]) -> list[str]:
    """Move faces from ``<folder>_trash`` back into ``folder``, each to the name it had before it
    was trashed (else its original name, else ``<stem>_restored<n>``); returns the new names."""
    trash = trash_dir(folder)
    names = list(names)
    for name in names:
        face_path(trash, name)
    journal = Journal(folder)
    journal.recover()
    previous: dict[str, str] = {}
    for note in journal.history:
        if note.get("action") == "trash" and isinstance(note.get("from"), dict):
            previous.update(note["from"])
    originals = journal.original_names()
    taken = {entry.name for entry in folder.iterdir()} if folder.is_dir() else set()
    moves = []
    for name in names:
        at = f"../{trash.name}/{name}"
        candidates = [previous.get(at), originals.get(at), name]
        target = next((c for c in candidates if c and "/" not in c and c not in taken), None)
        n = 1
        while target is None or target in taken:
            target = f"{Path(name).stem}_restored{n}{Path(name).suffix}"
            n += 1
        taken.add(target)
        moves.append((at, target))
    journal.move(moves, {"action": "restore-from-trash"})
    return [target for _, target in moves]


def frames_without_face(folder: Path) -> list[str]:
    """Frames the extract log of ``folder`` records with no face found (latest entry per frame)."""
    log = folder / EXTRACT_LOG
    if not log.is_file():
        return []
    faces: dict[str, int] = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
            faces[str(entry["frame"])] = int(entry["faces"])
        except (ValueError, KeyError, TypeError):
            continue
    return sorted((frame for frame, count in faces.items() if count == 0), key=natural_key)


@dataclass
class FixResult:
    """What :func:`fix_face` wrote: the face's name, and where its previous file went (or None)."""

    name: str
    backup: str | None
    meta: FaceMeta


def check_points(points: Any, frame_size: tuple[int, int]) -> np.ndarray:
    """``(68, 2)`` float64 landmarks from JSON, each inside the frame (ValueError otherwise)."""
    try:
        array = np.array(points, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ValueError("landmarks must be 68 [x, y] pairs of numbers") from None
    if array.shape != (68, 2) or not np.all(np.isfinite(array)):
        raise ValueError("landmarks must be 68 [x, y] pairs of finite numbers")
    width, height = frame_size
    if np.any(array < 0) or np.any(array[:, 0] > width) or np.any(array[:, 1] > height):
        raise ValueError(f"landmarks must lie inside the {width}x{height} frame")
    if float(np.ptp(array[:, 0])) < 4 or float(np.ptp(array[:, 1])) < 4:
        raise ValueError("landmarks span less than 4 pixels: draw the face larger")
    return array


def check_rect(rect: Any, frame_size: tuple[int, int]) -> tuple[float, float, float, float]:
    """A ``(left, top, right, bottom)`` box inside the frame, at least 4 px a side (ValueError otherwise)."""
    try:
        left, top, right, bottom = (float(v) for v in rect)
    except (TypeError, ValueError):
        raise ValueError("rect must be [left, top, right, bottom]") from None
    width, height = frame_size
    if not (0 <= left <= right - 4 <= width - 4 and 0 <= top <= bottom - 4 <= height - 4):
        raise ValueError(f"rect must be a box of at least 4x4 pixels inside the {width}x{height} frame")
    return left, top, right, bottom


def _template(folder: Path) -> tuple[int, FaceType, str]:
    """Size, face type and suffix for a new face: those of the folder's first face, else extract's defaults."""
    from recast.extract.stage import ExtractOptions

    for name, _ in list_folder(folder)[:1]:
        data = (folder / name).read_bytes()
        return (image_size(data) or (0, 0))[0], meta_from_bytes(data, name).face_type, Path(name).suffix
    defaults = ExtractOptions()
    return defaults.size, defaults.face_type, f".{defaults.image_format}"


def fix_face(folder: Path, frame_path: Path, name: str | None, points: Any, rect: Any) -> FixResult:
    """Re-cut a face from ``frame_path`` with hand-placed landmarks ``points`` (frame pixels) and box
    ``rect``, and write it (image and metadata, atomically).

    ``name``: the face to correct — its previous file is first copied to ``<folder>_fix_backup/``
    and the new face names that copy in ``extra.manual_fix`` (see :func:`undo_fix`); its face type,
    size, embedding, mask (moved to the new crop) and extra values carry over. ``None``: a new face
    for a frame where detection failed, named ``<frame stem>_<n>`` like extracted faces, with the
    size and face type of the folder's other faces.
    """
    frame = read_image(frame_path)
    frame_size = (frame.shape[1], frame.shape[0])
    landmarks, box = check_points(points, frame_size), check_rect(rect, frame_size)
    backup: str | None = None
    if name is not None:
        path = face_path(folder, name)
        old = read_face(path)
        if old.meta.source_filename != frame_path.name:
            raise ValueError(f"{name} comes from frame {old.meta.source_filename}, not {frame_path.name}")
        size, face_type, embedding = old.image.shape[0], old.meta.face_type, old.meta.embedding
        backup = _backup(folder, path)
    else:
        size, face_type, suffix = _template(folder)
        embedding, n = None, 0
        while (folder / f"{frame_path.stem}_{n}{suffix}").exists():
            n += 1
        path = folder / f"{frame_path.stem}_{n}{suffix}"
    image, meta = cut_face(frame, frame_path.name, landmarks, box, size, face_type, "manual", 1.0, embedding)
    if name is not None:
        meta.eyebrows_expand, meta.extra = old.meta.eyebrows_expand, dict(old.meta.extra)
        if old.meta.xseg_mask is not None:
            meta.xseg_mask = _moved_mask(old.meta, meta, size)
    meta.extra[FIX_KEY] = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "backup": backup}
    folder.mkdir(parents=True, exist_ok=True)
    write_face(path, image, meta)
    if name is None:
        with (folder / EXTRACT_LOG).open("a", encoding="utf-8") as log:
            log.write(json.dumps({"frame": frame_path.name, "faces": 1, "manual": path.name}) + "\n")
    return FixResult(path.name, backup, meta)


def _moved_mask(old: FaceMeta, new: FaceMeta, size: int) -> np.ndarray:
    """The old face's XSeg mask carried into the new crop (old aligned → frame → new aligned)."""
    assert old.xseg_mask is not None
    step = compose(new.image_to_face_mat, invert_affine(old.image_to_face_mat))
    scaled = cv2.resize(old.xseg_mask, (size, size), interpolation=cv2.INTER_LINEAR)
    moved: np.ndarray = cv2.warpAffine(scaled, step, (size, size), flags=cv2.INTER_LINEAR)
    return moved


def _backup(folder: Path, path: Path) -> str:
    """Copy face ``path`` into ``<folder>_fix_backup/`` (a new name each time); returns
    ``<folder>_fix_backup/<file>`` relative to the folder's parent."""
    backups = folder.with_name(f"{folder.name}_fix_backup")
    backups.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    n, target = 0, backups / f"{path.stem}.{stamp}{path.suffix}"
    while target.exists():
        n += 1
        target = backups / f"{path.stem}.{stamp}-{n}{path.suffix}"
    atomic_write_bytes(target, path.read_bytes())
    return f"{backups.name}/{target.name}"


def undo_fix(folder: Path, name: str) -> str:
    """Put back the file a manual fix replaced (the fixed face itself is kept as a backup too);
    returns the backup's name."""
    path = face_path(folder, name)
    fix = read_meta(path).extra.get(FIX_KEY)
    backup_name = fix.get("backup") if isinstance(fix, dict) else None
    if not isinstance(backup_name, str):
        raise InputError(Path(name), "has no manual fix to undo")
    backups = folder.with_name(f"{folder.name}_fix_backup")
    folder_part, _, file_part = backup_name.partition("/")
    if folder_part != backups.name:
        raise InputError(Path(name), "its fix names a backup outside the fix-backup folder")
    original = face_path(backups, file_part)
    data = original.read_bytes()
    _backup(folder, path)
    atomic_write_bytes(path, data)
    return file_part
