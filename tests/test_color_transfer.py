"""Colour transfer at merge time: every method checked against its own definition."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from recast.color import COLOR_TRANSFERS, idt, lct, mix, mkl, rct, sot, transfer_color
from recast.errors import OptionError


def _image(name: str, size: int = 96) -> np.ndarray:
    rgb = getattr(data, name)()
    return cv2.resize(rgb[..., ::-1], (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    """A face-like photo and a very differently coloured target (cat photo, tinted)."""
    src = _image("astronaut")
    ref = np.clip(_image("chelsea") * np.array([0.6, 0.9, 1.1], np.float32) + 0.05, 0, 1)
    return src, ref


@pytest.fixture(scope="module")
def disc() -> np.ndarray:
    mask = np.zeros((96, 96), np.float32)
    cv2.circle(mask, (48, 48), 30, 1.0, -1)
    return mask


def _lab_stats(image: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).reshape(-1, 3)
    if mask is not None:
        lab = lab[mask.ravel() >= 0.5]
    return lab.mean(0), lab.std(0)


def _cov(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    pixels = image.reshape(-1, 3).astype(np.float64)
    if mask is not None:
        pixels = pixels[mask.ravel() >= 0.5]
    return np.cov(pixels, rowvar=False)


def _sliced_w1(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None, seed: int = 7) -> float:
    """Mean 1-D Wasserstein-1 distance over 64 random projections (masked pixels of both)."""
    pa, pb = a.reshape(-1, 3), b.reshape(-1, 3)
    if mask is not None:
        pa, pb = pa[mask.ravel() >= 0.5], pb[mask.ravel() >= 0.5]
    axes = np.random.default_rng(seed).standard_normal((64, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    q = np.linspace(0, 1, 201)
    return float(np.abs(np.quantile(pa @ axes.T, q, axis=0) - np.quantile(pb @ axes.T, q, axis=0)).mean())


def test_every_transfer_keeps_shape_dtype_and_range(pair, disc):
    src, ref = pair
    for name, transfer in COLOR_TRANSFERS.items():
        out = transfer(src, ref, disc)
        assert out.shape == src.shape and out.dtype == np.float32, name
        assert out.min() >= 0.0 and out.max() <= 1.0, name
        assert np.isfinite(out).all(), name


def test_rct_matches_masked_lab_mean_and_std(pair, disc):
    src, ref = pair
    out = rct(src, ref, disc, disc)
    mean, std = _lab_stats(out, disc)
    ref_mean, ref_std = _lab_stats(ref, disc)
    src_mean, _ = _lab_stats(src, disc)
    assert np.abs(mean - ref_mean).max() < 1.5  # L in 0..100, a/b ±127
    assert np.abs(std - ref_std).max() < 1.5
    assert np.abs(src_mean - ref_mean).max() > 10  # the test pair really differs


def test_rct_masked_statistics_ignore_pixels_outside_the_mask(pair, disc):
    src, ref = pair
    ref = ref.copy()
    ref[disc < 0.5] = (0.0, 1.0, 0.0)  # garish green outside the mask must not matter
    out = rct(src, ref, disc, disc)
    mean, _ = _lab_stats(out, disc)
    ref_mean, _ = _lab_stats(ref, disc)
    assert np.abs(mean - ref_mean).max() < 1.5


@pytest.mark.parametrize("method", [lct, mkl])
def test_linear_transfers_match_the_covariance(pair, method):
    src, ref = pair
    ref = np.clip(ref * 0.7 + 0.15, 0, 1)  # keep the result away from clipping
    out = method(src, ref)
    target = _cov(ref)
    assert np.abs(_cov(out) - target).max() < 0.03 * np.abs(target).max()
    assert np.allclose(out.reshape(-1, 3).mean(0), ref.reshape(-1, 3).mean(0), atol=0.01)


def test_mkl_masked_matches_the_covariance_inside_the_mask(pair, disc):
    src, ref = pair
    ref = np.clip(ref * 0.7 + 0.15, 0, 1)
    out = COLOR_TRANSFERS["mkl-m"](src, ref, disc)
    target = _cov(ref, disc)
    assert np.abs(_cov(out, disc) - target).max() < 0.05 * np.abs(target).max()


def test_mkl_moves_colours_less_than_lct(pair):
    """Both reach the same covariance; Monge–Kantorovich is the least-displacement map."""
    src, ref = pair
    ref = np.clip(ref * 0.7 + 0.15, 0, 1)
    assert np.mean((mkl(src, ref) - src) ** 2) <= np.mean((lct(src, ref) - src) ** 2) + 1e-6


@pytest.mark.parametrize("method", [idt, sot])
def test_distribution_transfers_converge_along_random_axes(pair, method):
    src, ref = pair
    before = _sliced_w1(src, ref)
    after = _sliced_w1(method(src, ref), ref)
    assert after < 0.25 * before, (before, after)


@pytest.mark.parametrize("name", ["idt-m", "sot-m", "mix-m"])
def test_masked_distribution_transfers_converge_inside_the_mask(pair, disc, name):
    src, ref = pair
    before = _sliced_w1(src, ref, disc)
    after = _sliced_w1(COLOR_TRANSFERS[name](src, ref, disc), ref, disc)
    assert after < 0.4 * before, (before, after)


def test_mix_keeps_shading_and_matches_lightness(pair, disc):
    src, ref = pair
    out = mix(src, ref, disc, disc)
    light = cv2.cvtColor(out, cv2.COLOR_BGR2LAB)[..., 0]
    src_light = cv2.cvtColor(src, cv2.COLOR_BGR2LAB)[..., 0]
    inside = disc >= 0.5
    assert np.corrcoef(light[inside], src_light[inside])[0, 1] > 0.98
    assert abs(light[inside].mean() - _lab_stats(ref, disc)[0][0]) < 1.5


def test_random_methods_are_deterministic_and_sizes_may_differ(pair):
    src, ref = pair
    big_ref = cv2.resize(ref, (160, 120))
    assert np.array_equal(idt(src, big_ref, seed=3), idt(src, big_ref, seed=3))
    assert sot(src, big_ref).shape == src.shape


def test_identical_images_are_left_almost_unchanged(pair, disc):
    src, _ = pair
    for name in ("rct", "lct", "mkl", "idt", "sot-m"):
        assert np.abs(transfer_color(name, src, src, disc) - src).mean() < 0.01, name


def test_transfer_color_names():
    image = np.full((8, 8, 3), 0.5, np.float32)
    assert transfer_color("none", image, image) is not None
    with pytest.raises(OptionError, match="unknown colour transfer 'foo'"):
        transfer_color("foo", image, image)


@pytest.mark.parametrize("name", ["idt", "idt-m"])
def test_idt_leaves_no_speckles_on_a_smooth_8bit_face(pair, disc, name):
    """Issue #27: a smooth 8-bit face (few distinct colours, each a step in every axis's distribution)
    came out with rainbow speckles: two colours one level apart sent to far-apart colours. Now the
    output is as smooth as the other transfers make it, in range, and still takes the reference's colours."""
    _, ref = pair
    yy, xx = np.mgrid[0:96, 0:96] / 96.0
    src = np.stack([0.4 + 0.1 * yy, 0.5 + 0.05 * xx, 0.7 - 0.1 * yy * xx], -1)
    src = (np.round(src * 255) / 255).astype(np.float32)
    out = COLOR_TRANSFERS[name](src, ref, disc)
    assert out.dtype == np.float32 and out.shape == src.shape and out.min() >= 0.0 and out.max() <= 1.0
    step = max(np.abs(np.diff(out, axis=axis)).max() for axis in (0, 1))
    linear = max(np.abs(np.diff(mkl(src, ref), axis=axis)).max() for axis in (0, 1))
    assert step < 2 * linear and step < 0.1, (step, linear)
    fitted = disc if name == "idt-m" else None
    assert _sliced_w1(out, ref, fitted) < 0.6 * _sliced_w1(src, ref, fitted)
