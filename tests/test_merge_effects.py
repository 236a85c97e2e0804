"""Merge mask operations and image effects, checked against what each one promises."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from recast.errors import OptionError
from recast.merge import effects
from recast.merge.maskops import (
    binarize_for_clone,
    check_mask_mode,
    dfl_pixels,
    erode_blur,
    motion_kernel,
    select_mask,
)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return cv2.resize(data.astronaut()[..., ::-1], (128, 128)).astype(np.float32) / 255.0


def _disc(size: int = 128, radius: int = 40) -> np.ndarray:
    mask = np.zeros((size, size), np.float32)
    cv2.circle(mask, (size // 2, size // 2), radius, 1.0, -1)
    return mask


def _sharpness(image: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_32F).var())


def test_erode_shrinks_dilate_grows_blur_feathers():
    mask = _disc()
    area = mask.sum()
    assert erode_blur(mask, 10, 0).sum() < area * 0.8
    assert erode_blur(mask, -10, 0).sum() > area * 1.2
    soft = erode_blur(mask, 0, 21)
    assert ((soft > 0.02) & (soft < 0.98)).sum() > ((mask > 0.02) & (mask < 0.98)).sum() + 200
    assert soft.dtype == np.float32 and soft.shape == mask.shape


def test_blur_fades_to_zero_inside_the_crop():
    full = np.ones((128, 128), np.float32)
    soft = erode_blur(full, 0, 30)
    assert soft[0].max() == 0 and soft[:, -1].max() == 0  # the feathered edge ends inside the square
    assert soft[64, 64] == pytest.approx(1.0)
    assert np.array_equal(erode_blur(full, 0, 0), full)  # nothing to do: unchanged


def test_dfl_pixels_scale_with_the_working_size():
    assert dfl_pixels(40, 512, 128) == 40
    assert dfl_pixels(40, 256, 128) == 20


def test_mask_modes_combine_the_learned_masks():
    prd, dst = np.full((64, 64), 0.8, np.float32), np.full((32, 32, 1), 0.5, np.float32)
    hull = _disc(64, 20)
    assert select_mask("full", (64, 64)).min() == 1.0
    assert np.array_equal(select_mask("dst", (64, 64), hull=hull), hull)
    assert np.allclose(select_mask("learned-prd", (64, 64), prd, dst), 0.8)
    assert np.allclose(select_mask("learned-dst", (64, 64), prd, dst), 0.5)
    assert np.allclose(select_mask("learned-prd*learned-dst", (64, 64), prd, dst), 0.4)
    assert np.allclose(select_mask("learned-prd+learned-dst", (64, 64), prd, dst), 1.0)
    tiny = np.full((64, 64), 0.002, np.float32)
    assert select_mask("learned-prd", (64, 64), tiny).max() == 0.0  # below 1/255 → 0


def test_mask_mode_errors_are_clear():
    with pytest.raises(OptionError, match="no XSeg model"):
        check_mask_mode("xseg-dst", True)
    with pytest.raises(OptionError, match="no XSeg model"):
        select_mask("xseg-prd", (8, 8))
    with pytest.raises(OptionError, match="needs a learned mask"):
        check_mask_mode("learned-prd", False, "model/a")
    with pytest.raises(OptionError, match="unknown mask mode"):
        check_mask_mode("hull", True)
    with pytest.raises(OptionError, match="needs a landmark hull"):
        select_mask("dst", (8, 8))
    check_mask_mode("dst", False)


def test_binarize_for_clone_picks_the_first_level_with_pixels():
    mask = np.zeros((20, 20), np.float32)
    mask[5:15, 5:15] = 0.15
    binary = binarize_for_clone(mask)
    assert binary is not None and binary.dtype == np.uint8 and binary.sum() == 100 * 255
    assert binarize_for_clone(np.zeros((9, 9), np.float32)) is None
    assert binarize_for_clone(np.ones((9, 9), np.float32))[0].max() == 0  # border cleared


def test_motion_kernel_is_a_normalised_line_along_the_motion():
    kernel = motion_kernel(10.0, 0.0, 9)
    assert kernel.shape == (9, 9) and kernel.sum() == pytest.approx(1.0, abs=1e-5)
    assert kernel[4].sum() > 0.9  # horizontal motion: the middle row
    diagonal = motion_kernel(5.0, 5.0, 9)
    assert np.trace(diagonal) > 0.5


def test_motion_blur_smears_along_the_motion_only():
    stripes = np.zeros((64, 64, 3), np.float32)
    stripes[:, ::4] = 1.0  # vertical stripes: blurred by horizontal motion
    rows = np.ascontiguousarray(stripes.transpose(1, 0, 2))  # horizontal stripes: untouched by it
    assert effects.motion_blur(stripes, 40.0, 0.0, 50).std() < 0.1 * stripes.std()
    assert np.allclose(effects.motion_blur(rows, 40.0, 0.0, 50), rows, atol=1e-5)
    assert np.allclose(effects.motion_blur(stripes, 0.0, 40.0, 50), stripes, atol=1e-5)
    assert np.array_equal(effects.motion_blur(stripes, 0.5, 0.0, 50), stripes)  # under 1 px: off


def test_sharpen_and_blur(photo):
    base = _sharpness(photo)
    assert _sharpness(effects.sharpen(photo, "box", 2)) > base * 1.5
    assert _sharpness(effects.sharpen(photo, "gaussian", 2)) > base * 1.2
    assert _sharpness(effects.sharpen(photo, "box", -25)) < base * 0.5
    assert np.array_equal(effects.sharpen(photo, "none", 50), photo)


def test_background_degradations(photo):
    base = _sharpness(photo)
    assert _sharpness(effects.denoise(photo, 100)) < base * 0.6
    assert _sharpness(effects.bicubic_degrade(photo, 60)) < base * 0.6
    assert effects.bicubic_degrade(photo, 60).shape == photo.shape
    reduced = effects.color_degrade(photo, 100)
    colours = np.unique(np.round(reduced.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert len(colours) <= 256
    half = effects.color_degrade(photo, 50)
    assert np.allclose(half, (photo + reduced) / 2, atol=1e-6)


def test_hist_match_matches_each_channel(photo):
    ref = np.clip(photo * 0.5 + 0.3, 0, 1)
    out = effects.hist_match(photo, ref, threshold=255)
    for channel in range(3):
        assert abs(out[..., channel].mean() - ref[..., channel].mean()) < 0.01
        assert abs(out[..., channel].std() - ref[..., channel].std()) < 0.01
    lower = effects.hist_match(photo, ref, threshold=200)
    assert lower.mean() < out.mean()  # a lower threshold keeps the top levels from being reached


def test_masked_hist_match_ignores_the_outside(photo):
    mask = _disc()
    ref = photo.copy()
    ref[mask >= 0.5] = np.clip(ref[mask >= 0.5] * 0.6, 0, 1)
    ref[mask < 0.5] = 1.0
    out = effects.hist_match(photo, ref, mask, threshold=255)
    inside = mask >= 0.5
    assert abs(out[inside].mean() - ref[inside].mean()) < 0.02
