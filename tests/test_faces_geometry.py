"""Alignment, face types, pose, masks and smoothing on exactly known landmarks."""

from __future__ import annotations

import numpy as np
import pytest

from recast.errors import OptionError
from recast.faces.alignment import (
    ALIGN_POINTS,
    MEAN_FACE_68,
    invert_affine,
    transform_matrix,
    transform_points,
    umeyama,
)
from recast.faces.facetype import FaceType, parse_face_type
from recast.faces.masks import eyes_mouth_mask, hull_mask
from recast.faces.pose import estimate_pose, project_face_model
from recast.faces.smoothing import SmoothingConfig, mean_motion, smooth_track


def test_umeyama_recovers_a_similarity() -> None:
    rng = np.random.default_rng(1)
    src = rng.normal(size=(30, 2))
    angle, scale, shift = 0.4, 2.5, np.array([3.0, -7.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ (scale * rot).T + shift
    fitted = umeyama(src, dst)
    np.testing.assert_allclose(fitted[:2, :2], scale * rot, atol=1e-9)
    np.testing.assert_allclose(fitted[:2, 2], shift, atol=1e-9)


def test_mean_face_maps_into_the_unit_square() -> None:
    mat = transform_matrix(MEAN_FACE_68 * 200 + 50, 100, FaceType.HALF)
    points = transform_points(MEAN_FACE_68 * 200 + 50, mat)
    np.testing.assert_allclose(points[ALIGN_POINTS], MEAN_FACE_68[ALIGN_POINTS] * 100, atol=1e-6)


@pytest.mark.parametrize("roll", [0.0, 0.5, -1.2])
def test_face_types_nest_and_undo_roll(roll: float) -> None:
    points = project_face_model(0.0, 0.0, roll, (800, 800), distance=900.0)
    areas = []
    for face_type in FaceType:
        mat = transform_matrix(points, 256, face_type)
        corners = transform_points(np.array([[0, 0], [256, 0], [256, 256], [0, 256]]), mat, invert=True)
        a, b = corners[1] - corners[0], corners[3] - corners[0]
        areas.append(abs(a[0] * b[1] - a[1] * b[0]))
        aligned = transform_points(points, mat)
        eye_line = aligned[45] - aligned[36]
        assert abs(np.arctan2(eye_line[1], eye_line[0])) < 0.02  # crops are upright
    assert areas == sorted(areas) and areas[0] < areas[-1]


def test_invert_affine_round_trip() -> None:
    mat = np.array([[1.2, 0.3, 5.0], [-0.2, 0.9, -3.0]])
    points = np.array([[1.0, 2.0], [30.0, -4.0]])
    np.testing.assert_allclose(transform_points(transform_points(points, mat), invert_affine(mat)), points)


def test_parse_face_type_accepts_codes_and_rejects_junk() -> None:
    assert parse_face_type("wf") is FaceType.WHOLE
    assert parse_face_type("whole_face") is FaceType.WHOLE
    assert parse_face_type("head") is FaceType.HEAD
    assert FaceType.WHOLE.covers(FaceType.FULL) and not FaceType.FULL.covers(FaceType.WHOLE)
    with pytest.raises(OptionError, match="unknown face type"):
        parse_face_type("torso")


@pytest.mark.parametrize("angles", [(0.0, 0.0, 0.0), (0.0, 0.6, 0.0), (0.3, 0.0, 0.0), (0.0, 0.0, 0.5),
                                    (-0.2, -0.4, 0.15)])
def test_pose_recovers_known_angles(angles: tuple[float, float, float]) -> None:
    points = project_face_model(*angles, image_size=(640, 480))
    estimated = estimate_pose(points, (640, 480))
    np.testing.assert_allclose(estimated, angles, atol=np.radians(1.0))


def test_hull_mask_covers_the_face_and_forehead_extends_it() -> None:
    points = project_face_model(0, 0, 0, (512, 512))
    mask = hull_mask(points, (512, 512))
    assert mask.dtype == np.float32 and mask.shape == (512, 512)
    nose = np.round(points[30]).astype(int)
    assert mask[nose[1], nose[0]] == 1.0 and mask[5, 5] == 0.0
    with_forehead = hull_mask(points, (512, 512), forehead=0.8)
    assert with_forehead.sum() > mask.sum() * 1.1
    assert np.all(with_forehead >= mask)
    rows = np.nonzero(with_forehead.any(axis=1))[0]
    assert rows.min() < np.nonzero(mask.any(axis=1))[0].min()


def test_eyes_mouth_mask_is_inside_the_hull() -> None:
    points = project_face_model(0, 0, 0, (256, 256))
    prio = eyes_mouth_mask(points, (256, 256))
    assert 0.9 < prio.max() <= 1.0 and prio.min() == 0.0
    assert np.all(prio[hull_mask(points, (256, 256)) == 0] == 0)
    eye = np.round(points[36:42].mean(axis=0)).astype(int)
    assert prio[eye[1], eye[0]] > 0.5


def test_smoothing_removes_jitter_but_follows_motion() -> None:
    rng = np.random.default_rng(0)
    base = project_face_model(0, 0, 0, (640, 480))
    still = np.stack([base + rng.normal(0, 1.5, base.shape) for _ in range(60)])
    smoothed = smooth_track(still, fps=30.0)
    assert mean_motion(smoothed[5:]) < 0.5 * mean_motion(still[5:])
    # A fast pan: 15 px per frame for 20 frames; the filter must not trail by more than a few px.
    pan = np.stack([base + [15.0 * t, 0.0] for t in range(20)])
    lag = np.abs(smooth_track(pan, fps=30.0, config=SmoothingConfig())[-1] - pan[-1]).mean()
    assert lag < 15.0


def test_face_tracker_follows_two_faces_over_frames() -> None:
    """Two faces per frame in changing order: each keeps its own track (a multi-person clip crashed here)."""
    from recast.extract.tracking import FaceTracker

    rng = np.random.default_rng(0)
    base = [rng.uniform(0, 60, (68, 2)) + offset for offset in (100.0, 400.0)]
    tracker = FaceTracker(25.0)
    for step in range(6):
        order = [1, 0] if step % 2 else [0, 1]  # detectors list faces in any order
        out = tracker.update([base[i] + step for i in order])
        for got, i in zip(out, order, strict=True):
            assert np.linalg.norm(got.mean(axis=0) - (base[i].mean(axis=0) + step)) < 30
    assert len(tracker._tracks) == 2
