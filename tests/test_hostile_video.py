"""Issue #28 case 13: a truncated mp4 extracted "successfully" (11 of 45 frames, exit 0, no warning).

Decoding now warns with the frames it got out of those the container declares.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from recast.media.video import extract_frames, iter_frames, probe
from recast.media.video_encode import VideoWriter


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    """45 frames of 96x64 noise (incompressible, so the file's bytes spread over every frame)."""
    path = tmp_path / "clip.mp4"
    rng = np.random.default_rng(13)
    with VideoWriter(path, 25, crf=30) as writer:
        for _ in range(45):
            writer.write(rng.integers(0, 256, (64, 96, 3), np.uint8))
    return path


def test_a_truncated_video_warns_with_the_frames_it_gave(clip: Path, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    data = clip.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) * 2 // 5])
    assert probe(truncated).frame_count == 45  # the container still declares them all
    with caplog.at_level(logging.WARNING, logger="recast"):
        count = extract_frames(truncated, tmp_path / "frames")
    assert 0 < count < 45
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"decoded {count} of the 45 frames its container declares" in w for w in warnings), warnings


def test_a_whole_video_does_not_warn(clip: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="recast"):
        assert sum(1 for _ in iter_frames(clip)) == 45
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
