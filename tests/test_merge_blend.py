"""The per-face merge pipeline on real images, with deterministic swap functions."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from skimage import data

from recast.faces.alignment import transform_points
from recast.faces.masks import hull_mask
from recast.merge.blend import crop_face, merge_face, merge_frame, predict
from recast.merge.export import export_patch
from recast.merge.settings import MODES, MergeSettings
from test_merge_models import FunctionModel, face_landmarks, identity, invert, mirror

PLAIN = MergeSettings(mode="overlay", mask_mode="full", color="none")


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return np.ascontiguousarray(cv2.resize(data.astronaut()[..., ::-1], (640, 480)))


@pytest.fixture(scope="module")
def landmarks() -> np.ndarray:
    # 120 px brow to brow: a whole-face crop then spans ~256 frame pixels.
    return face_landmarks((320, 230), 120, angle_deg=12)


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.float32) - b.astype(np.float32)).mean(axis=2)


def test_identity_swap_gives_back_the_frame(frame, landmarks):
    """Crop → model → warp back is geometrically exact: an identity model changes nothing."""
    out, mask = merge_face(frame, landmarks, FunctionModel(identity, resolution=256), PLAIN)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert mask.shape == frame.shape[:2] and mask.dtype == np.float32
    inside = mask > 0.99
    assert inside.sum() > 200 * 200
    assert _diff(out, frame)[inside].mean() < 1.5  # two cubic resamplings of a detailed photo
    assert np.array_equal(out[mask == 0], frame[mask == 0])


def test_swapped_face_lands_inside_the_landmark_hull(frame, landmarks):
    settings = MergeSettings(mode="overlay", mask_mode="dst", color="none")
    out, mask = merge_face(frame, landmarks, FunctionModel(invert), settings)
    hull = hull_mask(landmarks, frame.shape[:2]) > 0
    binary = mask > 0.5
    iou = (binary & hull).sum() / (binary | hull).sum()
    assert iou > 0.95
    core = cv2.erode(hull.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    expected = 255.0 - frame.astype(np.float32)
    assert np.abs(out[core].astype(np.float32) - expected[core]).mean() < 12.0
    assert np.array_equal(out[mask == 0], frame[mask == 0])


def test_mirror_swap_moves_pixels_across_the_face(frame, landmarks):
    """A horizontally flipped crop pasted back: the face's left half shows its right half."""
    model = FunctionModel(mirror, resolution=256)
    out, _ = merge_face(frame, landmarks, model, PLAIN)
    crop = crop_face(frame, landmarks, 256, model.face_type)
    back = cv2.warpAffine(out, crop.face_mat, (256, 256), flags=cv2.INTER_LINEAR).astype(np.float32) / 255
    expected = crop.image[:, ::-1]
    assert np.abs(back[40:216, 40:216] - expected[40:216, 40:216]).mean() < 0.03


def test_erode_blur_and_face_scale_change_the_pasted_mask(frame, landmarks):
    model = FunctionModel(invert)
    area = merge_face(frame, landmarks, model, PLAIN.updated({"mask_mode": "dst"}))[1].sum()
    eroded = merge_face(frame, landmarks, model, PLAIN.updated({"mask_mode": "dst", "erode": 40}))[1]
    grown = merge_face(frame, landmarks, model, PLAIN.updated({"mask_mode": "dst", "erode": -40}))[1]
    assert eroded.sum() < 0.85 * area
    assert grown.sum() > 1.15 * area
    soft = merge_face(frame, landmarks, model, PLAIN.updated({"mask_mode": "dst", "blur": 80}))[1]
    assert ((soft > 0.05) & (soft < 0.95)).sum() > 3 * ((eroded > 0.05) & (eroded < 0.95)).sum()
    smaller = merge_face(frame, landmarks, model, PLAIN.updated({"mask_mode": "dst", "output_face_scale": 25}))[1]
    assert smaller.sum() == pytest.approx(area / 1.25**2, rel=0.05)


def test_colour_transfer_pulls_the_face_toward_the_frame(frame, landmarks):
    tinted = FunctionModel(lambda faces: faces * np.array([0.3, 0.6, 1.4], np.float32))
    raw, mask = merge_face(frame, landmarks, tinted, MergeSettings(mask_mode="dst", color="none"))
    fixed, _ = merge_face(frame, landmarks, tinted, MergeSettings(mask_mode="dst", color="rct"))
    inside = mask > 0.9
    target = frame[inside].astype(np.float32).mean(0)
    assert np.abs(fixed[inside].mean(0) - target).max() < 0.3 * np.abs(raw[inside].mean(0) - target).max()


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_produces_a_valid_frame(frame, landmarks, mode):
    settings = MergeSettings(mode=mode, mask_mode="learned-prd*learned-dst", color="rct", erode=10, blur=30)
    out, mask = merge_face(frame, landmarks, FunctionModel(invert), settings)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert mask.max() > 0.9
    changed = _diff(out, frame) > 0
    if mode in ("original", "raw-predict"):
        assert not changed.any()
    else:
        assert changed.sum() > 10000
        assert not changed[mask == 0].any() or mode == "raw-rgb"


