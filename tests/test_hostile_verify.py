"""Issue #14 case 3: verify counts a sidecar only when its hash matches, and never hangs on inputs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from recast.cli.main import app
from recast.media.video_encode import VideoWriter
from recast.provenance.label import container_metadata, mark_frame, sidecar_path, write_sidecar
from recast.provenance.verify import verify


def _video(path: Path, frames: int, labelled: bool) -> Path:
    rng = np.random.default_rng(len(path.name))
    with VideoWriter(path, 25, crf=18, metadata=container_metadata() if labelled else None) as writer:
        for _ in range(frames):
            frame = rng.integers(60, 200, (96, 128, 3), dtype=np.uint8)
            writer.write(mark_frame(frame) if labelled else frame)
    return path


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("labelled")
    result = _video(root / "result.mp4", 6, labelled=True)
    write_sidecar(result, {}, {"name": "test"}, {})
    return result


def test_copied_stale_sidecar_does_not_label_a_real_video(labelled: Path, tmp_path: Path) -> None:
    real = _video(tmp_path / "real.mp4", 6, labelled=False)
    shutil.copy(sidecar_path(labelled), sidecar_path(real))
    report = verify(real, sample_frames=6)
    assert not report.labelled and not report.sidecar_ok and report.result_hash == "changed"
    assert set(report.failed) == {"container tag", "sidecar", "watermark"}
    assert "not this file's" in report.failed["sidecar"]
    outcome = CliRunner().invoke(app, ["verify", str(real), "--json"])
    assert outcome.exit_code == 3 and json.loads(outcome.output)["failed"]["sidecar"]


def test_sidecar_without_result_hash_does_not_count(labelled: Path, tmp_path: Path) -> None:
    real = _video(tmp_path / "real.mp4", 3, labelled=False)
    record = json.loads(sidecar_path(labelled).read_text())
    del record["result"]["sha256"]
    sidecar_path(real).write_text(json.dumps(record))
    report = verify(real, sample_frames=3)
    assert not report.labelled and "records no sha256" in report.failed["sidecar"]


@pytest.mark.parametrize("kind", ["device", "fifo", "fifo-sidecar"])
def test_device_and_fifo_paths_are_not_read(kind: str, labelled: Path, tmp_path: Path) -> None:
    result = tmp_path / "result.mp4"
    shutil.copy(labelled, result)
    record = json.loads(sidecar_path(labelled).read_text())
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    if kind == "fifo-sidecar":
        os.mkfifo(sidecar_path(result))
    else:
        record["inputs"] = {"dst": {"path": "/dev/zero" if kind == "device" else str(fifo), "sha256": "0" * 64}}
        sidecar_path(result).write_text(json.dumps(record))
    report = verify(result, sample_frames=3)
    assert report.watermark and report.container_tag
    if kind == "fifo-sidecar":
        assert not report.sidecar_ok and "not a regular file" in (report.sidecar_problem or "")
    else:
        assert report.sidecar_ok
        [check] = report.input_checks
        assert check.status == "unchecked" and "not a regular file" in check.reason


@pytest.mark.realdata
@pytest.mark.slow
def test_all_shared_videos_with_a_copied_stale_sidecar_are_not_labelled(shared_data: Path, labelled: Path,
                                                                        tmp_path: Path) -> None:
    videos = sorted((shared_data / "videos").glob("*.mp4"))
    assert len(videos) == 12
    for video in videos:
        copy = Path(shutil.copy(video, tmp_path / video.name))
        shutil.copy(sidecar_path(labelled), sidecar_path(copy))
        outcome = CliRunner().invoke(app, ["verify", str(copy), "--frames", "10", "--json"])
        assert outcome.exit_code == 3, (video.name, outcome.output)
        assert "not this file's" in json.loads(outcome.output)["failed"]["sidecar"]
        copy.unlink()
