"""The sharpness figure: face detail of the result ÷ the destination's, on real image content."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from recast.eval.metrics import eye_region, eye_region_ratios, laplacian_energy, sharpness_ratio
from recast.extract.analyze import AnalyzeOptions, FrameAnalyzer


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
