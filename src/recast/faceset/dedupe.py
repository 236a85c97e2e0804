"""Find near-duplicate faces (perceptual hash plus a small-image check) and move the extras to the trash.

Two faces are duplicates when their 64-bit difference hashes differ in at most ``max_bits`` bits
*and* their 32×32 grey thumbnails differ by at most ``max_diff`` on average (0–1 scale). Groups are
the connected components of that relation; in each, the face cut from the largest source face
(detector box area; then the sharpest, by variance of the Laplacian) stays and the others move to
``<folder>_trash`` through the folder's journal, so
:func:`recast.faceset.sort.restore` brings them back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recast.errors import MetadataError, OptionError
from recast.faces.aligned import read_meta
from recast.faceset.features import difference_hash, laplacian_variance, rect_area, small_gray
from recast.faceset.files import ProgressCallback, map_faces, require_faces, trash_moves
from recast.faceset.journal import Journal
from recast.media.images import read_image

_BLOCK = 2048


@dataclass
class DedupeResult:
    """Duplicate groups (kept name → moved names) and the number of faces moved.

    ``frames_emptied`` counts source frames whose every face is among the moved ones: harmless in
    a src (training) set, but merging needs each dst frame's face, so the CLI warns about it.
    """

    groups: dict[str, list[str]] = field(default_factory=dict)
    frames_emptied: int = 0

    @property
    def moved(self) -> int:
        return sum(len(v) for v in self.groups.values())


def _signature(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    image = read_image(path)
    try:
        area = rect_area(read_meta(path))
    except MetadataError:
        area = 0.0
    return difference_hash(image), small_gray(image), (area, laplacian_variance(image))


def duplicate_pairs(hashes: np.ndarray, thumbs: np.ndarray, max_bits: int, max_diff: float) -> list[tuple[int, int]]:
    """Index pairs ``i < j`` that are duplicates; ``hashes`` ``(N, 64)`` bool, ``thumbs`` ``(N, D)`` float32."""
    bits = hashes.astype(np.float32)
    pairs = []
    for start in range(0, len(bits), _BLOCK):
        block = bits[start : start + _BLOCK]
        hamming = block @ (1 - bits).T + (1 - block) @ bits.T
        rows, cols = np.nonzero(hamming <= max_bits + 0.5)
        for i, j in zip(rows + start, cols, strict=True):
            if i < j and float(np.abs(thumbs[i] - thumbs[j]).mean()) <= max_diff:
                pairs.append((int(i), int(j)))
    return pairs


def find_duplicates(
    folder: str | Path, max_bits: int = 4, max_diff: float = 0.03, workers: int = 2,
    on_progress: ProgressCallback | None = None,
) -> DedupeResult:
    """Group near-duplicates of ``folder`` without moving anything."""
    if not 0 <= max_bits <= 64:
        raise OptionError(f"--max-bits {max_bits}: must be between 0 and 64")
    paths = require_faces(folder)
    signatures = map_faces(_signature, paths, workers, on_progress)
    hashes = np.stack([s[0] for s in signatures])
    thumbs = np.stack([s[1] for s in signatures])
    quality = [s[2] for s in signatures]
    parent = list(range(len(paths)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in duplicate_pairs(hashes, thumbs, max_bits, max_diff):
        parent[root(j)] = root(i)
    members: dict[int, list[int]] = {}
    for i in range(len(paths)):
        members.setdefault(root(i), []).append(i)
    result = DedupeResult()
    for group in members.values():
        if len(group) > 1:
            keep = max(group, key=lambda i: (quality[i], -i))
            result.groups[paths[keep].name] = [paths[i].name for i in group if i != keep]
    result.frames_emptied = _frames_emptied(paths, {name for names in result.groups.values() for name in names})
    return result


def _frames_emptied(paths: list[Path], moved: set[str]) -> int:
    """Source frames all of whose faces (by metadata ``source_filename``) are in ``moved``."""
    if not moved:
        return 0
    kept_frames: set[str] = set()
    moved_frames: set[str] = set()
    for path in paths:
        try:
            source = read_meta(path).source_filename
        except MetadataError:
            continue
        (moved_frames if path.name in moved else kept_frames).add(source)
    return len(moved_frames - kept_frames)


def dedupe_faceset(folder: str | Path, max_bits: int = 4, max_diff: float = 0.03, workers: int = 2,
                   dry_run: bool = False, on_progress: ProgressCallback | None = None) -> DedupeResult:
    """Move near-duplicates of ``folder`` to ``<folder>_trash`` (journaled; undo with ``restore``)."""
    folder = Path(folder)
    result = find_duplicates(folder, max_bits, max_diff, workers, on_progress)
    if dry_run or not result.moved:
        return result
    journal = Journal(folder)
    extras = [name for names in result.groups.values() for name in names]
    moves = trash_moves(folder, extras, journal.original_names())
    journal.move(moves, {"action": "dedupe"})
    return result
