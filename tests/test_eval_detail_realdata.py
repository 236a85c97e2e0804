"""The detail figure on real destination frames (``../shared/data``): the resolution ladder, blur,
noise and a pasted open mouth, on a soft generated face (person_J) and a sharper one (person_B)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from recast.eval.detail import ceiling_frame, ceiling_ratio, detail_ratio, detail_reference
from recast.eval.evaluate import shared_models
from recast.faces.facetype import FaceType
from recast.media.video import iter_frames
from test_eval_sharpness import _mouth

pytestmark = pytest.mark.realdata

_CLIPS = ("person_J__liveportrait_s32.mp4", "person_B__sadtalker_WDA_KatieHill_000.mp4")


def _frame(shared_data: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Frame 90 of a clip and its landmarks, as ``recast eval`` finds them."""
    frames = iter_frames(shared_data / "videos" / name)
    frame = next(f for index, f in frames if index >= 90)
    found = shared_models()[0].analyze(frame)
    assert found
    return frame, found[0].landmarks


@pytest.mark.parametrize("name", _CLIPS)
def test_the_ladder_blur_noise_and_mouth_on_real_frames(shared_data: Path, name: str) -> None:
    frame, landmarks = _frame(shared_data, name)
    reference = detail_reference(frame, landmarks)
    assert reference is not None
    ladder = [ceiling_ratio(frame, landmarks, size, FaceType.FULL, reference) for size in (64, 96, 128, 192, 256)]
    assert all(c is not None for c in ladder)
    assert ladder == sorted(ladder) and ladder[0] < 0.6 and ladder[2] < 0.9 and ladder[2] - ladder[0] > 0.25
    assert ceiling_ratio(frame, landmarks, 512, FaceType.FULL, reference) == pytest.approx(1.0, abs=0.05)

    blurred = [detail_ratio(cv2.GaussianBlur(frame, (0, 0), s), frame, landmarks) for s in (0.7, 1.0, 2.0)]
    assert 1.0 > blurred[0] > blurred[1] > blurred[2]

    rng = np.random.default_rng(0)
    for clean in (frame, ceiling_frame(frame, landmarks, 64, FaceType.FULL)):
        before = detail_ratio(clean, frame, landmarks)
        noisy = np.clip(clean + rng.normal(0.0, 4.0, clean.shape), 0, 255).astype(np.uint8)
        assert detail_ratio(noisy, frame, landmarks) <= before + 0.03

    closed = ceiling_frame(frame, landmarks, 128, FaceType.FULL)
    opened = ceiling_frame(_mouth(frame, landmarks), landmarks, 128, FaceType.FULL)
    assert detail_ratio(opened, frame, landmarks) <= detail_ratio(closed, frame, landmarks) + 0.01
