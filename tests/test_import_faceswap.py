"""FaceSwap faceset migration: PNGs with FaceSwap's documented ``faceswap`` iTXt header, written here,
converted to recast faces; code in a header is refused, never run."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from media_factory import astronaut_bgr
from recast.cli.main import app
from recast.extract.analyze import AnalyzeOptions, FrameAnalyzer
from recast.faces.aligned import read_face
from recast.faces.alignment import invert_affine, transform_matrix, transform_points
from recast.faces.facetype import FaceType
from recast.faceset.faceswap import import_faceswap


def with_itxt(png: bytes, keyword: bytes, text: bytes) -> bytes:
    """``png`` with an uncompressed iTXt chunk inserted before IEND."""
    body = keyword + b"\x00\x00\x00\x00\x00" + text
    chunk = struct.pack(">I", len(body)) + b"iTXt" + body + struct.pack(">I", zlib.crc32(b"iTXt" + body))
    end = png.rindex(b"IEND") - 4
    return png[:end] + chunk + png[end:]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """A FaceSwap faces folder (one face of the astronaut photo) and the frames folder beside it."""
    root = tmp_path_factory.mktemp("fs")
    frame = astronaut_bgr()
    (root / "frames").mkdir()
    cv2.imwrite(str(root / "frames" / "00001.png"), frame)
    face = FrameAnalyzer(AnalyzeOptions(detector="dlib-hog")).analyze(frame)[0]
    points = face.landmarks.astype(np.float64)
    rotate = cv2.getRotationMatrix2D((128.0, 128.0), 6.0, 0.9)  # FaceSwap's crop is not recast's
    to_crop = np.vstack([rotate, [0, 0, 1]]) @ np.vstack([transform_matrix(points, 256, FaceType.FULL), [0, 0, 1]])
    crop = cv2.warpAffine(frame, to_crop[:2], (256, 256), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    to_stored = transform_matrix(points, 128, FaceType.FULL)
    stored = np.zeros((128, 128), np.uint8)
    cv2.fillConvexPoly(stored, cv2.convexHull(np.round(transform_points(points, to_stored)).astype(np.int32)), 255)
    left, top, right, bottom = face.rect
    header = {
        "alignments": {
            "x": int(left), "y": int(top), "w": int(right - left), "h": int(bottom - top),
            "landmarks_xy": points.tolist(),
            "mask": {"components": {"mask": zlib.compress(stored.tobytes()),
                                    "affine_matrix": invert_affine(to_stored).tolist(), "interpolator": 2,
                                    "stored_size": 128, "stored_centering": "face"}},
            "identity": {},
        },
        "source": {"alignments_version": 2.4, "original_filename": "00001_0.png", "face_index": 0,
                   "source_filename": "00001.png", "source_is_video": False,
                   "source_frame_dims": (frame.shape[0], frame.shape[1])},
    }
    faces = root / "faces"
    faces.mkdir()
    png = cv2.imencode(".png", crop)[1].tobytes()
    (faces / "00001_0.png").write_bytes(with_itxt(png, b"faceswap", repr(header).encode()))
    header["alignments"]["landmarks_xy"] = points[:51].tolist()
    (faces / "00002_0.png").write_bytes(with_itxt(png, b"faceswap", repr(header).encode()))
    (faces / "00003_0.png").write_bytes(with_itxt(png, b"faceswap", f"__import__('os').system('touch {root}/pwned')"
                                                  .encode()))
    return faces, root / "frames", frame, points


def test_import_from_frames_is_exact(scene: tuple[Path, Path, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    faces, frames, frame, points = scene
    result = import_faceswap(faces, tmp_path / "out", frames=frames, face_type="wf", size=256)
    assert [p.name for p in result.converted] == ["00001_0.png"] and result.from_frames == 1
    assert "recast needs 68" in result.skipped["00002_0.png"]
    assert "not a plain literal" in result.skipped["00003_0.png"] and not (faces.parent / "pwned").exists()
    face = read_face(tmp_path / "out" / "00001_0.png")
    expected = cv2.warpAffine(frame, transform_matrix(points, 256, FaceType.WHOLE), (256, 256),
                              flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REPLICATE)
    assert np.array_equal(face.image, expected)
    assert face.meta.face_type is FaceType.WHOLE and face.meta.source_size == (frame.shape[1], frame.shape[0])
    centre = np.round(face.meta.landmarks.mean(axis=0)).astype(int)
    assert face.meta.xseg_mask is not None and face.meta.xseg_mask[centre[1], centre[0]] == 1
    assert face.meta.xseg_mask[2, 2] == 0 and result.masks == {"components": 1}


def test_import_without_frames_places_the_crop(scene: tuple[Path, Path, np.ndarray, np.ndarray],
                                               tmp_path: Path) -> None:
    faces, _, frame, points = scene
    outcome = CliRunner().invoke(app, ["faceset", "import-faceswap", str(faces), "-o", str(tmp_path / "out"),
                                       "--face-type", "full", "--size", "256"], env={"COLUMNS": "300"})
    assert outcome.exit_code == 0, outcome.output
    text = " ".join(outcome.output.split())
    assert "converted 1 faces" in text and "1 from FaceSwap's crops" in text and "skipped 2 files" in text
    face = read_face(tmp_path / "out" / "00001_0.png")
    expected = cv2.warpAffine(frame, transform_matrix(points, 256, FaceType.FULL), (256, 256))
    centre = (slice(64, 192), slice(64, 192))
    difference = np.abs(face.image[centre].astype(float) - expected[centre].astype(float)).mean()
    assert difference < 12, difference
