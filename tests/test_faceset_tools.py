"""Faceset tools on synthetic faces: pack/unpack, resize, metadata export/import, debug, info, dedupe, CLI."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from faces_factory import synthetic_face, synthetic_frame
from recast.errors import InputError, OptionError
from recast.faces.aligned import read_face, read_meta, write_face
from recast.faces.alignment import transform_matrix
from recast.faces.facetype import FaceType
from recast.faceset.debug import debug_faceset
from recast.faceset.dedupe import dedupe_faceset
from recast.faceset.files import list_faces
from recast.faceset.info import faceset_info, plot_info
from recast.faceset.metafile import export_metadata, import_metadata
from recast.faceset.pack import PACK_NAME, PackedFaceSet, pack_faceset, unpack_faceset
from recast.faceset.resize import resize_faceset
from recast.faceset.sort import restore
from recast.faceset.source import open_faceset
from recast.media.images import image_size


def make_faces(folder: Path, count: int = 5, size: int = 128, face_type: FaceType = FaceType.WHOLE) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image, meta = synthetic_face(face_type=face_type, size=size, yaw=0.15 * (i - 2), seed=i,
                                     source_filename=f"{i:05d}.png")
        write_face(folder / f"{i:05d}_0.jpg", image, meta)
    return {p.name: p.read_bytes() for p in list_faces(folder)}


def test_pack_read_lazily_and_unpack_byte_identical(tmp_path: Path) -> None:
    folder = tmp_path / "aligned"
    original = make_faces(folder)
    pack_path = pack_faceset(folder)
    assert pack_path == folder / PACK_NAME and list_faces(folder) == []
    assert sorted(p.name for p in (folder / "_packed_backup").iterdir()) == sorted(original)
    faces = open_faceset(folder)
    assert isinstance(faces, PackedFaceSet) and faces.names == sorted(original) and len(faces) == 5
    assert faces[2].image.shape == (128, 128, 3) and faces.meta(2).source_filename == "00002.png"
    with pytest.raises(InputError, match="already exists"):
        pack_faceset(folder)
    (folder / "00000_0.jpg").write_bytes(b"user file")
    with pytest.raises(InputError, match="refusing to overwrite"):
        unpack_faceset(folder)
    (folder / "00000_0.jpg").unlink()
    written = unpack_faceset(folder)
    assert {p.name: p.read_bytes() for p in written} == original
    assert not (folder / PACK_NAME).exists() and (folder / "_packed_backup" / PACK_NAME).exists()


def test_truncated_and_corrupt_packs_are_clear_errors(tmp_path: Path) -> None:
    folder = tmp_path / "aligned"
    make_faces(folder, 3)
    data = pack_faceset(folder, keep_loose=True).read_bytes()
    assert len(list_faces(folder)) == 3  # keep_loose leaves them
    bad = tmp_path / "bad.rfs"
    cases = {
        data[:10]: "too short for a header",
        data[:40]: "truncated faceset pack: header",
        data[:-100]: "truncated faceset pack",
        b"NOTAPACK" + data[8:]: "bad magic",
        data[:20] + b"{" * 10 + data[30:]: "header is corrupt",
    }
    for content, message in cases.items():
        bad.write_bytes(content)
        with pytest.raises(InputError, match=message) as error:
            PackedFaceSet(bad)
        assert str(bad) in str(error.value) and "\n" not in str(error.value)
    flipped = bytearray(data)
    flipped[-50] ^= 0xFF
    bad.write_bytes(bytes(flipped))
    with pytest.raises(InputError, match="sha256 mismatch"):
        PackedFaceSet(bad)[2]
    (_, _, header_len) = struct.unpack("<8sIQ", data[:20])
    assert json.loads(data[20 : 20 + header_len])["format"] == "recast.faceset-pack"


def test_pack_refuses_files_without_metadata(tmp_path: Path) -> None:
    folder = tmp_path / "aligned"
    make_faces(folder, 2)
    cv2.imwrite(str(folder / "photo.jpg"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InputError, match=r"photo\.jpg: is not a recast aligned face"):
        pack_faceset(folder)
    assert not (folder / PACK_NAME).exists() and len(list_faces(folder)) == 3


def test_resize_from_aligned_and_from_frames(tmp_path: Path) -> None:
    folder = tmp_path / "aligned"
    make_faces(folder, 3, size=256)
    result = resize_faceset(folder, 128, FaceType.FULL)
    assert result.output == tmp_path / "aligned_128" and result.from_aligned == 3
    small = read_face(result.output / "00001_0.jpg")
    assert small.image.shape == (128, 128, 3) and small.meta.face_type is FaceType.FULL
    expected = transform_matrix(small.meta.source_landmarks, 128, FaceType.FULL)
    assert np.allclose(small.meta.image_to_face_mat, expected, atol=0.05)
    with pytest.raises(OptionError, match="cannot cut a wider 'head' face"):
        resize_faceset(folder, 128, FaceType.HEAD)
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i:05d}.png"), synthetic_frame(yaw=0.15 * (i - 2), seed=i)[0])
    result = resize_faceset(folder, 96, FaceType.HEAD, frames=frames, output=tmp_path / "head")
    assert result.from_frames == 3
    head = read_face(tmp_path / "head" / "00001_0.jpg")
    assert head.meta.face_type is FaceType.HEAD and head.image.shape == (96, 96, 3)
    with pytest.raises(InputError, match="already exists"):
        resize_faceset(folder, 96, FaceType.HEAD, frames=frames, output=tmp_path / "head")
    before = {p.name: p.read_bytes() for p in list_faces(folder)}
    result = resize_faceset(folder, 200, in_place=True)
    assert {p.name: p.read_bytes() for p in list_faces(result.backup)} == before
    assert read_face(folder / "00000_0.jpg").image.shape == (200, 200, 3)


def test_metadata_export_then_import_onto_resized_images(tmp_path: Path) -> None:
    folder = tmp_path / "aligned"
    make_faces(folder, 3, size=128)
    original = read_meta(folder / "00001_0.jpg")
    path, count, skipped = export_metadata(folder)
    assert path == folder / "metadata.json" and count == 3 and skipped == []
    for p in list_faces(folder):  # "edit" each image: scale to 256, which drops the metadata
        cv2.imwrite(str(p), cv2.resize(cv2.imread(str(p)), (256, 256)))
    with pytest.raises(Exception, match="no recast face metadata"):
        read_meta(folder / "00001_0.jpg")
    result = import_metadata(folder)
    assert sorted(result.updated) == sorted(result.rescaled) == sorted(p.name for p in list_faces(folder))
    restored = read_meta(folder / "00001_0.jpg")
    assert np.allclose(restored.landmarks, original.landmarks * 2, atol=0.01)
    assert np.allclose(restored.image_to_face_mat, original.image_to_face_mat * 2, atol=1e-6)
    assert restored.source_filename == original.source_filename
    with pytest.raises(InputError, match="no such file"):
        import_metadata(folder, tmp_path / "none.json")


def test_debug_and_info(tmp_path: Path) -> None:
    folder = tmp_path / "aligned"
    make_faces(folder, 4)
    cv2.imwrite(str(folder / "stray.png"), np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(Exception, match=r"stray\.png"):
        debug_faceset(folder)
    (folder / "stray.png").unlink()
    out = debug_faceset(folder)
    assert out == tmp_path / "aligned_debug" and len(list(out.iterdir())) == 4
    drawn, plain = cv2.imread(str(out / "00000_0.jpg")), read_face(folder / "00000_0.jpg").image
    assert np.abs(drawn.astype(int) - plain).mean() > 1
    cv2.imwrite(str(folder / "stray.png"), np.zeros((16, 16, 3), np.uint8))
    info = faceset_info(folder)
    assert info.faces == 4 and info.face_types == {"whole": 4} and info.without_metadata == ["stray.png"]
    assert sum(c for _, _, c in info.histogram("yaw")) == 4
    assert plot_info(info, tmp_path / "plot.png").stat().st_size > 1000
    (folder / "stray.png").unlink()
    pack_faceset(folder)
    assert faceset_info(folder).packed and faceset_info(folder).faces == 4


def test_dedupe_moves_near_duplicates_to_trash(tmp_path: Path) -> None:
    folder = tmp_path / "aligned"
    make_faces(folder, 4)
    for i, path in enumerate(list_faces(folder)):  # distinct textures: synthetic faces alone look alike
        noise = np.random.default_rng(i).integers(0, 255, (128, 128, 3)).astype(np.uint8)
        texture = cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 6), None, 0, 255, cv2.NORM_MINMAX)
        write_face(path, texture, read_meta(path))
    face = read_face(folder / "00002_0.jpg")
    write_face(folder / "copy_a.jpg", face.image, face.meta, jpeg_quality=70)
    write_face(folder / "copy_b.jpg", cv2.GaussianBlur(face.image, (3, 3), 0), face.meta)
    before = {p.name: p.read_bytes() for p in list_faces(folder)}
    result = dedupe_faceset(folder)
    assert result.moved == 2 and len(result.groups) == 1
    group = next(iter(result.groups.items()))
    assert sorted([group[0], *group[1]]) == ["00002_0.jpg", "copy_a.jpg", "copy_b.jpg"]
    assert len(list_faces(folder)) == 4 and len(list((tmp_path / "aligned_trash").iterdir())) == 2
    restore(folder)
    assert {p.name: p.read_bytes() for p in list_faces(folder)} == before


def test_image_size_reads_headers() -> None:
    image = np.zeros((30, 50, 3), np.uint8)
    for ext in (".jpg", ".png"):
        assert image_size(cv2.imencode(ext, image)[1].tobytes()) == (50, 30)
    assert image_size(b"nope") is None


def test_cli_sort_restore_and_errors(tmp_path: Path) -> None:
    from recast.cli.main import app

    folder = tmp_path / "aligned"
    before = make_faces(folder, 4)
    runner = CliRunner()
    result = runner.invoke(app, ["sort", str(folder), "--by", "yaw"])
    assert result.exit_code == 0, result.output
    assert [p.name[:5] for p in list_faces(folder)] == ["00000", "00001", "00002", "00003"]
    assert runner.invoke(app, ["sort", str(folder), "--restore"]).exit_code == 0
    assert {p.name: p.read_bytes() for p in list_faces(folder)} == before
    for args in (["faceset", "info", str(folder)], ["faceset", "metadata", "export", str(folder)],
                 ["faceset", "pack", str(folder)], ["faceset", "unpack", str(folder)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
    result = runner.invoke(app, ["sort", str(folder), "--by", "nope"])
    assert isinstance(result.exception, OptionError)
