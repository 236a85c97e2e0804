"""Keep only the faces of one person, given reference photos of them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from recast.errors import InputError
from recast.extract.analyze import AnalyzeOptions, FoundFace, FrameAnalyzer


class IdentityFilter:
    """Accepts faces whose embedding is within ``threshold`` of any reference embedding."""

    def __init__(self, references: np.ndarray, threshold: float = 0.6) -> None:
        self.references = np.asarray(references, dtype=np.float32).reshape(-1, 128)
        self.threshold = threshold

    @classmethod
    def from_photos(cls, photos: Sequence[Path], analyze: AnalyzeOptions, threshold: float) -> IdentityFilter:
        """Embed the largest face of each photo, found with ``analyze``'s detector (any face of 20 px or
        more, rotations tried); raises :class:`InputError` for a photo without a face."""
        from recast.media.images import read_image

        analyzer = FrameAnalyzer(dataclasses.replace(analyze, min_face_size=20, max_faces=1, try_rotations=True,
                                                     embed=True))
        embeddings = []
        for photo in photos:
            faces = analyzer.analyze(read_image(photo))
            if not faces or faces[0].embedding is None:
                raise InputError(photo, "no face found in this reference photo")
            embeddings.append(faces[0].embedding)
        return cls(np.stack(embeddings), threshold)

    def distance(self, embedding: np.ndarray) -> float:
        """Smallest distance from ``embedding`` (128,) to a reference."""
        return float(np.linalg.norm(self.references - embedding[None, :], axis=1).min())

    def keep(self, faces: list[FoundFace]) -> list[FoundFace]:
        """The faces that match a reference (faces without an embedding are dropped)."""
        return [f for f in faces if f.embedding is not None and self.distance(f.embedding) <= self.threshold]
