"""Issue #14 case 8: finite but absurd metadata is refused with an error that names the file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from faces_factory import synthetic_face
from recast.errors import InputError, MetadataError
from recast.faces.aligned import _jpeg_with_text, encode_face, metadata_text, read_meta
from recast.faceset.resize import resize_faceset
from recast.provenance.writer import encode_video


def _face_with(tmp_path: Path, name: str = "00001_0.jpg", **changes: Any) -> Path:
    image, meta = synthetic_face(size=64)
    record = json.loads(metadata_text(encode_face(image, meta, "jpg")) or b"{}")
    record.update(changes)
    plain = cv2.imencode(".jpg", image)[1].tobytes()
    path = tmp_path / name
    path.write_bytes(_jpeg_with_text(plain, json.dumps(record).encode("utf-8")))
    return path


@pytest.mark.parametrize(("changes", "message"), [
    ({"landmarks": [[1e308, 1e308]] * 68}, "landmarks holds values outside"),
    ({"source_landmarks": [[-1e308, 5.0]] * 68}, "source_landmarks holds values outside"),
    ({"source_size": [1e308, 480]}, "source_size holds values outside"),
    ({"source_size": [640.5, 480]}, "source_size is not two whole numbers"),
    ({"source_rect": [0, 0, 1e300, 1]}, "source_rect holds values outside"),
    ({"image_to_face_mat": [[0, 0, 0], [0, 0, 0]]}, "not an invertible crop transform"),
    ({"image_to_face_mat": [[1e300, 0, 0], [0, 1e300, 0]]}, "image_to_face_mat holds values outside"),
    ({"pose": [0, 1e9, 0]}, "pose holds values outside"),
    ({"eyebrows_expand": 1e300}, "eyebrows_expand 1e\\+300 is outside"),
    ({"detector_score": 1e300}, "detector_score"),
    ({"embedding": [1e30] * 128}, "embedding holds values outside"),
    ({"face_type": "giraffe"}, "face_type 'giraffe' is not a known face type"),
    ({"source_filename": "/etc/passwd"}, "source_filename is not a plain file name"),
    ({"source_filename": "../frames/00001.png"}, "source_filename is not a plain file name"),
    ({"source_size": [[1, 2], [3]]}, "source_size is not an array of numbers"),
])
def test_absurd_metadata_is_one_error_naming_the_file(tmp_path: Path, changes: dict, message: str) -> None:
    path = _face_with(tmp_path, **changes)
    with pytest.raises(MetadataError, match=message) as caught:
        read_meta(path)
    assert str(caught.value).startswith(f"{path}: invalid metadata: ")


def test_plausible_metadata_still_reads(tmp_path: Path) -> None:
    meta = read_meta(_face_with(tmp_path))
    assert meta.landmarks.shape == (68, 2) and meta.source_filename == "00001.png"


def test_resize_never_reads_a_frame_outside_the_faceset(tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    cv2.imwrite(str(outside / "00001.png"), np.zeros((480, 640, 3), np.uint8))
    faces = tmp_path / "aligned"
    faces.mkdir()
    _face_with(faces, source_filename=str(outside / "00001.png"))
    with pytest.raises(MetadataError, match="source_filename is not a plain file name"):
        resize_faceset(faces, 128, frames=outside)


def test_non_utf8_output_is_refused_before_any_video_is_written(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "00001.png"), np.zeros((32, 32, 3), np.uint8))
    output = Path(os.fsdecode(bytes(tmp_path) + b"/r\xe9sult.mp4"))
    with pytest.raises(InputError, match="not valid UTF-8"):
        encode_video(frames, output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]
