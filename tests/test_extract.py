"""The extraction stage on a real face in a real (synthetic-motion) video."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from media_factory import astronaut_bgr, write_face_clip
from recast.errors import InputError
from recast.extract.stage import LOG_NAME, ExtractOptions, extract
from recast.faces.aligned import read_face
from recast.faces.alignment import transform_points
from recast.faces.facetype import FaceType

RECAST = [sys.executable, "-m", "recast.cli"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_face_clip(tmp_path_factory.mktemp("clip") / "face.mp4", count=20)


@pytest.fixture(scope="module")
def extracted(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("ws") / "aligned"
    summary = extract(clip, out, ExtractOptions(size=256, debug=True, workers=2))
    return out, summary


def test_every_frame_gives_one_aligned_face(extracted: tuple[Path, object]) -> None:
    out, summary = extracted
    assert (summary.frames, summary.faces, summary.frames_without_face) == (20, 20, 0)
    files = sorted(p.name for p in out.glob("*.jpg"))
    assert files == [f"{i:05d}_0.jpg" for i in range(1, 21)]
    face = read_face(out / "00007_0.jpg")
    meta = face.meta
    assert face.image.shape == (256, 256, 3) and meta.face_type is FaceType.WHOLE
    assert meta.source_filename == "00007.png" and meta.source_size == (320, 320)
    np.testing.assert_allclose(transform_points(meta.source_landmarks, meta.image_to_face_mat), meta.landmarks,
                               atol=0.01)
    assert abs(meta.pose[1]) < 0.5 and meta.detector == "dlib-hog"
    left_eye, right_eye = meta.landmarks[36:42].mean(axis=0), meta.landmarks[42:48].mean(axis=0)
    assert left_eye[0] < right_eye[0] and abs(left_eye[1] - right_eye[1]) < 256 * 0.03  # upright crop
    assert len(list(out.with_name("aligned_debug").glob("*.jpg"))) == 20


def test_rerun_skips_finished_frames_and_frames_list_redoes_some(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "aligned"
    extract(clip, out, ExtractOptions(size=256, workers=1))
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.jpg")}
    again = extract(clip, out, ExtractOptions(size=256, workers=1))
    assert again.skipped_done == 20 and again.frames == 20
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.jpg")} == before
    extract(clip, out, ExtractOptions(size=256, workers=1, frames_list=["3", "00005.png"]))
    changed = sorted(n for n, t in before.items() if (out / n).stat().st_mtime_ns != t)
    assert changed == ["00003_0.jpg", "00005_0.jpg"]


def test_interrupted_log_line_is_ignored(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "aligned"
    extract(clip, out, ExtractOptions(size=256, workers=1, smooth=False))
    log = out / LOG_NAME
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:10]) + '\n{"frame": "00011.p')  # killed mid-write
    summary = extract(clip, out, ExtractOptions(size=256, workers=1, smooth=False))
    assert summary.skipped_done == 10 and summary.frames == 20 and summary.faces == 20


def test_folder_input_rotation_retry_and_no_face(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    face = astronaut_bgr()
    cv2.imwrite(str(frames / "00001.png"), face)
    cv2.imwrite(str(frames / "00002.png"), cv2.rotate(face, cv2.ROTATE_90_CLOCKWISE))
    cv2.imwrite(str(frames / "00003.png"), np.full((300, 300, 3), 128, np.uint8))
    out = tmp_path / "aligned"
    summary = extract(frames, out, ExtractOptions(size=256, workers=1))
    assert (summary.frames, summary.faces, summary.frames_without_face) == (3, 2, 1)
    upright, turned = read_face(out / "00001_0.jpg"), read_face(out / "00002_0.jpg")
    # The rotated frame's landmarks are in its own (rotated) pixel frame: nose = rotated upright nose.
    x, y = upright.meta.source_landmarks[30]
    np.testing.assert_allclose(turned.meta.source_landmarks[30], [511 - y, x], atol=6)
    # …and the aligned crop is upright again, close to the unrotated one.
    assert np.abs(turned.image.astype(float) - upright.image.astype(float)).mean() < 25


def test_min_face_size_and_bad_options(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "00001.png"), astronaut_bgr())
    summary = extract(frames, tmp_path / "a", ExtractOptions(size=256, workers=1, min_face_size=200))
    assert summary.faces == 0
    with pytest.raises(Exception, match="--size"):
        extract(frames, tmp_path / "b", ExtractOptions(size=64))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="holds no images"):
        extract(empty, tmp_path / "c")


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([*RECAST, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("kind", ["text_mp4", "corrupt_mp4", "empty_folder", "unreadable_image", "missing"])
def test_cli_bad_input_is_one_line_and_nonzero(kind: str, tmp_path: Path, clip: Path) -> None:
    if kind == "text_mp4":
        source = tmp_path / "notes.mp4"
        source.write_text("this is not a video\n")
    elif kind == "corrupt_mp4":
        source = tmp_path / "broken.mp4"
        source.write_bytes(clip.read_bytes()[:2000])
    elif kind == "empty_folder":
        source = tmp_path / "nothing"
        source.mkdir()
    elif kind == "unreadable_image":
        source = tmp_path / "frames"
        source.mkdir()
        (source / "00001.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    else:
        source = tmp_path / "missing.mp4"
    out = tmp_path / "aligned"
    result = _run_cli("extract", str(source), str(out), "--workers", "1")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and str(source.name) in lines[0], result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert not any(out.glob("*.jpg"))


def test_reference_keeps_the_person_with_worker_processes(clip: Path, tmp_path: Path) -> None:
    reference = tmp_path / "me.png"
    cv2.imwrite(str(reference), astronaut_bgr())
    summary = extract(clip, tmp_path / "aligned", ExtractOptions(size=256, workers=2, reference=[reference]))
    assert summary.faces == 20 and summary.rejected_by_identity == 0
    strict = extract(clip, tmp_path / "strict", ExtractOptions(size=256, workers=1, reference=[reference],
                                                                 reference_threshold=0.0))
    assert strict.faces == 0 and strict.rejected_by_identity == 20
    no_face = tmp_path / "wall.png"
    cv2.imwrite(str(no_face), np.full((200, 200, 3), 90, np.uint8))
    with pytest.raises(InputError, match="no face found in this reference photo"):
        extract(clip, tmp_path / "x", ExtractOptions(reference=[no_face]))
