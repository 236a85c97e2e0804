"""Issue #15's rough edges, one test each: pack progress, info on photos, dedupe on a dst set, demo --force,
torchrun ranks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from typer.testing import CliRunner

from faces_factory import synthetic_face
from recast.cli.main import app
from recast.faces.aligned import read_face, read_meta, write_face
from recast.faceset.dedupe import dedupe_faceset
from recast.faceset.files import list_faces
from recast.faceset.pack import pack_faceset
from recast.pipeline.demo import set_aside_demo_work


def _faces(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image, meta = synthetic_face(size=128, yaw=0.1 * i, seed=i, source_filename=f"{i:05d}.png")
        noise = np.random.default_rng(i).integers(0, 255, (128, 128, 3)).astype(np.uint8)
        texture = cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 6), None, 0, 255, cv2.NORM_MINMAX)
        write_face(folder / f"{i:05d}_0.jpg", texture if i else image, meta)


def test_pack_progress_reaches_the_end(tmp_path: Path) -> None:
    _faces(tmp_path / "aligned", 3)
    seen: list[tuple[int, int | None]] = []
    pack_faceset(tmp_path / "aligned", on_progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (6, 6)


def test_info_on_photos_is_an_error_with_a_hint(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "holiday.jpg"), np.full((64, 80, 3), 128, np.uint8))
    result = CliRunner().invoke(app, ["faceset", "info", str(photos)])
    assert result.exit_code != 0 and "recast extract" in str(result.exception) and "import-dfl" in str(result.exception)


def test_dedupe_warns_when_frames_lose_their_only_face(tmp_path: Path) -> None:
    folder = tmp_path / "data_dst" / "aligned"
    _faces(folder, 3)
    face = read_face(folder / "00001_0.jpg")
    for frame in (7, 8):  # the same picture in two later frames (a still shot): each is that frame's face
        meta = read_meta(folder / "00001_0.jpg")
        meta.source_filename = f"{frame:05d}.png"
        write_face(folder / f"{frame:05d}_0.jpg", face.image, meta)
    outcome = CliRunner().invoke(app, ["faceset", "dedupe", str(folder), "--dry-run", "--workers", "1"],
                                 env={"COLUMNS": "300"})
    assert outcome.exit_code == 0, outcome.output
    assert "2 source frames would be left without a face" in " ".join(outcome.output.split())
    result = dedupe_faceset(folder, workers=1)
    assert result.moved == 2 and result.frames_emptied == 2 and len(list_faces(folder)) == 3


def test_demo_force_sets_the_previous_work_aside(tmp_path: Path) -> None:
    (tmp_path / "work" / "model").mkdir(parents=True)
    (tmp_path / "result.mp4").write_bytes(b"old result")
    outcome = CliRunner().invoke(app, ["demo", "--workspace", str(tmp_path)], env={"COLUMNS": "300"})
    assert outcome.exit_code == 0 and "already exists" in outcome.output and "--force" in outcome.output
    assert set_aside_demo_work(tmp_path) == tmp_path / "work_trash" / "1"
    assert (tmp_path / "work_trash" / "1" / "model").is_dir() and not (tmp_path / "work").exists()
    assert set_aside_demo_work(tmp_path) is None


def test_only_rank_zero_talks(tmp_path: Path) -> None:
    env = dict(os.environ, RANK="1", COLUMNS="200")
    missing = str(tmp_path / "missing")
    result = subprocess.run([sys.executable, "-m", "recast.cli", "train", "--src", missing, "--dst", missing,
                             "--model-dir", str(tmp_path / "m")], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1 and "device:" not in result.stderr and "error:" in result.stderr
