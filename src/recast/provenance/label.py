"""The "synthetic media" label: container tags, the JSON sidecar, and the optional visible label.

Every result recast writes is labelled three ways (see also :mod:`recast.provenance.watermark`):

* container tags (:func:`container_metadata`) passed to the video writer,
* a sidecar ``<result>.provenance.json`` (:func:`write_sidecar`) recording what made the result:
  recast version, UTC date, sha256 of every input (videos, model weights), model summary and
  merge settings,
* the invisible watermark in every frame (:func:`mark_frame` applies it, after the optional
  visible corner label of :func:`add_visible_label`).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import os
import stat
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from recast import __version__
from recast.atomic import atomic_write_text
from recast.errors import InputError, MetadataError, OptionError
from recast.provenance.watermark import DEFAULT_STRENGTH, MAGIC, WATERMARK_VERSION, embed_watermark

PROVENANCE_LABEL = "synthetic media, made with recast"
"""The label every result carries, verbatim, in its tags, its sidecar and (optionally) its pixels."""

SIDECAR_SUFFIX = ".provenance.json"
SIDECAR_SCHEMA = "recast.provenance/1"
VISIBLE_LABEL = "SYNTHETIC - made with recast"
"""Default text of the visible corner label (OpenCV's fonts are ASCII only)."""

CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
_MAX_SIDECAR_BYTES = 4 * 1024 * 1024
_HASH_CHUNK = 1 << 20


def container_metadata(version: str = __version__) -> dict[str, str]:
    """Container tags that label a video as synthetic; pass them to the video writer's ``metadata``.

    ``comment`` and ``description`` are standard tags that MP4, MOV, MKV and AVI keep and that
    players and ``ffprobe`` show; ``synthetic`` and ``provenance`` are explicit machine-readable
    keys (MP4/MOV keep them with ``movflags=use_metadata_tags``, which ``recast.media`` sets).
    """
    text = f"{PROVENANCE_LABEL} {version}"
    return {
        "comment": text,
        "description": f"{text}; details in the {SIDECAR_SUFFIX} sidecar; invisible watermark in every frame",
        "synthetic": "true",
        "provenance": f"recast {version}",
    }


def has_label_tag(tags: dict[str, str]) -> bool:
    """Whether container ``tags`` (any key case) carry the recast label of :func:`container_metadata`."""
    lowered = {str(k).lower(): str(v) for k, v in tags.items()}
    if lowered.get("synthetic", "").strip().lower() == "true" and "recast" in lowered.get("provenance", ""):
        return True
    return any(PROVENANCE_LABEL in value.lower() for value in lowered.values())


def sidecar_path(result_path: str | Path) -> Path:
    """``<result>.provenance.json`` beside the result (file or frame folder)."""
    result_path = Path(result_path)
    return result_path.with_name(result_path.name + SIDECAR_SUFFIX)


def sha256_file(path: str | Path, deadline: float | None = None) -> str:
    """Hex sha256 of a regular file's bytes, read in 1 MiB chunks.

    Only regular files are read (a device such as ``/dev/zero`` or a FIFO would never end).
    ``deadline`` is a ``time.monotonic()`` value after which hashing gives up.

    Raises:
        InputError: the file is missing, unreadable, not a regular file, or the deadline passed.
    """
    path = Path(path)
    _require_regular_file(path)
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
                if deadline is not None and time.monotonic() > deadline:
                    raise InputError(path, "hashing ran past the time limit")
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror or error}") from None
    return digest.hexdigest()


