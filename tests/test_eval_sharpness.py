"""The sharpness figures on real image content: the older Laplacian ratio, and the detail ratio with its
ceiling (a perfect model of a given size, through the merger's own warp)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from media_factory import face_clip_frames
from recast.errors import OptionError
from recast.eval import evaluate
from recast.eval.detail import (
    CEILING_SIZES,
    ceiling_frame,
    ceiling_ratio,
    detail_ratio,
    detail_reference,
    own_resolution,
)
from recast.eval.metrics import eye_region, eye_region_ratios, laplacian_energy, sharpness_ratio
from recast.extract.analyze import AnalyzeOptions, FrameAnalyzer
from recast.extract.stage import ExtractOptions, extract
from recast.faces.facetype import FaceType
from recast.media.images import write_image
from recast.merge.blend import Prediction, crop_face, merge_frame
from recast.merge.settings import MergeSettings
from recast.provenance.label import write_sidecar


def _face() -> tuple[np.ndarray, np.ndarray]:
    frame = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    found = FrameAnalyzer(AnalyzeOptions(detector="dlib-hog")).analyze(frame)
    assert found
    return frame, found[0].landmarks


def test_sharpness_is_one_for_the_same_face_and_falls_with_blur() -> None:
    frame, landmarks = _face()
    assert sharpness_ratio(frame, frame, landmarks) == 1.0
    ratios = [sharpness_ratio(cv2.GaussianBlur(frame, (0, 0), sigma), frame, landmarks) for sigma in (0.8, 1.5, 3.0)]
    assert 0 < ratios[2] < ratios[1] < ratios[0] < 0.9


def test_sharpness_ignores_the_background() -> None:
    frame, landmarks = _face()
    noisy = frame.copy()
    noisy[:, :60] = np.random.default_rng(0).integers(0, 256, noisy[:, :60].shape, dtype=np.uint8)
    assert laplacian_energy(noisy, landmarks) == laplacian_energy(frame, landmarks)


def test_a_flat_face_has_no_ratio() -> None:
    frame, landmarks = _face()
    flat = np.full_like(frame, 128)
    assert laplacian_energy(flat, landmarks) == 0.0
    assert sharpness_ratio(frame, flat, landmarks) is None


def test_eye_region_sees_soft_and_dark_eyes_only() -> None:
    frame, landmarks = _face()
    assert eye_region_ratios(frame, frame, landmarks) == (1.0, 1.0)
    rows, cols, mask = eye_region(landmarks, frame.shape[:2])
    inside = np.zeros(frame.shape[:2], bool)
    inside[rows, cols] = mask > 0
    blurred = frame.copy()
    blurred[inside] = cv2.GaussianBlur(frame, (0, 0), 2.0)[inside]
    sharpness, brightness = eye_region_ratios(blurred, frame, landmarks)
    assert sharpness is not None and brightness is not None
    assert sharpness < 0.7 and abs(brightness - 1.0) < 0.05
    dark = frame.copy()
    dark[inside] = (frame[inside] * 0.6).astype(np.uint8)
    _, brightness = eye_region_ratios(dark, frame, landmarks)
    assert brightness is not None and 0.55 < brightness < 0.65
    mouth_blurred = frame.copy()
    mouth_blurred[~inside] = cv2.GaussianBlur(frame, (0, 0), 2.0)[~inside]
    sharpness, brightness = eye_region_ratios(mouth_blurred, frame, landmarks)  # only the eyes count (the
    assert sharpness == pytest.approx(1.0, abs=0.02) and brightness == 1.0  # Laplacian reaches 1 px beyond)
    assert inside.sum() < 0.2 * np.ptp(landmarks[:, 0]) * np.ptp(landmarks[:, 1])


def _mouth(frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """``frame`` with an open mouth pasted over the lips: a dark ellipse with bright teeth-like bars."""
    out = frame.copy()
    centre = tuple(int(v) for v in landmarks[48:68].mean(axis=0))
    half = int(np.ptp(landmarks[48:60, 0]) / 2)
    cv2.ellipse(out, centre, (half, half // 2), 0, 0, 360, (20, 10, 30), -1, cv2.LINE_AA)
    for tooth in range(-3, 4):
        x = centre[0] + tooth * half // 4
        cv2.rectangle(out, (x - half // 10, centre[1] - half // 2 + 2), (x + half // 10, centre[1] - half // 6),
                      (235, 240, 240), -1, cv2.LINE_AA)
    return out


@pytest.mark.parametrize("face_type", [FaceType.WHOLE, FaceType.FULL])
def test_the_ceiling_of_the_unchanged_destination_at_its_own_size_is_one(face_type: FaceType) -> None:
    frame, landmarks = _face()
    assert detail_ratio(frame, frame, landmarks) == 1.0
    own = own_resolution(landmarks, face_type)
    assert 100 < own < 300
    # the merger's cubic warp at 1:1 (sub-pixel shifts) softens the finest band a little: 0.94 (whole), 0.97 (full)
    assert ceiling_ratio(frame, landmarks, own, face_type) == pytest.approx(1.0, abs=0.07)
    assert ceiling_ratio(frame, landmarks, 2 * own, face_type) == pytest.approx(1.0, abs=0.02)


def test_the_ceiling_rises_with_the_model_size_up_to_the_face_own_size() -> None:
    frame, landmarks = _face()
    own = own_resolution(landmarks, FaceType.WHOLE)
    ceilings = [ceiling_ratio(frame, landmarks, size, FaceType.WHOLE) for size in (32, 64, 96, 128, own)]
    assert all(c is not None for c in ceilings)
    assert ceilings == sorted(ceilings) and len(set(ceilings)) == len(ceilings)
    assert ceilings[0] < 0.5 and ceilings[-1] > 0.9


@pytest.mark.parametrize("size", [64, 128, 168])
def test_noise_does_not_read_as_detail(size: int) -> None:
    frame, landmarks = _face()
    clean = ceiling_frame(frame, landmarks, size, FaceType.WHOLE)
    reference = detail_ratio(clean, frame, landmarks)
    assert reference is not None
    rng = np.random.default_rng(size)
    for sigma in (4.0, 10.0):
        noisy = np.clip(clean + rng.normal(0.0, sigma, clean.shape), 0, 255).astype(np.uint8)
        assert detail_ratio(noisy, frame, landmarks) <= reference + 0.02
        assert sharpness_ratio(noisy, frame, landmarks) > sharpness_ratio(clean, frame, landmarks)


@pytest.mark.parametrize("size", [64, 128, 168])
def test_an_open_mouth_does_not_read_as_detail(size: int) -> None:
    """A model of ``size`` px that opens the mouth the destination keeps closed is no crisper for it."""
    frame, landmarks = _face()
    closed = ceiling_frame(frame, landmarks, size, FaceType.WHOLE)
    opened = ceiling_frame(_mouth(frame, landmarks), landmarks, size, FaceType.WHOLE)
    assert detail_ratio(opened, frame, landmarks) <= detail_ratio(closed, frame, landmarks)
    assert sharpness_ratio(opened, frame, landmarks) > 1.5 * sharpness_ratio(closed, frame, landmarks)


@pytest.mark.parametrize("untrained", [False, True])
def test_a_partly_pasted_face_does_not_borrow_the_destination_detail(untrained: bool) -> None:
    """A noisy learned mask (or an untrained model's ≈ 0.5 × 0.5 masks over a flat face) lets the crisp
    destination show through; counted with the merge's mask, the result stays below the 64 px ceiling."""
    frame, landmarks = _face()
    crop = crop_face(frame, landmarks, 64, FaceType.WHOLE)
    rng = np.random.default_rng(3)
    if untrained:
        face = np.full_like(crop.image, 0.5)
        masks = (np.full((64, 64), 0.5, np.float32), np.full((64, 64), 0.5, np.float32))
        settings = MergeSettings(mask_mode="learned-prd*learned-dst", color="none", erode=15, blur=60)
    else:
        face = crop.image
        masks = (rng.uniform(0.0, 1.0, (64, 64)).astype(np.float32), None)
        settings = MergeSettings(mask_mode="learned-prd", color="none")
    merged, alpha, _ = merge_frame(frame, [(crop, Prediction(face, *masks), None)], settings)
    ceiling = ceiling_ratio(frame, landmarks, 64, FaceType.WHOLE)
    assert ceiling is not None
    assert detail_ratio(merged, frame, landmarks) > ceiling  # the destination's own detail, seen through the mask
    assert detail_ratio(merged, frame, landmarks, alpha) < 0.8 * ceiling


def test_a_flat_face_has_no_detail_ratio() -> None:
    frame, landmarks = _face()
    flat = np.full_like(frame, 128)
    assert detail_reference(flat, landmarks) is None
    assert detail_ratio(frame, flat, landmarks) is None
    assert detail_ratio(flat, frame, landmarks) == 0.0


def test_eval_reports_the_ceiling_of_the_model_in_the_sidecar(tmp_path: Path) -> None:
    dst, result = tmp_path / "dst", tmp_path / "result"
    dst.mkdir()
    result.mkdir()
    for index, frame in enumerate(face_clip_frames(count=2), start=1):
        write_image(dst / f"{index:05d}.png", frame)
        write_image(result / f"{index:05d}.png", cv2.GaussianBlur(frame, (0, 0), 1.5))
    write_sidecar(result, {"dst": dst}, {"name": "t", "resolution": 96, "face_type": "whole"}, {})
    faces = tmp_path / "faces"
    assert extract(dst, faces, ExtractOptions(size=256, workers=1)).faces == 2

    report = evaluate(result, dst, faces)
    summary = report.summary()
    assert (report.model_resolution, report.model_face_type, report.model_from) == (96, FaceType.WHOLE, "sidecar")
    assert 0 < summary["detail"] < 0.8 and 0 < summary["detail_ceiling"] < 1.0
    assert summary["convergence"] == pytest.approx(summary["detail"] / summary["detail_ceiling"], abs=1e-3)
    ladder = summary["ceiling_by_resolution"]
    assert isinstance(ladder, dict) and list(ladder) == [str(s) for s in CEILING_SIZES]
    assert ladder["64"] < ladder["128"] < ladder["256"]
    assert report.to_json()["model"] == {"resolution": 96, "face_type": "whole", "from": "sidecar",
                                         "ladder_face_type": "whole"}

    masks = tmp_path / "result_mask"  # the merge's mask, next to the result: a face only 20 % pasted
    masks.mkdir()
    for index in (1, 2):
        write_image(masks / f"{index:05d}.png", np.full((*frame.shape[:2], 3), 51, np.uint8))
    masked = evaluate(result, dst, faces)
    assert masked.mask == masks and masked.to_json()["inputs"]["mask"] == str(masks)  # type: ignore[index]
    assert masked.summary()["detail"] == pytest.approx(0.2 * summary["detail"], rel=0.05)
    assert masked.summary()["detail_ceiling"] == summary["detail_ceiling"]
    for path in masks.iterdir():
        path.unlink()
    masks.rmdir()

    given = evaluate(result, dst, faces, model_resolution=256, model_face_type="full").summary()
    assert given["detail"] == summary["detail"] and given["detail_ceiling"] > summary["detail_ceiling"]
    with pytest.raises(OptionError, match="face type"):
        evaluate(result, dst, faces, model_resolution=96, model_face_type="chin")
