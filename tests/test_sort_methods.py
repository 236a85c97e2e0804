"""Pure sort building blocks: sharpness, histogram distances, chains and the best-faces quota rule."""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from recast.faceset.chains import best_faces, distance_matrix_hist, greedy_chain, quotas
from recast.faceset.features import bhattacharyya_matrix, color_histogram, gray_histogram, sharpness


def _texture(seed: int = 0, size: int = 256) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(0, 255, (size // 8, size // 8, 3)).astype(np.uint8)
    return cv2.resize(noise, (size, size), interpolation=cv2.INTER_NEAREST)  # sharp-edged blocks


def test_sharpness_falls_with_blur() -> None:
    image = _texture()
    scores = [sharpness(image if s == 0 else cv2.GaussianBlur(image, (0, 0), s)) for s in (0, 0.6, 1, 3)]
    assert scores[0] > 0.9 and scores[-1] < 0.05 and all(a >= b for a, b in itertools.pairwise(scores))
    assert sharpness(np.full((256, 256, 3), 128, np.uint8)) == 0.0


def test_bhattacharyya_matches_opencv() -> None:
    a, b = _texture(1), _texture(2)
    ours = bhattacharyya_matrix(color_histogram(a)[None], color_histogram(b)[None], channels=3)[0, 0]
    cv = sum(
        cv2.compareHist(cv2.calcHist([a], [c], None, [256], [0, 256]), cv2.calcHist([b], [c], None, [256], [0, 256]),
                        cv2.HISTCMP_BHATTACHARYYA)
        for c in range(3)
    )
    assert abs(ours - cv) < 1e-3
    assert gray_histogram(a).shape == (256,)


def test_greedy_chain_nearest_and_farthest() -> None:
    points = np.array([0.0, 10.0, 1.0, 11.0, 5.0])
    distances = np.abs(points[:, None] - points[None, :]).astype(np.float32)
    assert greedy_chain(distances) == [0, 2, 4, 1, 3]
    assert greedy_chain(distances, farthest=True) == [0, 3, 2, 1, 4]
    hists = np.stack([color_histogram(_texture(i)) for i in range(3)])
    matrix = distance_matrix_hist(hists, channels=3)
    assert matrix.shape == (3, 3) and np.allclose(np.diag(matrix), 0, atol=1e-3)


def test_quotas_redistribute_shortfall_exactly() -> None:
    counts = np.array([0, 1, 10, 3, 50])
    q = quotas(counts, 20)
    assert q.sum() == 20 and np.all(q <= counts) and q[1] == 1 and q[3] == 3
    assert quotas(counts, 1000).tolist() == counts.tolist()


def test_best_faces_prefers_quality_within_a_bin() -> None:
    n = 40
    rng = np.random.default_rng(0)
    quality = rng.random(n)
    hists = np.stack([gray_histogram(_texture(i, 64)) for i in range(n)])
    chosen = best_faces(quality, np.zeros(n), np.zeros(n), hists, target=3, yaw_bins=1)
    assert len(chosen) == 3 and set(chosen) <= set(np.argsort(-quality)[:30])
    yaw = np.linspace(-1, 1, n)
    bins = np.floor((-yaw + 1.2) / 2.4 * 8).astype(int)
    spread = best_faces(quality, np.zeros(n), yaw, hists, target=8, yaw_bins=8)
    assert len(spread) == 8 and len({bins[i] for i in spread}) == len(set(bins))  # one per yaw bin
