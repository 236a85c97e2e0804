"""DeepFaceLab faceset migration: DFL-format files written here from DeepFaceLab's documented layout
(JPEG + APP15 ``pickle.dumps(dict)``), converted, and hostile pickles refused without running."""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from faces_factory import synthetic_face, synthetic_frame
from recast.cli.main import app
from recast.errors import MetadataError
from recast.faces.aligned import read_face, read_meta
from recast.faces.facetype import FaceType
from recast.faceset.dfl import dfl_metadata, import_dfl
from recast.faceset.plainpickle import load_plain


def dfl_jpeg(image: np.ndarray, payload: bytes) -> bytes:
    """A JPEG with ``payload`` as an APP15 segment after the last APPn, the way DeepFaceLab stores metadata."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    data = encoded.tobytes()
    pos = 2
    while data[pos + 1] in range(0xE0, 0xF0):
        pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
    return data[:pos] + b"\xff\xef" + struct.pack(">H", len(payload) + 2) + payload + data[pos:]


def dfl_pickle(metadata: dict, protocol: int = 3) -> bytes:
    """``pickle.dumps`` as DeepFaceLab (Python 3.6–3.7, numpy 1.x) wrote it: protocol 3, ``numpy.core`` paths."""
    return pickle.dumps(metadata, protocol=protocol).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def dfl_face(folder: Path, name: str, seed: int, **changes: object) -> dict:
    """Write one DeepFaceLab aligned face (whole_face, 256 px) and return its metadata dict."""
    image, meta = synthetic_face(FaceType.WHOLE, size=256, yaw=0.1 * seed, seed=seed,
                                 source_filename=f"{seed + 1:05d}.png")
    mask = np.zeros((256, 256), np.uint8)
    cv2.circle(mask, (128, 140), 90, 255, -1)
    metadata = {
        "face_type": "whole_face",
        "landmarks": meta.landmarks.tolist(),
        "source_filename": meta.source_filename,
        "source_rect": np.array(meta.source_rect, np.float64),
        "source_landmarks": np.asarray(meta.source_landmarks, np.float32),
        "image_to_face_mat": np.asarray(meta.image_to_face_mat, np.float64),
        "eyebrows_expand_mod": 1.0,
        "seg_ie_polys": {"polys": [{"type": 1, "pts": np.array([[40, 40], [216, 40], [216, 230], [40, 230]],
                                                               np.float32)},
                                   {"type": 0, "pts": np.array([[100, 100], [150, 100], [150, 150]], np.float32)}]},
        "xseg_mask": np.frombuffer(cv2.imencode(".png", mask)[1].tobytes(), np.uint8),
        "pitch_yaw_roll": (0.0, 0.1, 0.0),
    }
    metadata.update(changes)
    (folder / name).write_bytes(dfl_jpeg(image, dfl_pickle({k: v for k, v in metadata.items() if v is not None})))
    return metadata


@pytest.fixture()
def dfl_folder(tmp_path: Path) -> Path:
    workspace = tmp_path / "data_src"
    aligned = workspace / "aligned"
    aligned.mkdir(parents=True)
    frame, _ = synthetic_frame(seed=0)
    cv2.imwrite(str(workspace / "00001.png"), frame)  # the source frame of the first face only
    dfl_face(aligned, "00001_0.jpg", 0)
    dfl_face(aligned, "00002_0.jpg", 1, xseg_mask=None, seg_ie_polys=[(1, [[10, 10], [200, 10], [100, 200]])])
    dfl_face(aligned, "00003_0.jpg", 2, face_type="full_face_no_align")
    return aligned


class Pwn:
    """A pickle payload that would create a marker file if anything unpickled it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_import_converts_metadata_masks_and_polygons(dfl_folder: Path, tmp_path: Path) -> None:
    original = (dfl_folder / "00001_0.jpg").read_bytes()
    result = import_dfl(dfl_folder)
    out = dfl_folder.with_name("aligned_recast")
    assert result.output == out and [p.name for p in result.converted] == ["00001_0.jpg", "00002_0.jpg"]
    assert "has no recast equivalent" in result.skipped["00003_0.jpg"]
    assert result.ignored_keys == {"pitch_yaw_roll": 2} and result.without_frame_size == 1

    raw = dfl_metadata(original)
    face = read_face(out / "00001_0.jpg")
    assert face.meta.face_type is FaceType.WHOLE and face.meta.source_filename == "00001.png"
    assert np.allclose(face.meta.landmarks, raw["landmarks"], atol=1e-3)
    assert np.allclose(face.meta.image_to_face_mat, raw["image_to_face_mat"])
    assert np.allclose(face.meta.source_landmarks, raw["source_landmarks"], atol=1e-3)
    assert face.meta.source_size == (synthetic_frame(seed=0)[0].shape[1], synthetic_frame(seed=0)[0].shape[0])
    assert face.meta.xseg_mask is not None and face.meta.xseg_mask[140, 128] == 1 and face.meta.xseg_mask[5, 5] == 0
    assert [p.include for p in face.meta.xseg_labels] == [True, False]
    decoded = cv2.imdecode(np.frombuffer(original, np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(face.image, decoded)  # pixels untouched

    drawn = read_meta(out / "00002_0.jpg")
    assert drawn.source_size == (0, 0) and drawn.xseg_mask is not None
    assert drawn.xseg_mask[50, 100] == 1 and drawn.xseg_mask[250, 250] == 0
    with pytest.raises(MetadataError, match="import-dfl"):
        read_meta(dfl_folder / "00001_0.jpg")
    assert {p.name for p in dfl_folder.iterdir()} == {"00001_0.jpg", "00002_0.jpg", "00003_0.jpg"}


def test_hostile_pickles_are_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    folder = tmp_path / "aligned"
    folder.mkdir()
    image, _ = synthetic_face(FaceType.WHOLE, size=256)
    payloads = {
        "system.jpg": pickle.dumps({"face_type": "whole_face", "landmarks": Pwn(marker)}, protocol=3),
        "eval.jpg": b"\x80\x03cbuiltins\neval\nX\x1c\x00\x00\x00__import__('os').system('id')\x85R.",
        "object_array.jpg": pickle.dumps({"landmarks": np.array([None] * 4, dtype=object)}, protocol=4),
        "huge_array.jpg": b"\x80\x03cnumpy\nndarray\nK\x00\x85C\x01b\x87R}q\x00b.",
    }
    for name, payload in payloads.items():
        (folder / name).write_bytes(dfl_jpeg(image, payload))
    result = import_dfl(folder)
    assert not result.converted and set(result.skipped) == set(payloads)
    assert "refusing to load posix.system" in result.skipped["system.jpg"]
    assert "refusing to load builtins.eval" in result.skipped["eval.jpg"]
    assert "non-numeric" in result.skipped["object_array.jpg"] or "refusing" in result.skipped["object_array.jpg"]
    assert not marker.exists()
    with pytest.raises(ValueError, match="refusing"):
        load_plain(pickle.dumps(Pwn(marker)))
    assert not marker.exists()


def test_cli_import_dfl_reports_what_it_skipped(dfl_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "converted"
    outcome = CliRunner().invoke(app, ["faceset", "import-dfl", str(dfl_folder), "-o", str(out)],
                                 env={"COLUMNS": "300"})
    assert outcome.exit_code == 0, outcome.output
    text = " ".join(outcome.output.split())
    assert "converted 2 faces" in text and "skipped 1 files" in text and "full_face_no_align" in text
    assert "pitch_yaw_roll (2)" in text and "give --frames" in text
    again = CliRunner().invoke(app, ["faceset", "import-dfl", str(dfl_folder), "-o", str(out)])
    assert again.exit_code != 0 and "no face could be converted" in str(again.exception)
