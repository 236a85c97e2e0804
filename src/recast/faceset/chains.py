"""Orderings built from pairwise distances: greedy nearest/farthest-neighbour chains and
DeepFaceLab's "best faces" selection. Pure numpy; no files."""

from __future__ import annotations

import numpy as np

from recast.faceset.features import bhattacharyya_matrix

_BLOCK_ROWS = 1024
YAW_RANGE = 1.2  # 2-D landmark yaw rarely exceeds ±1.2 rad, so best-faces bins cover that range


def distance_matrix_hist(hists: np.ndarray, channels: int) -> np.ndarray:
    """``(N, N)`` float32 summed Bhattacharyya distances, computed in row blocks (bounded temporaries)."""
    n = hists.shape[0]
    out = np.empty((n, n), dtype=np.float32)
    for start in range(0, n, _BLOCK_ROWS):
        out[start : start + _BLOCK_ROWS] = bhattacharyya_matrix(hists[start : start + _BLOCK_ROWS], hists, channels)
    return out


def dissimilarity(hists: np.ndarray, channels: int = 1) -> np.ndarray:
    """``(N,)`` float32: each row's summed Bhattacharyya distance to every row (blocked)."""
    n = hists.shape[0]
    out = np.empty(n, dtype=np.float32)
    for start in range(0, n, _BLOCK_ROWS):
        out[start : start + _BLOCK_ROWS] = bhattacharyya_matrix(
            hists[start : start + _BLOCK_ROWS], hists, channels
        ).sum(axis=1)
    return out


def distance_matrix_l1(items: np.ndarray) -> np.ndarray:
    """``(N, N)`` float32 sum of absolute differences between rows of ``items`` ``(N, D)`` float32."""
    n = items.shape[0]
    out = np.empty((n, n), dtype=np.float32)
    block = max(1, (1 << 24) // max(items.shape[1] * n, 1))
    for start in range(0, n, block):
        out[start : start + block] = np.abs(items[start : start + block, None, :] - items[None, :, :]).sum(axis=2)
    return out


def greedy_chain(distances: np.ndarray, start: int = 0, farthest: bool = False) -> list[int]:
    """Visit order: from ``start``, repeatedly step to the nearest (or farthest) unvisited item.

    Args:
        distances: ``(N, N)`` symmetric distances.
        start: first item.
        farthest: step to the farthest instead (a "dissimilar" chain).
    """
    n = distances.shape[0]
    if n == 0:
        return []
    visited = np.zeros(n, dtype=bool)
    order = [start]
    visited[start] = True
    fill = -np.inf if farthest else np.inf
    current = start
    for _ in range(n - 1):
        row = distances[current].copy()
        row[visited] = fill
        current = int(np.argmax(row) if farthest else np.argmin(row))
        order.append(current)
        visited[current] = True
    return order


def quotas(counts: np.ndarray, target: int) -> np.ndarray:
    """Share ``target`` picks among bins holding ``counts`` faces, never more than a bin holds.

    Each round gives every bin with faces left an equal share of what remains (at least one, fullest
    bins first), so faces a sparse bin cannot use go to the others — DeepFaceLab's "shortfall" rule,
    made exact: the result sums to ``min(target, counts.sum())``.
    """
    quota = np.zeros_like(counts)
    remaining = int(min(target, counts.sum()))
    while remaining > 0:
        open_bins = np.flatnonzero(quota < counts)
        share = max(remaining // len(open_bins), 1)
        for k in open_bins[np.argsort(-(counts - quota)[open_bins], kind="stable")]:
            add = min(share, int(counts[k] - quota[k]), remaining)
            quota[k] += add
            remaining -= add
            if remaining == 0:
                break
    return quota


def best_faces(
    quality: np.ndarray, pitch: np.ndarray, yaw: np.ndarray, hists: np.ndarray, target: int, yaw_bins: int = 128
) -> list[int]:
    """DeepFaceLab's "best faces" pick: up to ``target`` sharp faces spread over yaw, pitch and look.

    1. Bin faces by ``-yaw`` into ``yaw_bins`` bins over ±1.2 rad; share ``target`` among the bins
       (:func:`quotas`).
    2. In a bin with quota q keep the ``10 q`` best by ``quality``, split them into q pitch bins over
       ±π/2, order each pitch bin by histogram dissimilarity within it (most unusual first), and take
       faces round-robin over the pitch bins until q are chosen.

    Args:
        quality: ``(N,)`` higher is better (sharpness, or source box area for the fast variant).
        pitch, yaw: ``(N,)`` radians.
        hists: ``(N, 256)`` sqrt grey histograms.

    Returns:
        Indices of the chosen faces, by yaw bin then pick order.
    """
    pos = (-yaw + YAW_RANGE) / (2 * YAW_RANGE) * yaw_bins
    bins = np.clip(np.floor(pos), 0, yaw_bins - 1).astype(int)
    counts = np.bincount(bins, minlength=yaw_bins)
    quota = quotas(counts, target)
    chosen: list[int] = []
    for k in np.flatnonzero(quota):
        q = int(quota[k])
        members = np.flatnonzero(bins == k)
        members = members[np.argsort(-quality[members], kind="stable")][: 10 * q]
        pitch_bin = np.clip(np.floor((pitch[members] + np.pi / 2) / np.pi * q), 0, q - 1).astype(int)
        queues = []
        for p in range(q):
            group = members[pitch_bin == p]
            if group.size:
                score = dissimilarity(hists[group]) if group.size > 1 else np.zeros(1)
                queues.append(list(group[np.argsort(-score, kind="stable")]))
        picked: list[int] = []
        while len(picked) < q:
            for queue in queues:
                if queue and len(picked) < q:
                    picked.append(int(queue.pop(0)))
        chosen.extend(picked)
    return chosen
