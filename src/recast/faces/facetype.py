"""Face types: how much of the head an aligned crop covers.

The paddings follow DeepFaceLab's definitions, so a ``whole`` face extracted by recast covers
the same area as DeepFaceLab's ``whole_face`` and models trained on either line up.
"""

from __future__ import annotations

import math
from enum import StrEnum

from recast.errors import OptionError


class FaceType(StrEnum):
    """Aligned-crop coverage, ordered from the tightest (``half``) to the widest (``head``)."""

    HALF = "half"
    MID = "mid"
    FULL = "full"
    WHOLE = "whole"
    HEAD = "head"

    @property
    def padding(self) -> float:
        """Extra margin around the mean-face square, as a fraction of its side."""
        return _PADDING[self]

    @property
    def extent(self) -> float:
        """Half-diagonal of the crop in units of the mean-face square's diagonal (``padding·√2 + 0.5``).

        Crops of two face types around the same face differ in side by the ratio of their extents
        (a ``full`` crop is 0.75 of a ``whole`` one).
        """
        return self.padding * math.sqrt(2.0) + 0.5

    @property
    def rank(self) -> int:
        """0 for ``half`` … 4 for ``head``: a crop of rank r contains every crop of lower rank."""
        return list(FaceType).index(self)

    def covers(self, other: FaceType) -> bool:
        """True when a crop of this type contains a crop of ``other`` (so it can be re-cropped)."""
        return self.rank >= other.rank


_PADDING = {
    FaceType.HALF: 0.0,
    FaceType.MID: 0.0675,
    FaceType.FULL: 0.2109375,
    FaceType.WHOLE: 0.40,
    FaceType.HEAD: 0.70,
}

_ALIASES = {
    "h": FaceType.HALF,
    "half_face": FaceType.HALF,
    "mf": FaceType.MID,
    "midfull_face": FaceType.MID,
    "f": FaceType.FULL,
    "full_face": FaceType.FULL,
    "wf": FaceType.WHOLE,
    "whole_face": FaceType.WHOLE,
}


def parse_face_type(value: str | FaceType) -> FaceType:
    """Accept a name (``whole``), a DeepFaceLab code (``wf``) or metadata string (``whole_face``)."""
    if isinstance(value, FaceType):
        return value
    key = str(value).strip().lower()
    try:
        return _ALIASES.get(key) or FaceType(key)
    except ValueError:
        names = ", ".join(t.value for t in FaceType)
        raise OptionError(f"unknown face type {value!r}; choose one of {names} (or h, mf, f, wf)") from None
