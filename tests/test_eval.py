"""Swap-quality metrics: hand-made landmark cases, and end-to-end runs on a synthetic clip."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from matplotlib import cbook
from typer.testing import CliRunner

from media_factory import face_clip_frames, write_face_clip
from recast.cli.main import app
from recast.errors import InputError, OptionError
from recast.eval import evaluate, write_report
from recast.eval.metrics import (
    background_psnr,
    excess_motion,
    expression_error,
    inter_ocular,
    landmark_motion,
    pose_error,
)
from recast.extract.stage import ExtractOptions, extract
from recast.faces.masks import hull_mask
from recast.faces.pose import project_face_model
from recast.media.video_encode import VideoWriter

SIZE = (512, 512)


@pytest.mark.parametrize(("angles", "axis"), [((0.0, 15.0, 0.0), 1), ((10.0, 0.0, 0.0), 0), ((0.0, 0.0, 12.0), 2),
                                              ((0.0, -25.0, 0.0), 1)])
def test_pose_error_of_a_known_turn(angles: tuple[float, float, float], axis: int) -> None:
    base = project_face_model(0.0, math.radians(5.0), 0.0, SIZE)
    pitch, yaw, roll = angles
    turned = project_face_model(math.radians(pitch), math.radians(yaw + 5.0), math.radians(roll), SIZE)
    errors = pose_error(base, turned, SIZE)
    expected = [0.0, 0.0, 0.0]
    expected[axis] = abs(angles[axis])
    assert np.allclose(errors, expected, atol=2.0), errors
    assert pose_error(base, base, SIZE) == (0.0, 0.0, 0.0)


def test_expression_error_of_a_shifted_mouth() -> None:
    face = project_face_model(0.0, 0.0, 0.0, SIZE)
    shift = 0.1 * inter_ocular(face)
    open_mouth = face.copy()
    open_mouth[48:68, 1] += shift
    errors = expression_error(face, open_mouth)
    assert errors["mouth"] == pytest.approx(0.1, abs=1e-6)
    assert errors["eyes"] == pytest.approx(0.0, abs=1e-6)
    assert errors["expression"] == pytest.approx(0.1 * 20 / 32, abs=1e-6)


def test_expression_error_ignores_position_size_and_roll() -> None:
    face = project_face_model(0.0, 0.0, 0.0, SIZE)
    angle = math.radians(20.0)
    rotation = 1.3 * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    moved = face @ rotation.T + np.array([40.0, -25.0])
    assert expression_error(face, moved)["expression"] == pytest.approx(0.0, abs=1e-6)
    moved[[37, 38, 40, 41], 1] -= 0.06 * inter_ocular(moved)  # one eye's lids (4 of 12 eye points)
    errors = expression_error(face, moved)
    assert errors["eyes"] == pytest.approx(0.06 * 4 / 12, abs=1e-6)
    assert errors["mouth"] == pytest.approx(0.0, abs=1e-6)


def test_motion_and_excess_motion() -> None:
    face = project_face_model(0.0, 0.0, 0.0, SIZE)
    step = np.array([3.0, 4.0])
    assert landmark_motion(face, face + step) == pytest.approx(5.0)
    assert excess_motion(face, face + step, face, face + step) == pytest.approx(0.0)
    assert excess_motion(face, face + step, face, face) == pytest.approx(5.0)


def test_background_psnr_only_counts_pixels_outside_the_face() -> None:
    frame = (np.random.default_rng(0).random((512, 512, 3)) * 255).astype(np.uint8)
    face = project_face_model(0.0, 0.0, 0.0, SIZE)
    assert math.isinf(background_psnr(frame, frame, face))
    inside = frame.copy()
    centre = np.round(face[30]).astype(int)
    inside[centre[1] - 10:centre[1] + 10, centre[0] - 10:centre[0] + 10] = 0
    assert math.isinf(background_psnr(inside, frame, face))
    outside = frame.astype(np.int16)
    outside[:20] += np.where(outside[:20] > 127, -10, 10).astype(np.int16)  # a band at the top: |Δ| = 10
    outside = outside.astype(np.uint8)
    keep_fraction = 20 * 512 / (512 * 512 - int(_face_area(face)))
    expected = 10 * math.log10(255.0**2 / (100.0 * keep_fraction))
    assert background_psnr(outside, frame, face) == pytest.approx(expected, abs=0.05)


@pytest.mark.parametrize("offset", [(0.0, 0.0), (-230.0, 150.0), (240.0, -200.0)])
def test_background_psnr_matches_a_full_frame_computation(offset: tuple[float, float]) -> None:
    rng = np.random.default_rng(1)
    dst = (rng.random((512, 512, 3)) * 255).astype(np.uint8)
    result = np.clip(dst.astype(np.int16) + rng.integers(-6, 7, dst.shape), 0, 255).astype(np.uint8)
    face = project_face_model(0.0, 0.3, 0.0, SIZE) + np.array(offset)  # partly outside the frame when shifted
    from recast.eval.metrics import face_region_mask

    keep = ~face_region_mask(face, SIZE)
    radius = round(0.2 * np.linalg.norm(face[16] - face[0]))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    assert np.array_equal(~keep, cv2.dilate(hull_mask(face, SIZE).astype(np.uint8), kernel) > 0)
    diff = result[keep].astype(np.float64) - dst[keep].astype(np.float64)
    expected = 10 * math.log10(255.0**2 / np.mean(diff * diff))
    assert background_psnr(result, dst, face) == pytest.approx(expected, abs=1e-9)


def _face_area(face: np.ndarray) -> float:
    from recast.eval.metrics import face_region_mask

    return float(face_region_mask(face, SIZE).sum())


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic astronaut clip (dst), 12 frames of 320 × 320."""
    return write_face_clip(tmp_path_factory.mktemp("eval") / "dst.mp4", count=12)


