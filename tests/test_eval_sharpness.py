"""The sharpness figure: face detail of the result ÷ the destination's, on real image content."""

from __future__ import annotations

import cv2
import numpy as np
from skimage import data

from recast.eval.metrics import laplacian_energy, sharpness_ratio
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
