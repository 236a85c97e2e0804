"""Identity: 128-d dlib embeddings of aligned faces, distance to a person, clustering by person.

Distances are Euclidean between dlib ResNet descriptors: below ~0.6 means the same person.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recast.errors import InputError, MetadataError, OptionError
from recast.faces.aligned import read_face
from recast.faces.metadata import FaceMeta
from recast.faceset.files import ProgressCallback, map_faces, require_faces
from recast.faceset.journal import Journal

SAME_PERSON = 0.6


@functools.lru_cache(maxsize=1)
def _embedder():  # type: ignore[no-untyped-def]
    from recast.extract.landmarks import DlibEmbedder

    return DlibEmbedder()


def face_embedding(image: np.ndarray, meta: FaceMeta) -> np.ndarray:
    """``(128,)`` float32: the stored embedding, else computed from the aligned ``(S, S, 3)`` BGR image
    and its aligned landmarks with dlib's ResNet (~0.1 s)."""
    if meta.embedding is not None:
        return np.asarray(meta.embedding, dtype=np.float32)
    from recast.extract.landmarks import to_rgb

    return _embedder().embed(to_rgb(image), meta.landmarks)


def reference_embeddings(paths: Sequence[Path]) -> np.ndarray:
    """``(R, 128)`` embeddings of reference pictures: aligned faces, or photos (largest face used).

    Raises:
        InputError: a photo is unreadable or shows no face.
    """
    from recast.extract.analyze import AnalyzeOptions, FrameAnalyzer
    from recast.media.images import read_image

    out = []
    analyzer = None
    for path in paths:
        try:
            face = read_face(path)
            out.append(face_embedding(face.image, face.meta))
            continue
        except MetadataError:
            pass
        if analyzer is None:
            analyzer = FrameAnalyzer(AnalyzeOptions(min_face_size=20, max_faces=1, embed=True))
        found = analyzer.analyze(read_image(path))
        if not found or found[0].embedding is None:
            raise InputError(path, "no face found in this reference photo")
        out.append(found[0].embedding)
    return np.stack(out).astype(np.float32)


def cluster_embeddings(embeddings: np.ndarray, threshold: float = SAME_PERSON) -> np.ndarray:
    """Average-linkage agglomerative clustering, cut where the mean distance between groups exceeds
    ``threshold``. Returns ``(N,)`` int labels, 0 for the largest group, 1 for the next, …"""
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, dtype=int)
    if n == 1:
        return np.zeros(1, dtype=int)
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(np.asarray(embeddings, dtype=np.float64), method="average", metric="euclidean")
    raw = fcluster(tree, t=threshold, criterion="distance")
    ids, counts = np.unique(raw, return_counts=True)
    first = {c: int(np.flatnonzero(raw == c)[0]) for c in ids}
    ranking = sorted(ids, key=lambda c: (-counts[ids == c][0], first[c]))
    relabel = {c: i for i, c in enumerate(ranking)}
    return np.array([relabel[c] for c in raw], dtype=int)


def identity_distances(embeddings: np.ndarray, references: Sequence[Path] = ()) -> np.ndarray:
    """``(N,)`` distance of each face to the person: the nearest reference picture if given, else the
    mean embedding of the largest identity cluster in the set."""
    if references:
        refs = reference_embeddings(references)
    else:
        labels = cluster_embeddings(embeddings)
        refs = embeddings[labels == 0].mean(axis=0, keepdims=True)
    return np.linalg.norm(embeddings[:, None, :] - refs[None, :, :], axis=2).min(axis=1)


def embed_file(path: Path) -> np.ndarray:
    """Worker entry: the embedding of one aligned face file."""
    face = read_face(path)
    return face_embedding(face.image, face.meta)


@dataclass
class ClusterResult:
    """Groups found by :func:`cluster_faceset`: sub-folder name → file names (in the folder before moving)."""

    groups: dict[str, list[str]] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)


def cluster_faceset(
    folder: str | Path, threshold: float = SAME_PERSON, min_group: int = 2, move: bool = True, workers: int = 2,
    on_progress: ProgressCallback | None = None,
) -> ClusterResult:
    """Group the faces of ``folder`` by identity into sub-folders ``person_01`` (largest), ``person_02``, …

    Groups smaller than ``min_group`` go to ``unsorted/``. Moves are journaled like a sort, so
    ``restore(folder)`` puts every face back. With ``move=False`` only the grouping is returned.
    """
    folder = Path(folder)
    if threshold <= 0:
        raise OptionError(f"--threshold {threshold}: must be positive")
    paths = require_faces(folder)
    embeddings = np.stack(map_faces(embed_file, paths, workers, on_progress))
    labels = cluster_embeddings(embeddings, threshold)
    result = ClusterResult()
    counts = np.bincount(labels)
    for path, label in zip(paths, labels, strict=True):
        group = f"person_{label + 1:02d}" if counts[label] >= min_group else "unsorted"
        result.groups.setdefault(group, []).append(path.name)
        result.labels[path.name] = int(label)
    if move:
        taken = [g for g in result.groups if (folder / g).exists() and any((folder / g).iterdir())]
        if taken:
            raise InputError(folder / taken[0], "already exists and is not empty; refusing to mix groups")
        moves = [(name, f"{group}/{name}") for group, names in result.groups.items() for name in names]
        Journal(folder).move(moves, {"action": "cluster", "threshold": threshold})
    return result
