"""Issue #28 cases 2, 10, 11, 12 and the metadata notes: bounded parsers.

Case 2: a ~2 KB "billion laughs" pickle cost 3.3 GB and 56 s in ``import-dfl``. Case 10: one bad
FaceSwap header aborted the whole import, and both importers wrote faces recast could not read.
Case 11: overlapping pack entries expanded a 5 MB pack into 257 MB. Case 12: a FIFO named
``faceset.rfs`` blocked unpack forever. Notes: NaN/Inf in a face's ``extra`` were accepted and
exported as non-standard JSON; a 100k-deep ``state.json`` gave a RecursionError traceback.
"""

from __future__ import annotations

import json
import os
import struct
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from faces_factory import synthetic_face, synthetic_frame
from hostile_factory import laughs_pickle, run_peak, write_bytes
from recast.errors import InputError, MetadataError
from recast.faces.aligned import _jpeg_with_text, encode_face, metadata_text, read_meta, write_face
from recast.faceset.faceswap import import_faceswap
from recast.faceset.pack import MAGIC, PackedFaceSet, pack_faceset, unpack_faceset
from recast.faceset.plainpickle import MAX_NODES, load_plain
from recast.options import strictjson

MAX_PEAK_MIB = 500


@pytest.mark.parametrize("kind", ["list", "tuple"])
def test_billion_laughs_pickles_are_refused_at_once(kind: str) -> None:
    """Case 2: 10**29 values described in 1.7 KB; the checker counts shared references, each once checked."""
    data = laughs_pickle(levels=30, fanout=10, kind=kind)
    assert len(data) < 4096
    with pytest.raises(ValueError, match=f"over {MAX_NODES} values"):
        load_plain(data)


def test_shared_references_below_the_bounds_still_load() -> None:
    value = load_plain(laughs_pickle(levels=4, fanout=10))
    assert len(value) == 10 and value[0][0] == value[9][9] and len(value[3][2]) == 10


_LAUGHS = """
import time
from hostile_factory import laughs_pickle
from recast.faceset.plainpickle import load_plain
started = time.process_time()
for kind in ('list', 'tuple'):
    try:
        load_plain(laughs_pickle(levels=30, fanout=10, kind=kind))
    except ValueError as error:
        print('refused:', error)
print('cpu_s', time.process_time() - started)
"""


def test_billion_laughs_cost_no_memory_and_no_time() -> None:
    peak, output = run_peak(_LAUGHS)
    assert output.count("refused:") == 2, output
    assert float(output.split("cpu_s")[1].split()[0]) < 5.0, output  # CPU time, not wall-clock (was 56 s)
    assert peak < MAX_PEAK_MIB, f"peak {peak:.0f} MiB"


def _faceswap_png(header: dict, literal: tuple[str, str] = ("", "")) -> bytes:
    """A FaceSwap face PNG with ``header`` (``literal``: one text replacement in its Python literal)."""
    from test_import_faceswap import with_itxt

    _ok, png = cv2.imencode(".png", np.zeros((64, 64, 3), np.uint8))
    return with_itxt(png.tobytes(), b"faceswap", repr(header).replace(*literal).encode())


def test_bad_faceswap_headers_are_skipped_and_the_rest_imported(tmp_path: Path) -> None:
    """Case 10: each bad header is skipped with its reason; the good face is still converted."""
    frame, points = synthetic_frame(seed=3)
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "00001.png"), frame)

    def header(**alignments: object) -> dict:
        return {"alignments": {"x": 200, "y": 150, "w": 200, "h": 200, "landmarks_xy": points.tolist(), "mask": {},
                               **alignments},
                "source": {"source_filename": "00001.png", "source_frame_dims": frame.shape[:2]}}

    faces = tmp_path / "faces"
    write_bytes(faces / "1_good.png", _faceswap_png(header()))
    write_bytes(faces / "2_source.png", _faceswap_png({**header(), "source": "x"}))
    write_bytes(faces / "3_mask.png", _faceswap_png(header(mask={"components": {"mask": 3000000000,
                                                                                "stored_size": 128}})))
    write_bytes(faces / "4_name.png", _faceswap_png({**header(), "source": {"source_filename": ".."}}))
    write_bytes(faces / "5_box.png", _faceswap_png(header(x=12345.5), ("12345.5", "1e999")))
    result = import_faceswap(faces, tmp_path / "out", frames=frames, size=128)
    assert [p.name for p in result.converted] == ["1_good.png"]
    assert set(result.skipped) == {"2_source.png", "3_mask.png", "4_name.png", "5_box.png"}, result.skipped
    assert "not a dict" in result.skipped["2_source.png"]
    assert "no compressed mask bytes" in result.skipped["3_mask.png"]
    assert "source_filename" in result.skipped["4_name.png"]
    assert "source_rect" in result.skipped["5_box.png"]
    for path in result.converted:
        read_meta(path)  # everything written reads back


def test_dfl_faces_recast_could_not_read_are_skipped(tmp_path: Path) -> None:
    """Case 10: DeepFaceLab metadata naming its frame ``..`` is skipped, not written unreadable."""
    from recast.faceset.dfl import import_dfl
    from test_import_dfl import dfl_face

    aligned = tmp_path / "aligned"
    aligned.mkdir()
    dfl_face(aligned, "00001_0.jpg", 0)
    dfl_face(aligned, "00002_0.jpg", 1, source_filename="..")
    result = import_dfl(aligned, tmp_path / "out")
    assert [p.name for p in result.converted] == ["00001_0.jpg"]
    assert "source_filename" in result.skipped["00002_0.jpg"]


