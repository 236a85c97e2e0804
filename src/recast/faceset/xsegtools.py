"""XSeg faceset tools: apply a mask model to a faceset, remove applied masks, fetch labelled faces.

* :func:`apply_masks` runs an XSeg model on every face and stores the mask in its metadata
  (``xseg_mask``, in the face's own pixels), where face training (masked training, blur-out-mask)
  and merging find it. Faces that already carry a mask are copied to ``<folder>_backup/`` first.
* :func:`remove_masks` copies the faces that carry a mask to ``<folder>_backup/``, then drops the
  mask. Labels (what the user drew) are never touched by either.
* :func:`fetch_labelled` copies the labelled faces to ``<folder>_xseg`` (DeepFaceLab's fetch), e.g.
  to collect the labels of several facesets in one place.

Pixels are never re-encoded: only the metadata segment of each file is replaced.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from recast.atomic import atomic_write_bytes, make_folder
from recast.errors import InputError
from recast.faces.aligned import embed_metadata, read_face, read_meta
from recast.faces.metadata import FaceMeta
from recast.faceset.files import backup_faces, require_faces

ProgressCallback = Callable[[int, int | None], None]


@dataclass
class MaskToolResult:
    """What a tool did: ``changed`` face names, ``backup`` folder of the originals (None: nothing backed up)."""

    changed: list[str] = field(default_factory=list)
    backup: Path | None = None
    skipped: list[str] = field(default_factory=list)


def apply_masks(folder: str | Path, model_dir: str | Path, device: str = "cpu", batch_size: int = 16,
                on_progress: ProgressCallback | None = None) -> MaskToolResult:
    """Store the masks of the XSeg model in ``model_dir`` in every face of ``folder``.

    Raises:
        InputError: no faces, an unreadable face, or not an XSeg model folder (checked before
            anything is written).
    """
    from recast.models.xseg_inference import XSegPredictor  # torch loads only here

    folder = Path(folder)
    paths = require_faces(folder)
    masker = XSegPredictor.load(model_dir, device)
    had_mask = [path for path in paths if read_meta(path).xseg_mask is not None]
    result = MaskToolResult(backup=backup_faces(folder, had_mask, "xseg-apply") if had_mask else None)
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        faces = [read_face(path) for path in chunk]
        masks = masker.face_masks([face.image for face in faces], [face.meta for face in faces])
        for path, face, mask in zip(chunk, faces, masks, strict=True):
            face.meta.xseg_mask = mask
            _rewrite(path, face.meta)
            result.changed.append(path.name)
        if on_progress is not None:
            on_progress(min(start + batch_size, len(paths)), len(paths))
    return result


def remove_masks(folder: str | Path) -> MaskToolResult:
    """Drop the applied XSeg mask of every face of ``folder`` that has one, after backing them up."""
    folder = Path(folder)
    paths = require_faces(folder)
    metas = {path: read_meta(path) for path in paths}
    masked = [path for path, meta in metas.items() if meta.xseg_mask is not None]
    result = MaskToolResult(backup=backup_faces(folder, masked, "xseg-remove") if masked else None)
    for path in masked:
        meta = metas[path]
        meta.xseg_mask = None
        _rewrite(path, meta)
        result.changed.append(path.name)
    return result


def fetch_labelled(folder: str | Path, output: str | Path | None = None) -> MaskToolResult:
    """Copy the faces of ``folder`` that have XSeg labels to ``output`` (default ``<folder>_xseg``).

    Files already in ``output`` are not replaced (listed in ``skipped``).
    """
    folder = Path(folder)
    target = make_folder(Path(output) if output is not None else folder.with_name(folder.name + "_xseg"))
    if target.resolve() == folder.resolve():
        raise InputError(target, "is the faceset itself; choose another output folder")
    result = MaskToolResult()
    for path in require_faces(folder):
        if not read_meta(path).xseg_labels:
            continue
        if (target / path.name).exists():
            result.skipped.append(path.name)
            continue
        shutil.copy2(path, target / path.name)
        result.changed.append(path.name)
    return result


def _rewrite(path: Path, meta: FaceMeta) -> None:
    try:
        data = embed_metadata(path.read_bytes(), meta)
    except ValueError as error:
        raise InputError(path, f"cannot store the mask: {error}") from None
    atomic_write_bytes(path, data)
