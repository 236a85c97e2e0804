"""Expression coverage: does the src faceset hold a face close to every dst face?

DeepFaceLab's guide: the src faceset must cover the destination's angles and expressions, or
the model has nothing to draw those frames from (a dst that closes its mouth over a src that
always talks comes out talking). :func:`faceset_coverage` makes that measurable from metadata
alone (no pixels decoded):

* four features per face: yaw and pitch (degrees, from the stored pose), mouth openness and eye
  openness (:mod:`recast.faces.expression`, from the stored landmarks);
* a dst face is *covered* when one src face is within :data:`TOLERANCES` on all four features at
  once (the largest of the four gaps, each divided by its tolerance, is at most 1);
* the coverage score is the share of covered dst faces; below :data:`POOR_COVERAGE` it is poor;
* per feature: the src and dst percentiles and the share of dst faces with a src face within that
  feature's tolerance alone (what is missing: angles, or the mouth, or the eyes);
* the uncovered dst faces with their frame numbers and the feature that keeps them apart;
* the mouth's open/closed balance (:meth:`CoverageReport.mouth_mismatch`): a dst that mostly keeps its
  mouth closed (openness below :data:`CLOSED_MOUTH`) over a src with few closed-mouth faces, or the
  reverse, is named in one line with its fix (more src footage, or training with ``--match-mouth``).
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recast.atomic import atomic_write_text
from recast.errors import InputError
from recast.faces.expression import eye_openness, mouth_openness
from recast.faceset.source import open_faceset

FEATURES = ("yaw", "pitch", "mouth", "eyes")
"""Feature names, in the column order of :attr:`FaceFeatures.values`."""

TOLERANCES = {"yaw": 10.0, "pitch": 10.0, "mouth": 0.15, "eyes": 0.06}
"""How far a src face may be from a dst face on each feature and still count as close
(degrees for yaw and pitch; openness ratio units for mouth and eyes)."""

POOR_COVERAGE = 0.8
"""A coverage score below this is poor (``recast run`` warns)."""

CLOSED_MOUTH = 0.1
"""A mouth openness below this reads as closed (closed lips measure about 0, talking 0.3-0.6)."""
MOUTH_MOSTLY, MOUTH_FEW = 0.5, 0.2
"""The mouth is out of balance when at least MOUTH_MOSTLY of the dst faces are closed-mouthed (or open)
and under MOUTH_FEW of the src faces are."""

_CHUNK = 512

ProgressCallback = Callable[[int, int | None], None]

log = logging.getLogger(__name__)


@dataclass
class FaceFeatures:
    """The coverage features of a faceset: ``values`` is ``(N, 4)`` float64 in :data:`FEATURES` order.

    ``names`` are the face file names (or pack entries), ``frames`` the source frame numbers (None
    when the source file name is not a frame number).
    """

    names: list[str]
    frames: list[int | None]
    values: np.ndarray


@dataclass
class UncoveredFace:
    """A dst face with no close src face: its values, the nearest src face and what keeps them apart.

    ``distance`` is the largest per-feature gap of the nearest src face in tolerance units (> 1);
    ``feature`` names that gap's feature.
    """

    name: str
    frame: int | None
    values: dict[str, float]
    nearest_src: str
    distance: float
    feature: str

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "frame": self.frame, "values": {k: round(v, 4) for k, v in self.values.items()},
                "nearest_src": self.nearest_src, "distance": round(self.distance, 3), "feature": self.feature}


@dataclass
class FeatureCoverage:
    """One feature: src and dst 5th/50th/95th percentiles and the dst share with a close src value."""

    name: str
    tolerance: float
    src_percentiles: tuple[float, float, float]
    dst_percentiles: tuple[float, float, float]
    covered: float

    def to_json(self) -> dict[str, object]:
        return {"tolerance": self.tolerance, "src_p5_p50_p95": [round(v, 4) for v in self.src_percentiles],
                "dst_p5_p50_p95": [round(v, 4) for v in self.dst_percentiles], "covered": round(self.covered, 4)}


@dataclass
class CoverageReport:
    """What :func:`faceset_coverage` found (see the module docstring)."""

    src: Path
    dst: Path
    src_faces: int
    dst_faces: int
    score: float
    features: dict[str, FeatureCoverage]
    uncovered: list[UncoveredFace] = field(default_factory=list)
    nearest: np.ndarray = field(default_factory=lambda: np.zeros(0))
    dst_frames: list[int | None] = field(default_factory=list)
    closed_mouth: tuple[float, float] = (0.0, 0.0)
    """The (src, dst) shares of faces whose mouth openness is below :data:`CLOSED_MOUTH`."""

    @property
    def poor(self) -> bool:
        """True when the score is below :data:`POOR_COVERAGE`."""
        return self.score < POOR_COVERAGE

    def weakest_feature(self) -> str:
        """The feature whose own coverage is lowest; on a tie, the one that keeps most uncovered faces apart."""
        limiting = Counter(u.feature for u in self.uncovered)
        return min(self.features.values(), key=lambda f: (f.covered, -limiting[f.name])).name

    def describe(self) -> str:
        """One line: the score and the weakest feature."""
        weakest = self.features[self.weakest_feature()]
        return (f"{100 * self.score:.0f} % of {self.dst_faces} dst faces have a close src face "
                f"({len(self.uncovered)} uncovered; weakest feature: {weakest.name}, {100 * weakest.covered:.0f} % "
                "covered on its own)")

    def mouth_mismatch(self) -> str | None:
        """One line when the dst's faces are mostly closed-mouthed and few src faces are (or the reverse,
        mostly open over few open): the shares and the fix; None when the mouth is in balance."""
        src_closed, dst_closed = self.closed_mouth
        for state, src_share, dst_share, relation in (("closed", src_closed, dst_closed, "<"),
                                                      ("open", 1 - src_closed, 1 - dst_closed, "≥")):
            if dst_share >= MOUTH_MOSTLY and src_share < MOUTH_FEW:
                return (f"the mouth is {state} in {100 * dst_share:.0f} % of the dst faces but only "
                        f"{100 * src_share:.0f} % of the src faces (openness {relation} {CLOSED_MOUTH:g}): add src "
                        f"footage with the mouth {state}, or train with --match-mouth")
        return None

    def uncovered_frames(self) -> list[int]:
        """Sorted frame numbers of the uncovered dst faces (those with a frame number)."""
        return sorted({u.frame for u in self.uncovered if u.frame is not None})

    def to_json(self) -> dict[str, object]:
        return {
            "format": "recast.coverage", "version": 1, "src": str(self.src), "dst": str(self.dst),
            "src_faces": self.src_faces, "dst_faces": self.dst_faces, "score": round(self.score, 4),
            "poor": self.poor, "poor_below": POOR_COVERAGE, "tolerances": TOLERANCES,
            "features": {name: f.to_json() for name, f in self.features.items()},
            "uncovered_frames": self.uncovered_frames(),
            "closed_mouth": {"src": round(self.closed_mouth[0], 4), "dst": round(self.closed_mouth[1], 4),
                             "below": CLOSED_MOUTH},
            "mouth_mismatch": self.mouth_mismatch(),
            "uncovered": [u.to_json() for u in self.uncovered],
        }


def face_features(faceset: str | Path, on_progress: ProgressCallback | None = None) -> FaceFeatures:
    """The coverage features of every face of a faceset (folder or pack), from metadata only.

    Raises:
        InputError: not a faceset, or no face in it.
    """
    faces = open_faceset(faceset)
    rows, frames = [], []
    for index in range(len(faces)):
        meta = faces.meta(index)
        rows.append((math.degrees(meta.pose[1]), math.degrees(meta.pose[0]), mouth_openness(meta.landmarks),
                     eye_openness(meta.landmarks)))
        frames.append(meta.source_frame_index)
        if on_progress is not None:
            on_progress(index + 1, len(faces))
    if not rows:
        raise InputError(Path(faceset), "holds no aligned faces")
    return FaceFeatures(list(faces.names), frames, np.asarray(rows, dtype=np.float64))


def compare_features(src: FaceFeatures, dst: FaceFeatures, src_path: Path, dst_path: Path) -> CoverageReport:
    """Coverage of ``dst``'s faces by ``src``'s (see the module docstring)."""
    scale = np.array([TOLERANCES[name] for name in FEATURES])
    src_n, dst_n = src.values / scale, dst.values / scale
    nearest = np.empty(len(dst_n))
    nearest_index = np.empty(len(dst_n), dtype=np.int64)
    for start in range(0, len(dst_n), _CHUNK):
        gaps = np.abs(dst_n[start:start + _CHUNK, None, :] - src_n[None, :, :]).max(axis=2)
        nearest_index[start:start + _CHUNK] = gaps.argmin(axis=1)
        nearest[start:start + _CHUNK] = gaps.min(axis=1)
    covered = nearest <= 1.0
    features = {}
    for column, name in enumerate(FEATURES):
        ordered, wanted = np.sort(src.values[:, column]), dst.values[:, column]
        place = np.searchsorted(ordered, wanted)
        below, above = ordered[np.clip(place - 1, 0, len(ordered) - 1)], ordered[np.clip(place, 0, len(ordered) - 1)]
        closest = np.minimum(np.abs(below - wanted), np.abs(above - wanted))
        features[name] = FeatureCoverage(
            name, TOLERANCES[name], _percentiles(src.values[:, column]), _percentiles(wanted),
            float(np.mean(closest <= TOLERANCES[name])))
    uncovered = []
    for row in np.flatnonzero(~covered):
        match = int(nearest_index[row])
        gaps = np.abs(dst_n[row] - src_n[match])
        uncovered.append(UncoveredFace(
            dst.names[row], dst.frames[row], dict(zip(FEATURES, dst.values[row].tolist(), strict=True)),
            src.names[match], float(nearest[row]), FEATURES[int(gaps.argmax())]))
    mouth = FEATURES.index("mouth")
    closed_mouth = (float(np.mean(src.values[:, mouth] < CLOSED_MOUTH)),
                    float(np.mean(dst.values[:, mouth] < CLOSED_MOUTH)))
    return CoverageReport(src_path, dst_path, len(src.names), len(dst.names), float(covered.mean()), features,
                          uncovered, nearest, list(dst.frames), closed_mouth)


def faceset_coverage(src: str | Path, dst: str | Path, on_progress: ProgressCallback | None = None) -> CoverageReport:
    """How well the src faceset covers the dst faceset's angles and expressions (metadata only).

    Args:
        src: the src faceset (folder of aligned faces or ``.rfs`` pack).
        dst: the dst faceset.
        on_progress: ``on_progress(faces_read, total)`` over both facesets.

    Raises:
        InputError: either is not a faceset or holds no faces.
    """
    src_path, dst_path = Path(src), Path(dst)
    src_features = face_features(src_path)
    offset = len(src_features.names)
    dst_features = face_features(dst_path, None if on_progress is None else
                                 lambda done, total: on_progress(offset + done, offset + (total or 0)))
    report = compare_features(src_features, dst_features, src_path, dst_path)
    log.info("coverage of %s by %s: %s", dst_path, src_path, report.describe())
    mismatch = report.mouth_mismatch()
    if mismatch is not None:
        log.info("coverage of %s by %s: %s", dst_path, src_path, mismatch)
    return report


def write_coverage(report: CoverageReport, path: str | Path) -> Path:
    """Write the report as JSON (atomically); returns the path."""
    path = Path(path)
    atomic_write_text(path, json.dumps(report.to_json(), indent=1) + "\n")
    return path


def _percentiles(values: np.ndarray) -> tuple[float, float, float]:
    p5, p50, p95 = np.percentile(values, [5, 50, 95])
    return float(p5), float(p50), float(p95)
