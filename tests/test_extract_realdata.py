"""Extraction on real footage and photos from ../shared/data (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recast.extract.analyze import AnalyzeOptions, FrameAnalyzer
from recast.extract.reference import IdentityFilter
from recast.extract.stage import ExtractOptions, extract
from recast.faces.aligned import read_meta
from recast.media.images import list_images, read_image

pytestmark = pytest.mark.realdata


def _one_face_share(video: Path, out: Path) -> float:
    summary = extract(video, out, ExtractOptions(size=256))
    return (summary.frames - summary.frames_without_face - summary.frames_with_several) / summary.frames


def test_short_talking_head_gives_one_face_per_frame(shared_data: Path, tmp_path: Path) -> None:
    assert _one_face_share(shared_data / "videos" / "person_A__videoretalking_face_3.mp4", tmp_path / "a") >= 0.95


@pytest.mark.slow
def test_every_person_video_gives_one_face_per_frame(shared_data: Path, tmp_path: Path) -> None:
    shares = {v.stem: _one_face_share(v, tmp_path / v.stem) for v in sorted((shared_data / "videos").glob("person_*"))}
    assert len(shares) == 11
    assert all(share >= 0.95 for share in shares.values()), shares


def test_no_face_photos_give_no_face(shared_data: Path) -> None:
    analyzer = FrameAnalyzer(AnalyzeOptions())
    found = {p.name: len(analyzer.analyze(read_image(p))) for p in list_images(shared_data / "photos" / "no_face")}
    assert len(found) == 7 and not any(found.values()), found


@pytest.mark.slow
def test_reference_keeps_only_the_main_performer(shared_data: Path, tmp_path: Path) -> None:
    clip = shared_data / "videos" / "hard__facerecognition_short_hamilton_clip.mp4"
    photo = shared_data / "photos" / "identities" / "lin_manuel_miranda" / "lin-manuel-miranda.png"
    options = ExtractOptions(size=256, reference=[photo], embed=True)
    summary = extract(clip, tmp_path / "ref", options)
    # The clip also shows an audience member in close-up: those faces must go.
    assert summary.faces >= 100 and summary.rejected_by_identity >= 20
    reference = IdentityFilter.from_photos([photo], AnalyzeOptions(detector=options.detector), 0.6)
    kept = [read_meta(p).embedding for p in sorted((tmp_path / "ref").glob("*.jpg"))]
    assert len(kept) == summary.faces
    assert max(reference.distance(e) for e in kept) <= 0.6
    centre = np.mean(kept, axis=0)
    # One identity: every kept face is within dlib's same-person distance of the group's mean.
    assert max(float(np.linalg.norm(e - centre)) for e in kept) < 0.6


# Clearly visible faces per photo (faces cut off by the frame edge or hidden behind hands not counted).
MULTI_FACE_MINIMUM = {
    "deepface_couple.jpg": 2,
    "deepface_selfie-many-people.jpg": 5,
    "facerecognition_kit_with_rose.jpg": 2,
    "facerecognition_obama_and_biden.jpg": 2,
    "facerecognition_two_people.jpg": 2,
    "insightface_t1.jpg": 6,
    "mmpose_wflw_7_Cheering_Cheering_7_16.jpg": 15,
}


def test_multi_face_photos_find_every_clearly_visible_face(shared_data: Path) -> None:
    analyzer = FrameAnalyzer(AnalyzeOptions(detector="mtcnn", min_face_size=20))
    found = {p.name: len(analyzer.analyze(read_image(p))) for p in list_images(shared_data / "photos" / "multi_face")}
    assert set(found) == set(MULTI_FACE_MINIMUM)
    missing = {name: (found[name], need) for name, need in MULTI_FACE_MINIMUM.items() if found[name] < need}
    assert not missing, missing