def _pack_with_entries(path: Path, face: bytes, entries: list[dict]) -> Path:
    header = json.dumps({"format": "recast.faceset-pack", "version": 1, "entries": entries}).encode()
    return write_bytes(path, MAGIC + struct.pack("<IQ", 1, len(header)) + header + face)


def test_overlapping_pack_entries_are_refused(tmp_path: Path) -> None:
    """Case 11: 50 entries at offset 0 would read one face's bytes 50 times."""
    image, meta = synthetic_face(size=64)
    face = encode_face(image, meta, "jpg")
    entries = [{"name": f"{i:05d}_0.jpg", "offset": 0, "size": len(face)} for i in range(50)]
    pack = _pack_with_entries(tmp_path / "a" / "faceset.rfs", face, entries)
    with pytest.raises(InputError, match="overlaps the entry before it"):
        PackedFaceSet(pack)
    tail = [{"name": "00001_0.jpg", "offset": 0, "size": len(face)},
            {"name": "00002_0.jpg", "offset": len(face) - 16, "size": 16}]
    with pytest.raises(InputError, match="overlaps"):
        PackedFaceSet(_pack_with_entries(tmp_path / "b" / "faceset.rfs", face, tail))
    assert len(PackedFaceSet(_pack_with_entries(tmp_path / "c" / "faceset.rfs", face, entries[:1]))) == 1


def test_a_fifo_pack_is_refused_without_blocking(tmp_path: Path) -> None:
    """Case 12: ``faceset.rfs`` is a FIFO with no writer; unpack answers at once."""
    folder = tmp_path / "aligned"
    folder.mkdir()
    os.mkfifo(folder / "faceset.rfs")
    errors: list[BaseException] = []

    def unpack() -> None:
        try:
            unpack_faceset(folder)
        except BaseException as error:
            errors.append(error)

    worker = threading.Thread(target=unpack, daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "unpack blocked on the FIFO"
    assert isinstance(errors[0], InputError) and "not a regular file" in str(errors[0])
    with pytest.raises(InputError, match="not a regular file"):
        read_meta(folder / "faceset.rfs")


def test_a_packed_faceset_round_trips(tmp_path: Path) -> None:
    folder = tmp_path / "aligned"
    for i in range(3):
        image, meta = synthetic_face(size=64, seed=i)
        write_face(folder / f"{i:05d}_0.jpg", image, meta)
    pack = pack_faceset(folder)
    assert PackedFaceSet(pack).names == ["00000_0.jpg", "00001_0.jpg", "00002_0.jpg"]
    assert len(unpack_faceset(folder)) == 3


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_in_metadata_are_refused(tmp_path: Path, constant: str) -> None:
    image, meta = synthetic_face(size=64)
    data = encode_face(image, meta, "jpg")
    text = metadata_text(data)
    assert text is not None
    hostile = text.replace(b'"extra":{}', b'"extra":{"score":' + constant.encode() + b"}")
    assert hostile != text
    path = write_bytes(tmp_path / "face.jpg", _jpeg_with_text(data, hostile))
    with pytest.raises(MetadataError, match=constant.lstrip("-")):
        read_meta(path)
    meta.extra = {"score": float(constant.lower().replace("infinity", "inf"))}
    with pytest.raises(ValueError):
        encode_face(image, meta, "jpg")


def test_deep_json_is_refused_before_parsing(tmp_path: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ValueError, match="nested 100000 deep"):
        strictjson.loads(deep)
    assert strictjson.nesting_depth('{"a": "[[[[", "b": [[1]]}') == 3
    state = write_bytes(tmp_path / "model" / "state.json", deep.encode())
    from recast.models.checkpoint import _read_json

    with pytest.raises(InputError, match="nested 100000 deep"):
        _read_json(state)
    image, meta = synthetic_face(size=64)
    data = encode_face(image, meta, "jpg")
    face = write_bytes(tmp_path / "deep.jpg", _jpeg_with_text(data, deep.encode()))
    with pytest.raises(MetadataError, match="nested"):
        read_meta(face)


def test_labels_without_a_usable_shape_store_nothing(tmp_path: Path) -> None:
    """Note: a LabelMe file whose shapes are all unusable reported "stored in 1 faces" with none stored."""
    from recast.faceset.labelformats import import_labelme

    image, meta = synthetic_face(size=64)
    faces = tmp_path / "aligned"
    write_face(faces / "00001_0.jpg", image, meta)
    before = (faces / "00001_0.jpg").read_bytes()
    label = {"imagePath": "00001_0.jpg", "imageWidth": 64, "imageHeight": 64,
             "shapes": [{"label": "face", "shape_type": "rectangle", "points": [[1, 1], [30, 30]]}]}
    source = write_bytes(tmp_path / "labels" / "00001_0.json", json.dumps(label).encode())
    result = import_labelme(faces, source)
    assert result.updated == [] and result.empty == ["00001_0.jpg"]
    assert (faces / "00001_0.jpg").read_bytes() == before
