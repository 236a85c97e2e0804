"""Expression coverage (``recast faceset coverage``) on synthetic facesets with controlled landmarks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from faces_factory import synthetic_face
from recast.cli.main import app
from recast.faces.aligned import write_face
from recast.faces.expression import eye_openness, mouth_openness
from recast.faceset.coverage import POOR_COVERAGE, faceset_coverage, write_coverage
from recast.faceset.pack import pack_faceset


def with_expression(landmarks: np.ndarray, mouth: float, eyes: float) -> np.ndarray:
    """``landmarks`` with the inner lips ``mouth`` × the mouth width apart and both eyes' aspect ratio ``eyes``."""
    points = np.asarray(landmarks, dtype=np.float64).copy()
    width = float(np.linalg.norm(points[64] - points[60]))
    for upper, lower in ((61, 67), (62, 66), (63, 65)):
        points[lower] = points[upper] + [0.0, mouth * width]
    for p1, p2, p3, p4, p5, p6 in ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47)):
        eye_width = float(np.linalg.norm(points[p4] - points[p1]))
        centre = 0.5 * (points[p1, 1] + points[p4, 1])
        for top, bottom in ((p2, p6), (p3, p5)):
            points[bottom, 0] = points[top, 0]
            points[top, 1], points[bottom, 1] = centre - eyes * eye_width / 2, centre + eyes * eye_width / 2
    return points.astype(np.float32)


def write_faceset(folder: Path, faces: list[tuple[float, float, float, float]]) -> Path:
    """Faces of ``(yaw_deg, pitch_deg, mouth, eyes)``, one per frame (00001.png, …), 64 px."""
    folder.mkdir(parents=True)
    for index, (yaw, pitch, mouth, eyes) in enumerate(faces, start=1):
        image, meta = synthetic_face(size=64, yaw=math.radians(yaw), pitch=math.radians(pitch),
                                     source_filename=f"{index:05d}.png")
        meta.landmarks = with_expression(meta.landmarks, mouth, eyes)
        write_face(folder / f"{index:05d}_0.jpg", image, meta)
    return folder


def test_expression_measures_follow_the_landmarks() -> None:
    _, meta = synthetic_face(size=64)
    for mouth, eyes in ((0.0, 0.3), (0.5, 0.1), (0.9, 0.35)):
        points = with_expression(meta.landmarks, mouth, eyes)
        assert mouth_openness(points) == pytest.approx(mouth, abs=1e-3)
        assert eye_openness(points) == pytest.approx(eyes, abs=1e-3)
        assert mouth_openness(points * 3.0 + 17.0) == pytest.approx(mouth, abs=1e-3)  # scale-free


def test_a_faceset_covers_itself(tmp_path: Path) -> None:
    faces = [(yaw, 0.0, mouth, 0.3) for yaw in (-20, 0, 20) for mouth in (0.0, 0.4)]
    src = write_faceset(tmp_path / "src", faces)
    report = faceset_coverage(src, src)
    assert report.score == 1.0 and not report.uncovered and not report.poor
    assert all(item.covered == 1.0 for item in report.features.values())


def test_a_talking_src_does_not_cover_a_silent_dst(tmp_path: Path) -> None:
    """The issue's case: src talks throughout (mouth open), dst mostly closes its mouth."""
    src = write_faceset(tmp_path / "src", [(yaw, 0.0, mouth, 0.3) for yaw in (-5, 0, 5) for mouth in (0.4, 0.6)])
    dst_faces = [(0.0, 0.0, 0.0, 0.3)] * 6 + [(0.0, 0.0, 0.5, 0.3)] * 2 + [(40.0, 0.0, 0.5, 0.3)] * 2
    dst = write_faceset(tmp_path / "dst", dst_faces)
    report = faceset_coverage(dst=dst, src=src)
    assert report.score == pytest.approx(0.2)
    assert report.poor and report.score < POOR_COVERAGE
    assert report.uncovered_frames() == [1, 2, 3, 4, 5, 6, 9, 10]
    reasons = {u.frame: u.feature for u in report.uncovered}
    assert all(reasons[f] == "mouth" for f in range(1, 7)) and reasons[9] == reasons[10] == "yaw"
    assert report.features["mouth"].covered == pytest.approx(0.4)
    assert report.features["yaw"].covered == pytest.approx(0.8)
    assert report.features["eyes"].covered == report.features["pitch"].covered == 1.0
    assert report.weakest_feature() == "mouth"
    src_p5, _, _ = report.features["mouth"].src_percentiles
    assert src_p5 == pytest.approx(0.4, abs=1e-3)
    saved = json.loads(write_coverage(report, tmp_path / "coverage.json").read_text())
    assert saved["score"] == 0.2 and saved["uncovered_frames"] == [1, 2, 3, 4, 5, 6, 9, 10]


def test_closed_eyes_and_packs(tmp_path: Path) -> None:
    src = write_faceset(tmp_path / "src", [(0.0, 0.0, 0.1, 0.3)] * 3)
    dst = write_faceset(tmp_path / "dst", [(0.0, 0.0, 0.1, 0.3), (0.0, 0.0, 0.1, 0.08)])
    pack_faceset(src)
    report = faceset_coverage(src, dst)
    assert report.score == 0.5 and [u.feature for u in report.uncovered] == ["eyes"]
    assert report.weakest_feature() == "eyes"


def test_the_weakest_feature_is_the_one_that_keeps_faces_apart(tmp_path: Path) -> None:
    """Each feature alone is covered, together they are not; pitch keeps the uncovered faces apart."""
    src = write_faceset(tmp_path / "src", [(0.0, 0.0, 0.1, 0.3), (20.0, 20.0, 0.1, 0.3)])
    dst = write_faceset(tmp_path / "dst", [(0.0, 0.0, 0.1, 0.3), (0.0, 18.0, 0.1, 0.3), (2.0, 16.0, 0.1, 0.3)])
    report = faceset_coverage(src, dst)
    assert all(f.covered == 1.0 for f in report.features.values()) and report.score == pytest.approx(1 / 3)
    assert [u.feature for u in report.uncovered] == ["pitch", "pitch"] and report.weakest_feature() == "pitch"


def test_cli_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    src = write_faceset(tmp_path / "src", [(0.0, 0.0, 0.4, 0.3)] * 2)
    dst = write_faceset(tmp_path / "dst", [(0.0, 0.0, 0.0, 0.3), (0.0, 0.0, 0.4, 0.3), (0.0, 0.0, 0.0, 0.3)])
    out = tmp_path / "cov.json"
    result = CliRunner().invoke(app, ["faceset", "coverage", str(src), str(dst), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "coverage 33.3 %" in result.output and "uncovered dst frames: 1, 3" in result.output
    assert "poor coverage" in result.output
    assert json.loads(out.read_text())["uncovered_frames"] == [1, 3]
