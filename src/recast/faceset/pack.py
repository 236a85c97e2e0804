"""Packed facesets: every face of a folder in one file, ``<folder>/faceset.rfs``, read lazily.

Layout (all integers little-endian)::

    8 bytes   magic b"RECASTFS"
    u32       format version (1)
    u64       header length H
    H bytes   JSON header (UTF-8): {"format": "recast.faceset-pack", "version": 1,
              "entries": [{"name": "00001_0.jpg", "offset": 0, "size": 48213, "sha256": "…"}, …]}
    …         the face files' bytes, concatenated; offsets count from the end of the header

Each entry is the unchanged aligned-face file (image + embedded JSON metadata), so unpacking gives
back byte-identical files. The header is JSON, never pickle. A truncated or damaged pack raises
:class:`InputError` naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from recast.atomic import atomic_path, fsync_dir, open_regular
from recast.errors import InputError
from recast.faces.aligned import AlignedFace, decode_face, is_face_file, meta_from_bytes, metadata_text
from recast.faces.metadata import FaceMeta
from recast.faceset.files import PACK_NAME, ProgressCallback, list_faces
from recast.options import strictjson

BACKUP_DIR = "_packed_backup"
MAGIC = b"RECASTFS"
VERSION = 1
FORMAT = "recast.faceset-pack"
_PREFIX = struct.Struct("<8sIQ")
MAX_ENTRIES = 500_000
"""Most entries a pack may index."""
MAX_ENTRY_BYTES = 64 << 20
"""Largest single entry (an aligned face file); entries may not overlap, so their total is bounded
by the pack's own size."""
MIN_ENTRY_BYTES = 16
"""Smallest entry: shorter cannot be a JPEG or PNG face."""
MAX_NAME_BYTES = 255
_MAX_HEADER = 64 << 20
_UNPACK_PREFIX = ".recast-unpack-"


class PackedFaceSet:
    """A lazily read ``.rfs`` pack: the index is read at open, face bytes on access.

    Args:
        path: the pack file.
        verify: check each entry's sha256 when it is read.
    """

    def __init__(self, path: str | Path, verify: bool = True) -> None:
        self.path = Path(path)
        self.verify = verify
        try:
            with open_regular(self.path) as handle:
                prefix = handle.read(_PREFIX.size)
                total = os.fstat(handle.fileno()).st_size
                if len(prefix) < _PREFIX.size:
                    raise InputError(self.path, f"truncated faceset pack: {total} bytes, too short for a header")
                magic, version, header_len = _PREFIX.unpack(prefix)
                if magic != MAGIC:
                    raise InputError(self.path, "not a recast faceset pack (bad magic)")
                if version > VERSION:
                    raise InputError(self.path, f"faceset pack version {version} is newer than this recast reads")
                if header_len > min(_MAX_HEADER, total - _PREFIX.size):
                    raise InputError(self.path, f"truncated faceset pack: header of {header_len} bytes "
                                     f"but only {total - _PREFIX.size} follow")
                header_bytes = handle.read(header_len)
        except OSError as error:
            raise InputError(self.path, f"cannot read: {error.strerror or error}") from None
        self._data_start = _PREFIX.size + header_len
        self._entries = _parse_header(self.path, header_bytes)
        end = 0
        for entry in sorted(self._entries, key=lambda e: e.offset):
            if entry.offset < end:
                raise InputError(self.path, f"faceset pack index entry {entry.name!r} overlaps the entry before it "
                                 "(entries must not share bytes)")
            end = entry.offset + entry.size
        if self._data_start + end > total:
            raise InputError(self.path, f"truncated faceset pack: {total} bytes, index needs "
                             f"{self._data_start + end} (re-pack, or restore it from {BACKUP_DIR}/)")
        self._index = {e.name: i for i, e in enumerate(self._entries)}

    @property
    def names(self) -> list[str]:
        """Entry file names, in pack order."""
        return [e.name for e in self._entries]

    def __len__(self) -> int:
        return len(self._entries)

    def read_bytes(self, index: int) -> bytes:
        """The stored file of entry ``index`` (byte-identical to the packed file)."""
        entry = self._entries[index]
        with open_regular(self.path) as handle:
            handle.seek(self._data_start + entry.offset)
            data = handle.read(entry.size)
        if len(data) != entry.size:
            raise InputError(self.path, f"truncated faceset pack: entry {entry.name} is cut short")
        if self.verify and entry.sha256 and hashlib.sha256(data).hexdigest() != entry.sha256:
            raise InputError(self.path, f"entry {entry.name} is corrupt (sha256 mismatch)")
        return data

    def __getitem__(self, index: int) -> AlignedFace:
        return decode_face(self.read_bytes(index), f"{self.path}:{self._entries[index].name}")

    def __iter__(self) -> Iterator[AlignedFace]:
        for i in range(len(self)):
            yield self[i]

    def meta(self, index: int) -> FaceMeta:
        """Metadata of entry ``index`` without decoding pixels."""
        return meta_from_bytes(self.read_bytes(index), f"{self.path}:{self._entries[index].name}")

    def index_of(self, name: str) -> int:
        """Entry index of a file name; raises KeyError."""
        return self._index[name]


@dataclass(frozen=True)
class _Entry:
    name: str
    offset: int
    size: int
    sha256: str | None


