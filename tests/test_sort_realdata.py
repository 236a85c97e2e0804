"""Every sort method, clustering and identity sort on real faces from ../shared/data.

One session fixture detects the 63 identity photos once (dlib HOG + 68 landmarks + embedding,
~12 s) and writes ``whole`` 256 px aligned faces named ``<label>__<photo>_0.jpg``; each test
sorts its own copy and checks the order against the method's definition, computed here
independently with OpenCV.
"""

from __future__ import annotations

import itertools
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from recast.faces.aligned import read_face, read_meta, write_face
from recast.faces.facetype import FaceType
from recast.faces.masks import hull_mask
from recast.faces.pose import estimate_pose
from recast.faceset.files import list_faces, natural_key
from recast.faceset.identity import cluster_faceset
from recast.faceset.sort import restore, sort_faceset

pytestmark = pytest.mark.realdata
SIZE = 256


def _extract_identities(photos: Path, out: Path) -> None:
    """Run the real extraction stage over every identity photo (linked into one folder as
    ``<label>__<photo>``), one face per photo, storing embeddings."""
    from recast.extract.stage import ExtractOptions, extract

    flat = out.parent / "photos"
    flat.mkdir()
    for photo in sorted(p for p in photos.rglob("*") if p.is_file()):
        (flat / f"{photo.parent.name}__{photo.name}").symlink_to(photo)
    options = ExtractOptions(face_type=FaceType.WHOLE, size=SIZE, embed=True, max_faces=1, workers=1)
    extract(flat, out, options)