@pytest.fixture(scope="module")
def hopper_faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An aligned faceset of another person (Grace Hopper, matplotlib's sample photo), without embeddings."""
    root = tmp_path_factory.mktemp("hopper")
    photos = root / "photos"
    photos.mkdir()
    shutil.copy(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), photos / "00001.jpg")
    out = root / "aligned"
    summary = extract(photos, out, ExtractOptions(size=256, workers=1))
    assert summary.faces == 1
    return out


def test_destination_against_itself(clip: Path, hopper_faces: Path, tmp_path: Path) -> None:
    report = evaluate(clip, clip, hopper_faces, every=2)
    summary = report.summary()
    assert summary["frames_evaluated"] == 6 and summary["frames_with_face"] == 6
    assert summary["identity_retrieval"] == 0.0
    assert summary["src_distance"] > 0.6 > summary["dst_distance"]
    assert summary["pose_error_deg"] < 0.01
    assert summary["expression_error"] < 1e-4
    assert summary["jitter_ratio"] == pytest.approx(1.0) and summary["jitter_excess_px"] < 1e-4
    assert summary["background_identical_frames"] == 6 and summary["background_psnr_db_mean"] is None
    assert summary["eye_sharpness"] == summary["eye_brightness"] == 1.0
    assert report.src_faces_used == 1 and report.dst_centroid_from == "video" and report.coverage is None

    json_path, png_path = write_report(report, tmp_path / "report")
    data = json.loads(json_path.read_text())
    assert data["summary"]["identity_retrieval"] == 0.0
    assert all(f["background_psnr_db"] is None and f["background_identical"] for f in data["frames"])
    assert [f["index"] for f in data["frames"]] == [1, 3, 5, 7, 9, 11]
    image = cv2.imread(str(png_path))
    assert image is not None and image.shape[0] > 800
    with pytest.raises(InputError, match="already exists"):
        write_report(report, tmp_path / "report")