def _parse_header(path: Path, raw: bytes) -> list[_Entry]:
    try:
        header = strictjson.loads(raw)
    except ValueError:
        raise InputError(path, "faceset pack header is corrupt (not valid JSON)") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT or not isinstance(header.get("entries"), list):
        raise InputError(path, "faceset pack header is not a recast pack index")
    if len(header["entries"]) > MAX_ENTRIES:
        raise InputError(path, f"faceset pack indexes {len(header['entries'])} entries, over the {MAX_ENTRIES} limit")
    entries = []
    seen = set()
    for i, item in enumerate(header["entries"]):
        try:
            name, offset, size = item["name"], item["offset"], item["size"]
            digest = item.get("sha256")
        except (TypeError, KeyError):
            raise InputError(path, f"faceset pack index entry {i} is malformed") from None
        valid = (isinstance(offset, int) and isinstance(size, int) and not isinstance(size, bool) and offset >= 0
                 and MIN_ENTRY_BYTES <= size <= MAX_ENTRY_BYTES and (digest is None or isinstance(digest, str)))
        if not valid:
            raise InputError(path, f"faceset pack index entry {i} is malformed (offset, size or sha256)")
        if not _is_face_name(name):
            raise InputError(path, f"faceset pack index entry {i} has name {str(name)[:60]!r}, not a face image "
                                   "file name (.jpg/.jpeg/.png, no folder, not hidden)")
        if name in seen:
            raise InputError(path, f"faceset pack index entry {i} repeats the name {name!r}")
        seen.add(name)
        entries.append(_Entry(name, offset, size, digest))
    return entries


def _is_face_name(name: object) -> bool:
    """A plain, visible aligned-face file name of printable characters, at most 255 UTF-8 bytes."""
    if not isinstance(name, str) or not is_face_file(name) or name.startswith("."):
        return False
    if "/" in name or "\\" in name or not name.isprintable():
        return False
    try:
        return len(name.encode("utf-8")) <= MAX_NAME_BYTES
    except UnicodeEncodeError:
        return False


def pack_faceset(
    folder: str | Path, keep_loose: bool = False, on_progress: ProgressCallback | None = None
) -> Path:
    """Pack every aligned face of ``folder`` into ``folder/faceset.rfs``.

    The pack is written atomically. Then, unless ``keep_loose``, the loose files move into
    ``folder/_packed_backup/`` (nothing is deleted; readers use the pack once it exists).

    Raises:
        InputError: no faces, a file without recast metadata, or a pack already present.
    """
    folder = Path(folder)
    paths = list_faces(folder)
    target = folder / PACK_NAME
    if target.exists():
        raise InputError(target, "already exists; unpack it (or move it away) first")
    if not paths:
        raise InputError(folder, "holds no aligned faces (.jpg/.png) to pack")
    entries = []
    offset = 0
    digests = []
    for i, path in enumerate(paths):
        data = path.read_bytes()
        try:
            has_meta = metadata_text(data) is not None
        except ValueError:
            has_meta = False
        if not has_meta:
            raise InputError(path, "is not a recast aligned face (no metadata); move it out before packing")
        digests.append(hashlib.sha256(data).hexdigest())
        entries.append({"name": path.name, "offset": offset, "size": len(data), "sha256": digests[-1]})
        offset += len(data)
        if on_progress is not None and i % 256 == 0:
            on_progress(i + 1, 2 * len(paths))
    header = json.dumps({"format": FORMAT, "version": VERSION, "entries": entries}).encode("utf-8")
    with atomic_path(target) as tmp, open(tmp, "wb") as out:
        out.write(_PREFIX.pack(MAGIC, VERSION, len(header)))
        out.write(header)
        for i, (path, digest) in enumerate(zip(paths, digests, strict=True)):
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != digest:
                raise InputError(path, "changed while it was being packed; nothing was packed")
            out.write(data)
            if on_progress is not None and i % 256 == 0:
                on_progress(len(paths) + i + 1, 2 * len(paths))
    if on_progress is not None:
        on_progress(2 * len(paths), 2 * len(paths))
    if not keep_loose:
        backup = folder / BACKUP_DIR
        backup.mkdir(exist_ok=True)
        for path in paths:
            if not (backup / path.name).exists():
                os.replace(path, backup / path.name)
    return target


def unpack_faceset(folder_or_pack: str | Path, on_progress: ProgressCallback | None = None) -> list[Path]:
    """Write every face of a pack back as loose files beside it, then move the pack into ``_packed_backup/``.

    All or nothing: every entry is written into a hidden temporary folder beside the pack and
    checked (sha256, recast metadata) first; only when all are good are they moved into place.
    A temporary folder left by a killed unpack is removed at the next start. Refuses (before
    writing anything) when any target file already exists.

    Raises:
        InputError, MetadataError: a damaged pack or entry (nothing is written), or a name clash.
    """
    source = Path(folder_or_pack)
    pack_path = source / PACK_NAME if source.is_dir() else source
    pack = PackedFaceSet(pack_path, verify=True)
    folder = pack_path.parent
    clashes = [name for name in pack.names if (folder / name).exists()]
    if clashes:
        raise InputError(folder / clashes[0], f"already exists ({len(clashes)} of the packed names do); "
                         "refusing to overwrite — move them away first")
    for stale in folder.glob(_UNPACK_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=_UNPACK_PREFIX, dir=folder))
    try:
        for i, name in enumerate(pack.names):
            data = pack.read_bytes(i)
            meta_from_bytes(data, f"{pack_path}:{name}")
            (staging / name).write_bytes(data)
            if on_progress is not None:
                on_progress(i + 1, len(pack))
        written = []
        for name in pack.names:
            os.replace(staging / name, folder / name)
            written.append(folder / name)
        fsync_dir(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    backup = folder / BACKUP_DIR
    backup.mkdir(exist_ok=True)
    target, n = backup / pack_path.name, 1
    while target.exists():
        target = backup / f"{pack_path.stem}_{n}{pack_path.suffix}"
        n += 1
    os.replace(pack_path, target)
    return written
