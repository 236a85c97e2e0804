"""Mouth-matched sampling (``match_mouth``) and the coverage report's mouth line, on synthetic facesets
whose inner-lip landmarks are set (the issue's case: a src that talks throughout, a dst that keeps its
mouth closed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import TinyConfig
from faces_factory import synthetic_face
from recast.cli.main import app
from recast.faces.aligned import write_face
from recast.faces.expression import mouth_openness
from recast.faceset.coverage import CLOSED_MOUTH, faceset_coverage
from recast.train import Trainer, TrainOptions
from recast.train.data import BatchPlan, FaceReader, mouth_bins, sampling_bins, yaw_bins
from recast.train.options import TrainSettings

TALKING, CLOSED = 0.45, 0.0


def with_mouth(landmarks: np.ndarray, openness: float) -> np.ndarray:
    """``landmarks`` with the lower inner lip ``openness`` × the inner mouth width below the upper one."""
    points = np.asarray(landmarks, dtype=np.float64).copy()
    width = float(np.linalg.norm(points[64] - points[60]))
    for upper, lower in ((61, 67), (62, 66), (63, 65)):
        points[lower] = points[upper] + [0.0, openness * width]
    return points.astype(np.float32)


def write_mouths(folder: Path, mouths: list[float], yaws: list[float] | None = None) -> Path:
    """One 64 px whole face per entry of ``mouths`` (its openness), frames 00001.png, …"""
    folder.mkdir(parents=True)
    for index, mouth in enumerate(mouths, start=1):
        yaw = 0.0 if yaws is None else yaws[index - 1]
        image, meta = synthetic_face(size=64, yaw=yaw, seed=index, source_filename=f"{index:05d}.png")
        meta.landmarks = with_mouth(meta.landmarks, mouth)
        write_face(folder / f"{index:05d}_0.jpg", image, meta)
    return folder


@pytest.fixture(scope="module")
def talking_to_silent(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """src: 10 talking faces and 2 closed-mouthed ones; dst: 8 closed-mouthed faces and 2 talking."""
    root = tmp_path_factory.mktemp("mouths")
    return (write_mouths(root / "src", [TALKING] * 10 + [CLOSED] * 2),
            write_mouths(root / "dst", [CLOSED] * 8 + [0.5] * 2))


def _closed_share(plan: BatchPlan, closed: set[int], iterations: int = 150) -> float:
    picks = [key[0] for i in range(iterations) for key in plan.keys(i)]
    return float(np.mean([p in closed for p in picks]))


def test_mouth_openness_reads_closed_and_open_lips() -> None:
    _, meta = synthetic_face(size=64)
    assert mouth_openness(with_mouth(meta.landmarks, CLOSED)) == pytest.approx(0.0, abs=1e-3)
    assert mouth_openness(with_mouth(meta.landmarks, 0.02)) < CLOSED_MOUTH
    assert mouth_openness(with_mouth(meta.landmarks, TALKING)) > 3 * CLOSED_MOUTH


def test_mouth_bins_weigh_src_bins_by_the_dst_share() -> None:
    src = np.array([0.45] * 9 + [0.02])
    dst = np.array([0.01] * 7 + [0.45] * 2 + [0.75])  # 0.75: no src face there, the nearest src bin is 0.4-0.5
    bins, weights = mouth_bins(src, dst)
    assert [sorted(b.tolist()) for b in bins] == [[9], list(range(9))]
    assert weights == pytest.approx([0.7, 0.3])
    _, tie = mouth_bins(np.array([0.05, 0.45]), np.array([0.25]))  # as far from 0.0-0.1 as from 0.4-0.5
    assert tie == pytest.approx([0.5, 0.5])
    wide, weights = mouth_bins(np.array([0.0, 1.7]), np.array([3.0]))  # the last bin absorbs the wider
    assert [b.tolist() for b in wide] == [[0], [1]] and weights == pytest.approx([0.0, 1.0])


def test_matched_src_draws_follow_the_dst_mouths(talking_to_silent: tuple[Path, Path]) -> None:
    src, dst = FaceReader(talking_to_silent[0]), FaceReader(talking_to_silent[1])
    openness = src.mouth_openness()
    closed = set(np.flatnonzero(openness < CLOSED_MOUTH).tolist())
    assert closed == {10, 11} and np.all(openness[:10] > 0.4)
    plain = BatchPlan(len(src), len(dst), 8, seed=3)
    assert _closed_share(plain, closed) == pytest.approx(2 / 12, abs=0.01)  # epochs: each face once
    src_bins, dst_bins, weights = sampling_bins(src, dst, uniform_yaw=False, match_mouth=True)
    matched = BatchPlan(len(src), len(dst), 8, seed=3, src_bins=src_bins, dst_bins=dst_bins, src_weights=weights)
    assert dst_bins is None and _closed_share(matched, closed) == pytest.approx(0.8, abs=0.04)  # 1200 draws
    picks = [key[0] for i in range(150) for key in matched.keys(i)]
    assert set(picks) == set(range(12))  # uniform within a bin: every face of a drawn bin comes up


def test_match_mouth_wins_over_uniform_yaw_for_src(tmp_path: Path) -> None:
    yaws = [-0.6, 0.0, 0.0, 0.6]
    src = FaceReader(write_mouths(tmp_path / "src", [TALKING] * 4, yaws))
    dst = FaceReader(write_mouths(tmp_path / "dst", [CLOSED] * 4, yaws))
    src_bins, dst_bins, weights = sampling_bins(src, dst, uniform_yaw=True, match_mouth=True)
    assert src_bins is not None and len(src_bins) == 1 and weights == pytest.approx([1.0])
    assert dst_bins is not None and [b.tolist() for b in dst_bins] == [b.tolist() for b in yaw_bins(dst.yaws())]
    assert len(dst_bins) == 3
    assert sampling_bins(src, dst, uniform_yaw=True, match_mouth=False)[2] is None


def test_matched_plan_is_deterministic_resumable_and_sharded() -> None:
    bins, weights = mouth_bins(np.array([0.45] * 9 + [0.02]), np.array([0.01] * 7 + [0.45] * 3))

    def plan(start: int = 0, rank: int = 0, world: int = 1) -> BatchPlan:
        return BatchPlan(10, 10, 8, 5, start, rank, world, src_bins=bins, src_weights=weights)

    whole = plan()
    assert [whole.keys(i) for i in range(6)] == [plan().keys(i) for i in range(6)]
    resumed = iter(plan(start=4))
    assert [next(resumed), next(resumed)] == [whole.keys(4), whole.keys(5)]
    ranks = [plan(rank=r, world=2).keys(3) for r in range(2)]
    assert ranks[0] + ranks[1] == whole.keys(3)
    assert BatchPlan(10, 10, 8, seed=6, src_bins=bins, src_weights=weights).keys(0) != whole.keys(0)


def test_pretraining_turns_mouth_matching_off() -> None:
    assert TrainSettings(match_mouth=True).effective().match_mouth is True
    assert TrainSettings(match_mouth=True, pretrain=True).effective().match_mouth is False


@pytest.mark.usefixtures("one_torch_thread")
def test_training_with_match_mouth(talking_to_silent: tuple[Path, Path], tmp_path: Path,
                                   tiny_config: TinyConfig) -> None:
    settings = {"batch_size": 4, "optimizer": "adam", "lr": 3e-3, "match_mouth": True}
    options = TrainOptions(talking_to_silent[0], talking_to_silent[1], tmp_path / "m", model="saehd",
                           model_config=tiny_config(), settings=settings, workers=0, preview_every=0,
                           autosave_minutes=0, threads=1, iterations=3)
    with Trainer(options) as trainer:
        result = trainer.run()
        plan = trainer.loader.batch_sampler
    assert result.status == "done" and result.iteration == 3 and np.isfinite(result.losses["src"])
    assert isinstance(plan, BatchPlan) and _closed_share(plan, {10, 11}) == pytest.approx(0.8, abs=0.06)


def test_coverage_names_a_closed_dst_mouth_over_a_talking_src(talking_to_silent: tuple[Path, Path],
                                                             tmp_path: Path) -> None:
    report = faceset_coverage(*talking_to_silent)
    assert report.closed_mouth == pytest.approx((2 / 12, 0.8))
    line = report.mouth_mismatch()
    assert line is not None and "closed in 80 % of the dst faces but only 17 % of the src faces" in line
    assert "--match-mouth" in line and report.to_json()["mouth_mismatch"] == line
    silent = write_mouths(tmp_path / "silent", [CLOSED] * 9 + [TALKING])
    reverse = faceset_coverage(silent, talking_to_silent[0])  # a silent src, a talking dst
    assert "open in 83 % of the dst faces but only 10 % of the src faces" in (reverse.mouth_mismatch() or "")
    balanced = write_mouths(tmp_path / "balanced", [CLOSED] * 4 + [TALKING] * 4)
    assert faceset_coverage(balanced, talking_to_silent[1]).mouth_mismatch() is None
    result = CliRunner().invoke(app, ["faceset", "coverage", *map(str, talking_to_silent)])
    assert result.exit_code == 0, result.output
    assert "mouth" in result.output and "--match-mouth" in result.output
