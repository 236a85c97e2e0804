"""68-point landmarks (dlib's iBUG-68 shape predictor) and the 128-d identity embedding."""

from __future__ import annotations

import cv2
import dlib
import numpy as np

from recast.extract.model_files import dlib_model


def _rect(rect: tuple[float, float, float, float]) -> dlib.rectangle:
    left, top, right, bottom = (int(round(v)) for v in rect)
    return dlib.rectangle(left, top, right, bottom)


class DlibLandmarker:
    """dlib's 68-point shape predictor (~4 ms per face)."""

    name = "dlib-68"

    def __init__(self) -> None:
        self._predictor = dlib.shape_predictor(str(dlib_model("shape_predictor_68_face_landmarks.dat")))

    def landmarks(self, image_rgb: np.ndarray, rect: tuple[float, float, float, float]) -> np.ndarray:
        """``(68, 2)`` float32 landmarks of the face in ``rect`` of an ``(H, W, 3)`` uint8 RGB image."""
        shape = self._predictor(image_rgb, _rect(rect))
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)


class DlibEmbedder:
    """dlib's ResNet face descriptor: 128-d, same person when the distance is < ~0.6 (~110 ms per face)."""

    name = "dlib-resnet"
    same_person_distance = 0.6

    def __init__(self) -> None:
        self._model = dlib.face_recognition_model_v1(str(dlib_model("dlib_face_recognition_resnet_model_v1.dat")))
        self._predictor = dlib.shape_predictor(str(dlib_model("shape_predictor_68_face_landmarks.dat")))

    def embed(self, image_rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """``(128,)`` float32 embedding of the face with ``(68, 2)`` ``landmarks`` in an RGB image."""
        points = [dlib.point(int(round(x)), int(round(y))) for x, y in landmarks]
        left, top = np.min(landmarks, axis=0)
        right, bottom = np.max(landmarks, axis=0)
        shape = dlib.full_object_detection(_rect((left, top, right, bottom)), points)
        chip = dlib.get_face_chip(image_rgb, shape, size=150, padding=0.25)
        return np.asarray(self._model.compute_face_descriptor(chip), dtype=np.float32)


def to_rgb(image_bgr: np.ndarray) -> np.ndarray:
    """Contiguous RGB copy of an ``(H, W, 3)`` uint8 BGR image (what dlib expects)."""
    return np.ascontiguousarray(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