def test_seamless_blends_the_boundary(frame, landmarks):
    dark = FunctionModel(lambda faces: faces * 0.5)
    settings = MergeSettings(mode="seamless", mask_mode="dst", color="none")
    out, mask = merge_face(frame, landmarks, dark, settings)
    overlay, _ = merge_face(frame, landmarks, dark, settings.updated({"mode": "overlay"}))
    inside = mask > 0.9
    # Poisson cloning keeps the face's gradients but takes its level from the frame's border.
    assert abs(out[inside].mean() - frame[inside].mean()) < abs(overlay[inside].mean() - frame[inside].mean())


def test_post_effects_and_degrades_run(frame, landmarks):
    settings = MergeSettings(
        mask_mode="dst", sharpen_mode="gaussian", sharpen_amount=3, motion_blur=50, denoise=20,
        bicubic_degrade=30, color_degrade=50,
    )
    model = FunctionModel(invert)
    crop = crop_face(frame, landmarks, 128, model.face_type)
    out, mask, patches = merge_frame(frame, [(crop, predict(model, [crop])[0], (30.0, 0.0))], settings)
    assert len(patches) == 1 and out.shape == frame.shape
    assert _diff(out, frame)[mask == 0].mean() > 0  # the background was degraded


def test_several_faces_and_faces_off_frame(frame):
    model = FunctionModel(invert)
    left, right = face_landmarks((160, 200), 90), face_landmarks((480, 260), 90, angle_deg=-20)
    crops = [crop_face(frame, points, 128, model.face_type) for points in (left, right)]
    items = [(crop, pred, None) for crop, pred in zip(crops, predict(model, crops), strict=True)]
    out, mask, patches = merge_frame(frame, items, MergeSettings(mask_mode="dst"))
    assert len(patches) == 2 and model.calls == [2]
    assert mask[200, 160] > 0.9 and mask[260, 480] > 0.9 and mask[240, 320] == 0

    half_out = face_landmarks((620, 240), 120)  # half of the face beyond the right edge
    out, mask = merge_face(frame, half_out, model, MergeSettings(mask_mode="dst"))
    assert mask[:, 600:].max() > 0.9
    gone = face_landmarks((2000, 240), 120)  # entirely outside: nothing to do
    out, mask = merge_face(frame, gone, model, MergeSettings(mask_mode="dst"))
    assert np.array_equal(out, frame) and mask.max() == 0


def test_export_writes_rgba_layers_and_placement(tmp_path, frame, landmarks):
    model = FunctionModel(invert)
    crop = crop_face(frame, landmarks, 128, model.face_type)
    out, _, patches = merge_frame(frame, [(crop, predict(model, [crop])[0], None)], MergeSettings(mask_mode="dst"))
    files = export_patch(tmp_path, "00007.png", 0, patches[0], (640, 480))
    assert [f.name for f in files] == ["00007_0_face.png", "00007_0_patch.png", "00007_0.json"]
    info = json.loads(files[2].read_text())
    layer = cv2.imread(str(files[1]), cv2.IMREAD_UNCHANGED)
    assert layer.shape == (info["height"], info["width"], 4)
    assert cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED).shape == (128, 128, 4)
    # Compositing the patch "over" the frame at (x, y) reproduces the merged frame.
    x, y, w, h = info["x"], info["y"], info["width"], info["height"]
    alpha = layer[..., 3:].astype(np.float32) / 255
    over = frame[y : y + h, x : x + w] * (1 - alpha) + layer[..., :3] * alpha
    assert np.abs(over - out[y : y + h, x : x + w]).mean() < 1.0
    corners = transform_points(np.array([[0.0, 0.0], [128.0, 128.0]]), np.array(info["crop_to_frame"]))
    assert x <= corners[:, 0].min() + 3 and corners[:, 0].max() <= x + w + 3


def test_pasted_mask_covers_exactly_the_crop_square(frame, landmarks):
    model = FunctionModel(invert)  # 128 px crop, ~256 frame px: the mask is resampled 2×
    crop = crop_face(frame, landmarks, 128, model.face_type)
    _, mask, patches = merge_frame(frame, [(crop, predict(model, [crop])[0], None)], PLAIN)
    corners = transform_points(np.array([[0, 0], [128, 0], [128, 128], [0, 128]], np.float64),
                               patches[0].crop_to_frame)
    side = np.linalg.norm(corners[1] - corners[0])
    assert mask.sum() == pytest.approx(side**2, rel=0.01)
    ys, xs = np.mgrid[: mask.shape[0], : mask.shape[1]]
    centroid = np.array([(xs * mask).sum(), (ys * mask).sum()]) / mask.sum()
    centre = transform_points(np.array([[63.5, 63.5]]), patches[0].crop_to_frame)[0]  # centre of the pixels
    assert np.abs(centroid - centre).max() < 0.25
