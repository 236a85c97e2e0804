"""The aligned-face file format: round trips, and refusal of bad or hostile metadata."""

from __future__ import annotations

import json
import os
import pickle
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from faces_factory import synthetic_face
from recast.errors import InputError, MetadataError
from recast.faces.aligned import MAGIC, embed_metadata, read_face, read_meta, write_face
from recast.faces.facetype import FaceType


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_round_trip_keeps_every_field(tmp_path: Path, suffix: str) -> None:
    image, meta = synthetic_face(FaceType.WHOLE, 256)
    meta.embedding = np.linspace(-1, 1, 128, dtype=np.float32)
    meta.xseg_mask = np.tri(64, dtype=np.float32)
    meta.extra = {"note": "hello", "score": 1.5}
    path = tmp_path / f"00001_0{suffix}"
    write_face(path, image, meta)
    face = read_face(path)
    assert face.image.shape == (256, 256, 3)
    got = face.meta
    assert got.face_type is FaceType.WHOLE and got.source_filename == "00001.png"
    np.testing.assert_allclose(got.landmarks, meta.landmarks, atol=1e-3)
    np.testing.assert_allclose(got.image_to_face_mat, meta.image_to_face_mat)
    np.testing.assert_allclose(got.embedding, meta.embedding, atol=1e-6)
    np.testing.assert_array_equal(got.xseg_mask, meta.xseg_mask)
    assert got.extra == meta.extra and got.source_frame_index == 1
    assert read_meta(path).pose == pytest.approx(meta.pose, abs=1e-5)
    # The file is still an ordinary image for any other program.
    assert cv2.imread(str(path)).shape == (256, 256, 3)


def test_rewriting_metadata_keeps_pixels(tmp_path: Path) -> None:
    image, meta = synthetic_face()
    path = tmp_path / "f.jpg"
    write_face(path, image, meta)
    before = cv2.imread(str(path))
    meta.extra = {"sorted": True}
    path.write_bytes(embed_metadata(path.read_bytes(), meta))
    np.testing.assert_array_equal(cv2.imread(str(path)), before)
    assert read_meta(path).extra == {"sorted": True}


def _jpeg_with_app15(payload: bytes) -> bytes:
    _, buffer = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))
    data = buffer.tobytes()
    return data[:2] + b"\xff\xef" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-pickle",))


def test_pickle_metadata_is_refused_without_running_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    payload = pickle.dumps(_Exploit())
    for name, data in {
        "dfl_style.jpg": _jpeg_with_app15(payload),
        "recast_magic.jpg": _jpeg_with_app15(MAGIC + b"\x00\x01" + payload),
    }.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(MetadataError, match="pickle"):
            read_face(tmp_path / name)
    assert not (tmp_path / "pwned-by-pickle").exists()


def _with_json(text: bytes) -> bytes:
    return _jpeg_with_app15(MAGIC + b"\x00\x01" + text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2, 3]", "not a JSON object"),
        (json.dumps({"format": "other"}).encode(), "format"),
        (b"[" * 30000 + b"]" * 30000, "not valid JSON"),
    ],
)
def test_corrupt_metadata_gives_a_clear_error(tmp_path: Path, text: bytes, message: str) -> None:
    path = tmp_path / "bad.jpg"
    path.write_bytes(_with_json(text))
    with pytest.raises(MetadataError, match=message) as info:
        read_meta(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_wrong_types_are_named(tmp_path: Path) -> None:
    _, meta = synthetic_face()
    good = meta.to_json()
    cases = {
        "landmarks": [[1, 2]] * 10,
        "source_filename": {"x": 1},
        "image_to_face_mat": "eval('1')",
        "detector_score": float("nan"),
        "version": 99,
    }
    for key, value in cases.items():
        bad = dict(good, **{key: value})
        path = tmp_path / f"{key}.jpg"
        path.write_bytes(_with_json(json.dumps(bad).encode()))
        with pytest.raises(MetadataError, match=key if key != "version" else "newer"):
            read_meta(path)


def test_oversized_and_truncated_files(tmp_path: Path) -> None:
    segment = MAGIC + b"\x00\x02" + b"x" * 65000
    data = _jpeg_with_app15(segment)
    many = data[:2] + b"".join(data[2 : 2 + 4 + len(segment)] for _ in range(20)) + data[2:]
    (tmp_path / "huge.jpg").write_bytes(many)
    with pytest.raises(MetadataError, match="oversized"):
        read_meta(tmp_path / "huge.jpg")
    image, meta = synthetic_face()
    write_face(tmp_path / "ok.jpg", image, meta)
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "ok.jpg").read_bytes()[:300])
    with pytest.raises(MetadataError):
        read_face(tmp_path / "cut.jpg")
    (tmp_path / "plain.jpg").write_bytes(_jpeg_with_app15(b"JFIF\x00"))
    with pytest.raises(MetadataError, match="no recast face metadata"):
        read_meta(tmp_path / "plain.jpg")
    (tmp_path / "text.jpg").write_text("hello")
    with pytest.raises(MetadataError, match="not an aligned face"):
        read_meta(tmp_path / "text.jpg")
    with pytest.raises(InputError, match="no such file"):
        read_face(tmp_path / "missing.jpg")


@pytest.mark.parametrize("kind", ["pickle", "oversized", "wrong_types"])
def test_cli_refuses_hostile_faces_in_one_line(tmp_path: Path, kind: str) -> None:
    import subprocess
    import sys

    folder = tmp_path / "aligned"
    folder.mkdir()
    image, meta = synthetic_face()
    write_face(folder / "00001_0.jpg", image, meta)
    marker = tmp_path / "pwned"
    if kind == "pickle":
        payload = pickle.dumps(_Touch(str(marker)))
        data = _jpeg_with_app15(MAGIC + b"\x00\x01" + payload)
    elif kind == "oversized":
        segment = MAGIC + b"\x00\x02" + b"x" * 65000
        one = _jpeg_with_app15(segment)
        data = one[:2] + b"".join(one[2 : 6 + len(segment)] for _ in range(20)) + one[2:]
    else:
        data = _with_json(json.dumps(dict(meta.to_json(), landmarks="rm -rf /")).encode())
    (folder / "00002_0.jpg").write_bytes(data)
    before = sorted(p.name for p in folder.iterdir())
    result = subprocess.run([sys.executable, "-m", "recast.cli", "sort", str(folder), "--by", "yaw"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "00002_0.jpg" in errors[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not marker.exists()
    assert sorted(p.name for p in folder.iterdir()) == before


class _Touch:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))
