"""MTCNN detector: real weights from the mtcnn package, real images, and a hostile weights file."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import joblib
import numpy as np
import pytest
from skimage import data

from recast.errors import InputError
from recast.extract.detectors import create_detector
from recast.extract.detectors.mtcnn import MtcnnDetector, load_keras_weights

# The astronaut's face (brow to chin, ear to ear) in skimage.data.astronaut(), checked by eye.
ASTRONAUT_FACE = (172.0, 58.0, 268.0, 182.0)


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def detector() -> MtcnnDetector:
    return MtcnnDetector()


def test_registry_builds_mtcnn() -> None:
    assert create_detector("mtcnn").name == "mtcnn"


def test_finds_the_astronaut(detector: MtcnnDetector) -> None:
    image = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    detections = detector.detect(image)
    assert len(detections) == 1
    face = detections[0]
    assert _iou(face.rect, ASTRONAUT_FACE) > 0.6
    assert face.score > 0.9
    points = face.keypoints
    assert points is not None and points.shape == (5, 2) and points.dtype == np.float32
    left, top, right, bottom = face.rect
    assert np.all((points[:, 0] > left) & (points[:, 0] < right))
    assert np.all((points[:, 1] > top) & (points[:, 1] < bottom))
    left_eye, right_eye, nose, left_mouth, right_mouth = points
    assert left_eye[0] < nose[0] < right_eye[0]
    assert left_mouth[0] < nose[0] < right_mouth[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1])


def test_no_face_images(detector: MtcnnDetector) -> None:
    assert detector.detect(np.ascontiguousarray(data.coffee()[:, :, ::-1])) == []
    assert detector.detect(np.full((240, 320, 3), 128, dtype=np.uint8)) == []
    assert detector.detect(np.zeros((8, 8, 3), dtype=np.uint8)) == []


def test_faces_sorted_by_area(detector: MtcnnDetector) -> None:
    face = np.ascontiguousarray(data.astronaut()[40:200, 150:290, ::-1])
    canvas = np.full((300, 500, 3), 200, dtype=np.uint8)
    canvas[20:180, 20:160] = face
    canvas[190:270, 300:370] = cv2.resize(face, (70, 80), interpolation=cv2.INTER_AREA)
    detections = detector.detect(canvas)
    assert len(detections) == 2
    assert detections[0].rect[0] < 160 < detections[1].rect[0]


class _RunsShell:
    """Unpickling this would run a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("compress", [0, "lz4"])
@pytest.mark.parametrize("as_object_array", [False, True])
def test_loader_refuses_hostile_pickle(tmp_path: Path, compress: object, as_object_array: bool) -> None:
    marker = tmp_path / "pwned"
    payload: object = _RunsShell(marker)
    if as_object_array:
        payload = np.array([payload], dtype=object)
    hostile = tmp_path / "pnet.lz4"
    joblib.dump([np.zeros((3, 3), np.float32), payload], hostile, compress=compress)
    with pytest.raises(InputError, match="refusing"):
        load_keras_weights(hostile)
    assert not marker.exists()


def test_loader_reads_plain_arrays(tmp_path: Path) -> None:
    path = tmp_path / "w.lz4"
    arrays = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(4, np.float32)]
    joblib.dump(arrays, path, compress="lz4")
    loaded = load_keras_weights(path)
    assert len(loaded) == 2 and all(np.array_equal(a, b) for a, b in zip(loaded, arrays, strict=True))


def _photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file())


@pytest.mark.realdata
@pytest.mark.parametrize("category", ["single_face", "pose_angle"])
def test_real_photos_with_faces(shared_data: Path, detector: MtcnnDetector, category: str) -> None:
    missed = []
    for path in _photos(shared_data / "photos" / category):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if not detector.detect(image):
            missed.append(path.name)
    assert missed == []


@pytest.mark.realdata
def test_real_photos_without_faces(shared_data: Path, detector: MtcnnDetector) -> None:
    false_positives = []
    for path in _photos(shared_data / "photos" / "no_face"):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # decodes by content (one .jpg is a PNG)
        if detector.detect(image):
            false_positives.append(path.name)
    assert false_positives == []
