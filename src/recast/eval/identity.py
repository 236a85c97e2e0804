"""Identity centroids: the mean dlib embedding of a faceset or of a stream of faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recast.errors import InputError
from recast.extract.landmarks import DlibEmbedder, to_rgb
from recast.faceset.source import open_faceset

#: At most this many faces of a faceset are embedded for its centroid (sampled evenly).
CENTROID_SAMPLE = 200


def sample_indices(count: int, limit: int = CENTROID_SAMPLE) -> np.ndarray:
    """Up to ``limit`` indices spread evenly over ``range(count)`` (all of them when ``count <= limit``)."""
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.linspace(0, count - 1, min(count, limit)).round().astype(np.int64))


def faceset_centroid(path: str | Path, embedder: DlibEmbedder, limit: int = CENTROID_SAMPLE) -> tuple[np.ndarray, int]:
    """Mean embedding of up to ``limit`` faces of a faceset (folder or ``.rfs`` pack).

    Faces whose metadata carries an embedding use it; the others are embedded from the aligned
    image and its aligned landmarks.

    Returns:
        ``((128,) float64 centroid, number of faces used)``.

    Raises:
        InputError: missing or empty faceset.
    """
    faces = open_faceset(path)
    embeddings = []
    for index in sample_indices(len(faces), limit):
        meta = faces.meta(int(index))
        if meta.embedding is not None:
            embeddings.append(np.asarray(meta.embedding, dtype=np.float64))
            continue
        face = faces[int(index)]
        embeddings.append(embedder.embed(to_rgb(face.image), face.meta.landmarks).astype(np.float64))
    if not embeddings:
        raise InputError(path, "holds no aligned faces")
    return np.mean(embeddings, axis=0), len(embeddings)
