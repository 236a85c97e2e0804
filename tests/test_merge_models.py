"""Deterministic face-swap models for the merge tests (imported by test_merge_*.py).

They are not mocks of recast's merger: the merger's own crop, mask, colour, warp and blend code
runs on their output exactly as it does on a trained network's.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from recast.faces.alignment import MEAN_FACE_68
from recast.faces.facetype import FaceType


class FunctionModel:
    """Applies ``function`` to the ``(N, R, R, 3)`` crops; learned masks are an ellipse on the face."""

    def __init__(
        self,
        function: Callable[[np.ndarray], np.ndarray],
        resolution: int = 128,
        face_type: FaceType = FaceType.WHOLE,
        has_learned_mask: bool = True,
    ) -> None:
        self.function = function
        self.resolution = resolution
        self.face_type = face_type
        self.has_learned_mask = has_learned_mask
        self.is_amp = False
        self.calls: list[int] = []
        self.mask_requests: list[bool] = []
        mask = np.zeros((resolution, resolution), np.float32)
        centre, axes = (resolution // 2, int(resolution * 0.55)), (int(resolution * 0.3), int(resolution * 0.36))
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1)
        self.mask = cv2.GaussianBlur(mask, (0, 0), resolution / 64)

    def swap(
        self, faces: np.ndarray, morph: float = 1.0, masks: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        self.calls.append(len(faces))
        self.mask_requests.append(masks)
        out = np.clip(self.function(np.asarray(faces, np.float32)), 0.0, 1.0).astype(np.float32)
        if not masks:  # like FaceSwapper: the mask decoders are skipped
            return out, None, None
        learned = np.repeat(self.mask[None], len(faces), axis=0)
        return out, learned, learned


def identity(faces: np.ndarray) -> np.ndarray:
    return faces


def invert(faces: np.ndarray) -> np.ndarray:
    return 1.0 - faces


def mirror(faces: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(faces[:, :, ::-1])


def face_landmarks(centre: tuple[float, float], width: float, angle_deg: float = 0.0) -> np.ndarray:
    """``(68, 2)`` landmarks of the mean face, ``width`` px between the brow ends, rotated."""
    angle = np.deg2rad(angle_deg)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (MEAN_FACE_68 - 0.5) @ rotation.T * width + np.asarray(centre, np.float64)


def test_function_model_has_the_swap_model_interface():
    model = FunctionModel(invert, resolution=32)
    faces = np.full((2, 32, 32, 3), 0.25, np.float32)
    out, prd, dst = model.swap(faces)
    assert out.shape == faces.shape and np.allclose(out, 0.75)
    assert prd.shape == dst.shape == (2, 32, 32) and 0.9 < prd.max() <= 1.0
    assert model.calls == [2]