@pytest.fixture(scope="session")
def identity_faces(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of aligned faces of every photo in photos/identities (built once per session)."""
    out = tmp_path_factory.mktemp("identities") / "aligned"
    _extract_identities(shared_data / "photos" / "identities", out)
    assert len(list_faces(out)) >= 60
    return out


@pytest.fixture
def faces(identity_faces: Path, tmp_path: Path) -> Path:
    """A private copy of the identity faceset."""
    target = tmp_path / "aligned"
    shutil.copytree(identity_faces, target)
    return target


def _label(name: str) -> str:
    return name.split("__")[0].split("_", 1)[1] if name[:5].isdigit() else name.split("__")[0]


def _add_variant(folder: Path, name: str, new_name: str, change) -> None:  # type: ignore[no-untyped-def]
    face = read_face(folder / name)
    write_face(folder / new_name, change(face.image), face.meta)


def _ordered(folder: Path) -> list[Path]:
    return list_faces(folder)


def _nonincreasing(values: list[float], tol: float = 1e-6) -> bool:
    return all(b <= a + tol for a, b in itertools.pairwise(values))


def test_blur_puts_blurred_copy_last(faces: Path) -> None:
    _add_variant(faces, "obama__obama_0.jpg", "zz_blurred_0.jpg", lambda im: cv2.GaussianBlur(im, (0, 0), 4))
    result = sort_faceset(faces, "blur")
    names = [p.name for p in _ordered(faces)]
    assert names[-1].endswith("zz_blurred_0.jpg") or "zz_blurred_0.jpg" in result.trashed
    assert _nonincreasing([result.scores[n] for n in result.kept])


def test_motion_blur_puts_smeared_copy_last(faces: Path) -> None:
    kernel = np.zeros((1, 21), np.float32)
    kernel[0, :] = 1 / 21
    _add_variant(faces, "obama__obama_0.jpg", "zz_motion_0.jpg", lambda im: cv2.filter2D(im, -1, kernel))
    result = sort_faceset(faces, "motion-blur")
    rank = {n.split("_", 1)[1]: i for i, n in enumerate(result.kept)}
    assert rank["zz_motion_0.jpg"] >= 0.9 * len(rank)  # among the last tenth, far below its original
    assert rank["zz_motion_0.jpg"] - rank["obama__obama_0.jpg"] > len(rank) // 2
    assert _nonincreasing([result.scores[n] for n in result.kept])


@pytest.mark.parametrize("method, index", [("yaw", 1), ("pitch", 0)])
def test_yaw_and_pitch_are_monotonic_in_estimated_pose(faces: Path, method: str, index: int) -> None:
    sort_faceset(faces, method)
    angles = [estimate_pose(read_meta(p).landmarks, (SIZE, SIZE))[index] for p in _ordered(faces)]
    assert _nonincreasing(angles)
    assert angles[0] - angles[-1] > 0.3  # real spread


def test_roll_follows_crop_rotation_and_eye_line(faces: Path) -> None:
    sort_faceset(faces, "roll")
    metas = [read_meta(p) for p in _ordered(faces)]
    crop = [-math.atan2(m.image_to_face_mat[1, 0], m.image_to_face_mat[0, 0]) for m in metas]
    assert _nonincreasing(crop)
    eyes = []
    for m in metas:
        left, right = m.source_landmarks[36:42].mean(axis=0), m.source_landmarks[42:48].mean(axis=0)
        eyes.append(math.atan2(right[1] - left[1], right[0] - left[0]))
    rank_corr = np.corrcoef(np.argsort(np.argsort(crop)), np.argsort(np.argsort(eyes)))[0, 1]
    assert rank_corr > 0.9


def test_size_sorts_by_source_rect_area(faces: Path) -> None:
    sort_faceset(faces, "size")
    areas = [(r[2] - r[0]) * (r[3] - r[1]) for r in (read_meta(p).source_rect for p in _ordered(faces))]
    assert _nonincreasing(areas)


def _color_hist(path: Path) -> list[np.ndarray]:
    image = cv2.imread(str(path), cv2.IMREAD_REDUCED_COLOR_2)
    return [cv2.calcHist([image], [c], None, [256], [0, 256]) for c in range(3)]


def test_hist_is_a_greedy_nearest_neighbour_chain(faces: Path) -> None:
    sort_faceset(faces, "hist")
    hists = [_color_hist(p) for p in _ordered(faces)]

    def dist(a: int, b: int) -> float:
        return sum(cv2.compareHist(hists[a][c], hists[b][c], cv2.HISTCMP_BHATTACHARYYA) for c in range(3))

    for i in range(len(hists) - 2):
        chosen = dist(i, i + 1)
        assert all(chosen <= dist(i, j) + 1e-3 for j in range(i + 2, len(hists)))


def test_hist_dissim_most_unusual_first(faces: Path) -> None:
    sort_faceset(faces, "hist-dissim")
    hists = []
    for path in _ordered(faces):
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)  # the JPEG's own luma, as the sorter decodes it
        mask = (hull_mask(read_meta(path).landmarks, gray.shape) > 0.5).astype(np.uint8)
        hists.append(cv2.calcHist([gray], [0], mask, [256], [0, 256]))
    totals = [sum(cv2.compareHist(h, o, cv2.HISTCMP_BHATTACHARYYA) for o in hists) for h in hists]
    assert _nonincreasing(totals, tol=1e-3)


@pytest.mark.parametrize("method, channel", [("brightness", 2), ("hue", 0)])
def test_brightness_and_hue_descend(faces: Path, method: str, channel: int) -> None:
    sort_faceset(faces, method)
    means = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2HSV)[..., channel].mean() for p in _ordered(faces)]
    assert _nonincreasing(means)


def test_black_puts_face_with_black_border_last(faces: Path) -> None:
    def border(image: np.ndarray) -> np.ndarray:
        out = image.copy()
        out[:, :60] = 0
        return out

    _add_variant(faces, "obama__obama_0.jpg", "zz_black_0.jpg", border)
    sort_faceset(faces, "black")
    ordered = _ordered(faces)
    counts = [int((cv2.imread(str(p)) == 0).sum()) for p in ordered]
    assert ordered[-1].name.endswith("zz_black_0.jpg")
    assert counts == sorted(counts)


def test_origname_orders_by_source_frame(faces: Path) -> None:
    sort_faceset(faces, "yaw")
    sort_faceset(faces, "origname")
    sources = [read_meta(p).source_filename for p in _ordered(faces)]
    assert sources == sorted(sources, key=natural_key)


def test_oneface_trashes_frames_with_several_faces(faces: Path) -> None:
    face = read_face(faces / "biden__biden_0.jpg")
    write_face(faces / "biden__biden_1.jpg", cv2.flip(face.image, 1), face.meta)
    before = len(list_faces(faces))
    result = sort_faceset(faces, "oneface")
    assert sorted(result.trashed) == ["biden__biden_0.jpg", "biden__biden_1.jpg"]
    assert len(result.kept) == before - 2
    assert sorted(p.name for p in (faces.parent / "aligned_trash").iterdir()) == sorted(result.trashed)


def test_absdiff_similar_and_dissimilar_chains(faces: Path) -> None:
    _add_variant(faces, "obama__obama_0.jpg", "zz_brighter_0.jpg", lambda im: cv2.add(im, 3))
    for method, farthest in (("absdiff", False), ("absdiff-dissim", True)):
        sort_faceset(faces, method)
        thumbs = [cv2.resize(cv2.imread(str(p)), (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
                  for p in _ordered(faces)]
        for i in range(len(thumbs) - 2):
            step = np.abs(thumbs[i] - thumbs[i + 1]).sum()
            rest = [np.abs(thumbs[i] - thumbs[j]).sum() for j in range(i + 2, len(thumbs))]
            assert (step >= max(rest) - 1e-2) if farthest else (step <= min(rest) + 1e-2)
        if not farthest:
            names = [p.name for p in _ordered(faces)]
            a = next(i for i, n in enumerate(names) if n.endswith("obama__obama_0.jpg"))
            b = next(i for i, n in enumerate(names) if n.endswith("zz_brighter_0.jpg"))
            assert abs(a - b) <= 2  # (obama_small.jpg is the same photo, so it may sit between them)


def test_best_keeps_target_sharp_faces_and_trashes_the_rest(faces: Path) -> None:
    originals = [p.name for p in list_faces(faces)]
    for name in originals[:10]:
        _add_variant(faces, name, f"zz_blur_{name}", lambda im: cv2.GaussianBlur(im, (0, 0), 4))
    total = len(list_faces(faces))
    result = sort_faceset(faces, "best", target=5, yaw_bins=1)
    assert len(result.kept) == 5 and len(result.trashed) == total - 5
    assert not any("zz_blur_" in n for n in result.kept)  # only the 50 sharpest were candidates
    restore(faces)
    result = sort_faceset(faces, "best", target=30)
    assert len(result.kept) == 30 and len(list_faces(faces)) == 30
    assert len(list((faces.parent / "aligned_trash").iterdir())) == total - 30


def test_best_fast_uses_source_rect_size(faces: Path) -> None:
    metas = {p.name: read_meta(p) for p in list_faces(faces)}
    area = {n: (m.source_rect[2] - m.source_rect[0]) * (m.source_rect[3] - m.source_rect[1]) for n, m in metas.items()}
    smallest = sorted(area, key=area.get)[: len(area) - 50]
    result = sort_faceset(faces, "best-fast", target=5, yaw_bins=1)
    assert len(result.kept) == 5
    assert not set(smallest) & {n.split("_", 1)[1] for n in result.kept}


def test_face_sort_by_reference_photos(faces: Path, shared_data: Path) -> None:
    refs = sorted((shared_data / "photos" / "identities" / "obama").iterdir())[:2]
    result = sort_faceset(faces, "face", references=refs, max_distance=0.6)
    kept_labels = [_label(n) for n in result.kept]
    assert kept_labels[:5] == ["obama"] * 5
    assert set(kept_labels) == {"obama"}
    assert _nonincreasing([-result.scores[n] for n in result.kept])


def test_face_sort_main_identity_first(faces: Path) -> None:
    result = sort_faceset(faces, "face")
    labels = [_label(n) for n in result.kept]
    assert labels[:9] == ["df_01"] * 9  # df_01 has the most photos (10)


def cluster_scores(groups: dict[str, list[str]]) -> tuple[float, dict[str, int]]:
    """Purity (share of faces in their group's majority identity) and, per identity, how many groups hold it."""
    majority = sum(max(_count(names).values()) for names in groups.values())
    total = sum(len(names) for names in groups.values())
    spread: dict[str, int] = {}
    for names in groups.values():
        for label in _count(names):
            spread[label] = spread.get(label, 0) + 1
    return majority / total, spread


def _count(names: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in names:
        out[_label(name)] = out.get(_label(name), 0) + 1
    return out


def test_cluster_groups_identities(faces: Path) -> None:
    before = {p.name: p.read_bytes() for p in list_faces(faces)}
    result = cluster_faceset(faces, min_group=1)
    by_label = {}
    for group, names in result.groups.items():
        assert sorted(p.name for p in (faces / group).iterdir()) == sorted(names)
    purity, spread = cluster_scores(result.groups)
    for name in before:
        by_label.setdefault(_label(name), []).append(name)
    print(f"cluster purity {purity:.3f}, groups {len(result.groups)}, identities {len(by_label)}")
    assert purity >= 0.95
    for label, names in by_label.items():
        if len(names) >= 3:
            assert spread[label] == 1, f"{label} split over {spread[label]} groups"
    restore(faces)
    assert {p.name: p.read_bytes() for p in list_faces(faces)} == before
