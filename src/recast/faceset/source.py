"""Open a faceset — a folder of aligned faces or a packed ``.rfs`` file — as a lazy sequence.

Training and merging read faces through :func:`open_faceset`, so both layouts work everywhere.
Faces are decoded on access; only file names (and for packs, the index) are held in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence, Sized
from pathlib import Path
from typing import Any, Protocol

from recast.errors import InputError
from recast.faces.aligned import AlignedFace, is_face_file, read_face, read_meta
from recast.faces.metadata import FaceMeta


class FaceSet(Protocol):
    """A lazy, indexable collection of aligned faces."""

    @property
    def names(self) -> list[str]: ...

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> AlignedFace: ...

    def meta(self, index: int) -> FaceMeta: ...


class FolderFaceSet(Sequence):
    """Aligned faces stored as image files in one folder (sub-folders are not searched)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputError(self.folder, "not a folder")
        self.paths = sorted(p for p in self.folder.iterdir() if p.is_file() and is_face_file(p))

    @property
    def names(self) -> list[str]:
        """File names, in order."""
        return [p.name for p in self.paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> AlignedFace:  # type: ignore[override]
        return read_face(self.paths[index])

    def __iter__(self) -> Iterator[AlignedFace]:
        for path in self.paths:
            yield read_face(path)

    def meta(self, index: int) -> FaceMeta:
        """Metadata of face ``index`` without decoding its pixels."""
        return read_meta(self.paths[index])


def open_faceset(path: str | Path) -> FaceSet:
    """Open a folder of aligned faces or a packed faceset file; raises :class:`InputError`."""
    path = Path(path)
    if path.is_file():
        from recast.faceset.pack import PackedFaceSet

        return PackedFaceSet(path)
    if path.is_dir():
        packed = path / "faceset.rfs"
        if packed.is_file():
            from recast.faceset.pack import PackedFaceSet

            return PackedFaceSet(packed)
        faces = FolderFaceSet(path)
        if not len(faces):
            raise InputError(path, "holds no aligned faces (.jpg/.png)")
        return faces
    raise InputError(path, "no such file or folder")


def faceset_summary(faceset: str | Path | Sized) -> dict[str, Any]:
    """``{"name", "faces"}`` of a faceset (folder, pack or faceset object) for the model card; no absolute
    path: a folder or pack is named by itself, or by its parent for ``aligned`` / ``faceset.rfs``."""
    if not isinstance(faceset, (str, Path)):
        return {"name": type(faceset).__name__, "faces": len(faceset)}
    path = Path(faceset)
    return {"name": path.name if path.name not in ("aligned", "faceset.rfs") else f"{path.parent.name}/{path.name}",
            "faces": len(open_faceset(path))}
