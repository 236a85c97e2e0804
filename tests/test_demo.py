"""The built-in demo at reduced size: the pipeline, then the before/after image, side-by-side video and eval."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from recast.cli.pipeline import demo_headline
from recast.errors import InputError
from recast.media.video import iter_frames, probe
from recast.pipeline.demo import DemoOptions, run_demo
from recast.pipeline.showcase import CAPTION_HEIGHT
from recast.provenance.verify import verify

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_reduced_demo_shows_its_result(tmp_path: Path) -> None:
    stages: list[str] = []
    summary = run_demo(DemoOptions(workspace=tmp_path, frames=12, iterations=2, threads=1, evaluate_every=3),
                       on_stage=stages.append)
    assert stages[-2:] == ["showcase", "evaluate"]
    assert summary.result == tmp_path / "result.mp4" and verify(summary.result).labelled

    image = cv2.imread(str(summary.before_after))
    assert image.shape == (256 + CAPTION_HEIGHT, 4 * 256, 3)  # four square 320 px panels at 256 px
    panels = [image[:256, i * 256:(i + 1) * 256] for i in range(4)]
    assert all(panel.std() > 10 for panel in panels[:3])  # src, dst, result: real pictures, not blank
    assert not np.array_equal(panels[1], panels[2])  # the result differs from the destination
    assert 0 < panels[3].mean() < 250  # the mask covers the face, not the whole frame

    info = probe(summary.side_by_side)
    assert (info.width, info.height, info.frame_count) == (640, 320 + CAPTION_HEIGHT, 12)
    first = next(iter_frames(summary.side_by_side))[1]
    left, right = first[CAPTION_HEIGHT:, :320], first[CAPTION_HEIGHT:, 320:]
    assert left.std() > 10 and right.std() > 10 and np.abs(left.astype(int) - right.astype(int)).mean() > 0.5
    assert verify(summary.side_by_side).labelled

    assert summary.evaluation["frames_with_face"] == 4
    assert {"identity_same_person", "pose_error_deg", "sharpness"} <= set(summary.evaluation)
    assert (summary.eval_dir / "eval.json").is_file()
    assert "source identity verified in" in demo_headline(summary.evaluation)

    with pytest.raises(InputError, match="already exists; pass --force"):
        run_demo(DemoOptions(workspace=tmp_path, frames=12, iterations=2))
