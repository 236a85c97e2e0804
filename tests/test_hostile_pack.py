"""Issue #14 case 7: unpacking is all or nothing, and pack indexes hold only bounded face entries."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest

from faces_factory import synthetic_face
from recast.errors import InputError
from recast.faces.aligned import encode_face
from recast.faceset.pack import MAX_ENTRIES, PackedFaceSet, unpack_faceset


def _face(seed: int) -> bytes:
    image, meta = synthetic_face(size=64, seed=seed)
    return encode_face(image, meta, "jpg")


def write_pack(path: Path, entries: list[tuple[object, bytes]], digests: list[str | None] | None = None) -> Path:
    """A pack file with ``(name, bytes)`` entries; ``digests`` overrides the recorded sha256s."""
    index, offset = [], 0
    for i, (name, data) in enumerate(entries):
        digest = hashlib.sha256(data).hexdigest() if digests is None else digests[i]
        index.append({"name": name, "offset": offset, "size": len(data), "sha256": digest})
        offset += len(data)
    header = json.dumps({"format": "recast.faceset-pack", "version": 1, "entries": index}).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<8sIQ", b"RECASTFS", 1, len(header)) + header
                     + b"".join(data for _, data in entries))
    return path


def test_sha_mismatch_in_entry_two_leaves_nothing_and_rerun_works(tmp_path: Path) -> None:
    faces = [_face(i) for i in range(3)]
    names = [f"0000{i}_0.jpg" for i in range(3)]
    digests = [hashlib.sha256(f).hexdigest() for f in faces]
    pack = write_pack(tmp_path / "set" / "faceset.rfs", list(zip(names, faces, strict=True)),
                      [digests[0], "0" * 64, digests[2]])
    with pytest.raises(InputError, match=r"00001_0\.jpg is corrupt"):
        unpack_faceset(pack)
    assert sorted(p.name for p in pack.parent.iterdir()) == ["faceset.rfs"]
    write_pack(pack, list(zip(names, faces, strict=True)))
    assert [p.name for p in unpack_faceset(pack)] == names
    assert [(pack.parent / n).read_bytes() for n in names] == faces


def test_entry_without_face_metadata_leaves_nothing(tmp_path: Path) -> None:
    pack = write_pack(tmp_path / "faceset.rfs", [("a.jpg", _face(0)), ("b.jpg", b"\xff\xd8" + b"\x00" * 30)])
    with pytest.raises(InputError, match=r"b\.jpg"):
        unpack_faceset(pack)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faceset.rfs"]


def test_stale_staging_folder_of_a_killed_unpack_is_removed(tmp_path: Path) -> None:
    pack = write_pack(tmp_path / "faceset.rfs", [("a.jpg", _face(0))])
    (tmp_path / ".recast-unpack-old").mkdir()
    (tmp_path / ".recast-unpack-old" / "a.jpg").write_bytes(b"half")
    unpack_faceset(pack)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_packed_backup", "a.jpg"]


@pytest.mark.parametrize("name", [
    ".recast-extract.jsonl", "notes.txt", ".hidden.jpg", "a\x00b.jpg", "x" * 300 + ".jpg", "a\nb.png",
    "../up.jpg", "sub/a.jpg", 7, "\udcff.jpg",
])
def test_only_face_image_names_are_accepted(tmp_path: Path, name: object) -> None:
    pack = write_pack(tmp_path / "faceset.rfs", [(name, _face(0))])
    with pytest.raises(InputError, match="not a face image file name"):
        PackedFaceSet(pack)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faceset.rfs"]


def test_empty_entries_and_entry_count_are_bounded(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="malformed"):
        PackedFaceSet(write_pack(tmp_path / "a.rfs", [("a.jpg", b"")]))
    header = json.dumps({"format": "recast.faceset-pack", "version": 1,
                         "entries": [{"name": f"{i}.jpg", "offset": 0, "size": 16}
                                     for i in range(MAX_ENTRIES + 1)]}).encode()
    many = tmp_path / "b.rfs"
    many.write_bytes(struct.pack("<8sIQ", b"RECASTFS", 1, len(header)) + header + b"\x00" * 16)
    with pytest.raises(InputError, match="over the 500000 limit"):
        PackedFaceSet(many)