def test_retrieval_with_a_dst_faceset(clip: Path, hopper_faces: Path, tmp_path: Path) -> None:
    """src = the clip's own person (embeddings stored by extract), dst faceset = someone else: retrieval 100 %."""
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "00001.png"), face_clip_frames(1)[0])
    own = tmp_path / "own"
    extract(photos, own, ExtractOptions(size=256, workers=1, embed=True))
    report = evaluate(clip, clip, own, dst_faces=hopper_faces, every=4)
    summary = report.summary()
    assert report.dst_centroid_from == "faceset" and report.dst_faces_used == 1
    assert summary["identity_retrieval"] == 1.0
    assert summary["src_distance"] < 0.6 < summary["dst_distance"]
    assert report.coverage is not None and report.coverage.dst_faces == 1
    json_path, png_path = write_report(report, tmp_path / "report")
    coverage = json.loads(json_path.read_text())["coverage"]
    assert coverage["src_faces"] == 1 and 0.0 <= coverage["score"] <= 1.0 and set(coverage["features"]) == {
        "yaw", "pitch", "mouth", "eyes"}
    assert cv2.imread(str(png_path)) is not None


def test_cli_eval_on_a_changed_background(clip: Path, hopper_faces: Path, tmp_path: Path) -> None:
    result = tmp_path / "result.mp4"
    with VideoWriter(result, 25, crf=18, preset="ultrafast") as writer:
        for frame in face_clip_frames(12):
            frame[:40] = 255 - frame[:40]  # the top band changes, the face does not
            writer.write(frame)
    out = tmp_path / "report"
    args = ["eval", "--result", str(result), "--dst", str(clip), "--src-faces", str(hopper_faces),
            "-o", str(out), "--every", "4"]
    outcome = CliRunner().invoke(app, args)
    assert outcome.exit_code == 0, outcome.output
    data = json.loads((out / "eval.json").read_text())
    summary = data["summary"]
    assert summary["frames_evaluated"] == 3
    assert summary["identity_retrieval"] == 0.0 and summary["pose_error_deg"] < 1.0
    assert summary["background_identical_frames"] == 0 and summary["background_psnr_db_min"] < 20
    assert (out / "eval.png").is_file()
    again = CliRunner().invoke(app, args)
    assert isinstance(again.exception, InputError)


def test_bad_inputs(clip: Path, hopper_faces: Path, tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="every"):
        evaluate(clip, clip, hopper_faces, every=0)
    with pytest.raises(InputError, match="no such"):
        evaluate(tmp_path / "missing.mp4", clip, hopper_faces)
    small = tmp_path / "small.mp4"
    with VideoWriter(small, 25, preset="ultrafast") as writer:
        writer.write(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(InputError, match="differs"):
        evaluate(small, clip, hopper_faces)


def test_same_person_headline_needs_the_threshold() -> None:
    """The issue's case: a result at 0.70 from src and 0.80 from dst is 'closer to src' but not src."""
    from recast.eval.evaluate import FrameMetrics, summarise

    frames = [FrameMetrics(1, dst_face=True, src_distance=0.70, dst_distance=0.80),
              FrameMetrics(2, dst_face=True, src_distance=0.45, dst_distance=0.75),
              FrameMetrics(3, dst_face=True, src_distance=0.50, dst_distance=0.40)]
    summary = summarise(frames)
    assert summary["identity_retrieval"] == pytest.approx(2 / 3, abs=1e-4)
    assert summary["identity_same_person"] == pytest.approx(1 / 3, abs=1e-4)
    assert [f.same_person_as_src for f in frames] == [False, True, False]


def test_a_noise_face_scores_low(clip: Path, hopper_faces: Path, tmp_path: Path) -> None:
    """A 'swap' whose face is visible noise (a 4-iteration model) is not the src person."""
    from recast.extract.detectors import create_detector

    detector = create_detector("dlib-hog")
    rng = np.random.default_rng(0)
    result = tmp_path / "noise.mp4"
    with VideoWriter(result, 25, crf=18, preset="ultrafast") as writer:
        for frame in face_clip_frames(12):
            left, top, right, bottom = (int(round(v)) for v in detector.detect(frame)[0].rect)
            frame[top:bottom, left:right] = rng.integers(0, 256, (bottom - top, right - left, 3), dtype=np.uint8)
            writer.write(frame)
    summary = evaluate(result, clip, hopper_faces, every=4).summary()
    assert summary["frames_with_face"] == 3
    assert summary["identity_same_person"] == 0.0
    assert summary["src_distance"] > 0.6