def sha256_path(path: str | Path, deadline: float | None = None) -> str:
    """sha256 of a file, or of a folder: the sha256 of its sorted ``"<name>\\t<sha256>\\n"`` lines.

    A folder's digest covers the regular, non-hidden files directly inside it (a frame folder).
    ``deadline``: see :func:`sha256_file`.

    Raises:
        InputError: the path is missing, unreadable or not a regular file or folder, or the
            deadline passed.
    """
    path = Path(path)
    if not path.is_dir():
        return sha256_file(path, deadline)
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    lines = "".join(f"{p.name}\t{sha256_file(p, deadline)}\n" for p in files)
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def _require_regular_file(path: Path) -> os.stat_result:
    """``os.stat(path)`` of a regular file (symbolic links followed); InputError for anything else."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror or error}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(path, "is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(path, "not a regular file (a device, pipe or socket); not read")
    return info


def write_sidecar(
    result_path: str | Path,
    inputs: dict[str, Path],
    model: dict[str, Any],
    settings: dict[str, Any],
    *,
    watermark_strength: float | None = DEFAULT_STRENGTH,
    visible_label: bool = False,
) -> Path:
    """Write ``<result>.provenance.json`` atomically and return its path.

    Args:
        result_path: the video file or frame folder recast wrote. When it already exists its
            sha256 is recorded too, so :func:`recast.provenance.verify.verify` can tell whether
            the result was changed (re-encoded, edited) after labelling.
        inputs: role → file or folder, e.g. ``{"src": ..., "dst": ..., "model_weights": ...}``;
            each is recorded with its name, size and sha256 (folders: see :func:`sha256_path`) —
            never its path, which would reveal the user's folders to anyone the result is shared with.
        model: model name / config summary (JSON-serialisable; paths, dataclasses, enums and
            numpy scalars are converted).
        settings: merge settings (same rules as ``model``).
        watermark_strength: strength the frames were marked with, or None if they were not.
        visible_label: whether the frames carry the visible corner label.

    Raises:
        InputError: an input is missing or unreadable, or a file that is not a recast sidecar
            already sits at the sidecar path (it is never overwritten).
    """
    result_path = Path(result_path)
    target = sidecar_path(result_path)
    if target.exists():
        try:
            read_sidecar(target)
        except InputError:
            raise InputError(target, "exists and is not a recast provenance sidecar; not overwriting it") from None
    record: dict[str, Any] = {
        "schema": SIDECAR_SCHEMA,
        "label": PROVENANCE_LABEL,
        "synthetic": True,
        "generator": {"name": "recast", "version": __version__},
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "result": {"name": result_path.name},
        "inputs": {role: _describe_input(Path(path)) for role, path in inputs.items()},
        "model": _jsonable(model),
        "settings": _jsonable(settings),
        "watermark": {
            "embedded": watermark_strength is not None,
            "method": f"recast-stdm-v{WATERMARK_VERSION}",
            "payload": f"{MAGIC.decode('ascii')} v{WATERMARK_VERSION}",
            "strength": watermark_strength,
        },
        "visible_label": visible_label,
    }
    if result_path.exists():
        record["result"]["sha256"] = sha256_path(result_path)
    atomic_write_text(target, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return target


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """Read a provenance sidecar, given its own path or the result's path.

    Returns:
        The parsed record (``schema``, ``label``, ``inputs`` …, see :func:`write_sidecar`).

    Raises:
        InputError: no sidecar there, or not a regular file.
        MetadataError: the file is too large, not JSON, or not a recast provenance record.
    """
    path = Path(path)
    if not path.name.endswith(SIDECAR_SUFFIX):
        path = sidecar_path(path)
    if not path.exists():
        raise InputError(path, "no provenance sidecar")
    size = _require_regular_file(path).st_size
    if size > _MAX_SIDECAR_BYTES:
        raise MetadataError(path, f"provenance sidecar is {size} bytes, over the {_MAX_SIDECAR_BYTES} limit")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MetadataError(path, f"provenance sidecar is not valid JSON ({error})") from None
    if not isinstance(record, dict) or record.get("schema") != SIDECAR_SCHEMA:
        raise MetadataError(path, f"not a recast provenance sidecar (schema must be {SIDECAR_SCHEMA!r})")
    if not isinstance(record.get("inputs", {}), dict):
        raise MetadataError(path, "provenance sidecar 'inputs' must be an object")
    return record


def add_visible_label(
    frame: np.ndarray, text: str = VISIBLE_LABEL, corner: str = "bottom-right"
) -> np.ndarray:
    """Return a copy of ``frame`` with a small text label on a translucent dark box in a corner.

    Args:
        frame: ``(H, W, 3)`` uint8 BGR. Not modified.
        text: ASCII label text (OpenCV's Hershey fonts have no other glyphs; others become ``?``).
        corner: one of :data:`CORNERS`.

    The text is about 1/36 of the frame height tall (at least ~9 px) and shrinks to fit the width.

    Raises:
        OptionError: unknown ``corner``.
    """
    if corner not in CORNERS:
        raise OptionError(f"corner must be one of {', '.join(CORNERS)}, got {corner!r}")
    text = text.encode("ascii", "replace").decode("ascii")
    out = frame.copy()
    h, w = out.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    margin = max(2, round(min(h, w) * 0.015))
    (unit_w, unit_h), _ = cv2.getTextSize(text, font, 1.0, 1)
    scale = max(h / 36.0, 9.0) / unit_h
    scale = min(scale, (w - 4 * margin) / max(unit_w, 1))
    thickness = max(1, round(scale * 1.5))
    (tw, th), baseline = cv2.getTextSize(text, font, scale, thickness)
    pad = max(2, th // 3)
    box_w, box_h = tw + 2 * pad, th + baseline + 2 * pad
    x0 = margin if corner.endswith("left") else max(0, w - margin - box_w)
    y0 = margin if corner.startswith("top") else max(0, h - margin - box_h)
    x1, y1 = min(w, x0 + box_w), min(h, y0 + box_h)
    region = out[y0:y1, x0:x1]
    out[y0:y1, x0:x1] = (region.astype(np.uint16) * 2 // 5).astype(np.uint8)  # darken to 40 %
    cv2.putText(out, text, (x0 + pad, y0 + pad + th), font, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return out


def mark_frame(
    frame: np.ndarray,
    *,
    strength: float = DEFAULT_STRENGTH,
    visible: bool = False,
    text: str = VISIBLE_LABEL,
    corner: str = "bottom-right",
) -> np.ndarray:
    """Label one output frame: optional visible corner label, then the invisible watermark.

    ``frame`` is ``(H, W, 3)`` uint8 BGR (not modified); returns a new frame of the same shape.
    """
    if visible:
        frame = add_visible_label(frame, text=text, corner=corner)
    return embed_watermark(frame, strength=strength)


def _describe_input(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise InputError(path, "input to record in the provenance sidecar does not exist")
    size = (sum(p.stat().st_size for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            if path.is_dir() else path.stat().st_size)
    return {"name": path.resolve().name, "bytes": size, "sha256": sha256_path(path)}


def _jsonable(value: Any) -> Any:
    """Convert ``value`` to plain JSON types (paths → str, dataclasses → dict, numpy → Python)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
