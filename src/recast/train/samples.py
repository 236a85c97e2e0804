"""Training-sample augmentation: one aligned face in, (warped input, target, masks) out.

Pure NumPy/OpenCV functions. Images are ``(H, W, 3)`` BGR — uint8 on input, float32 in [0, 1] on
output; masks are ``(H, W)`` float32 in [0, 1]. Per sample (DeepFaceLab's recipe):

1. crop to the model's face type and resolution (re-cropping through the landmarks when the
   faceset's face type is wider), composed with one random affine (rotation, scale, shift, flip) so
   every output is resampled once;
2. target image: that warp (cubic, replicate border); full mask: the XSeg mask when the face has one,
   else the landmark hull; eyes+mouth mask from the warped landmarks, normalised to max 1;
3. colour transfer of the target toward a reference face (``ct_mode``, src only);
4. warped input: the target through a random grid warp (when ``random_warp``), then random HSV.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np

from recast.faces.alignment import transform_points
from recast.faces.crop import crop_matrix
from recast.faces.facetype import FaceType
from recast.faces.masks import eyes_mouth_mask, hull_mask


@dataclass(frozen=True)
class SampleSpec:
    """How to turn one face into a training sample.

    resolution / face_type: the model's. random_warp: grid-warp the input. random_flip: mirror with
    probability 0.4. rotation_deg, scale, shift: affine ranges (±10°, [1/1.15, 1.15], ±5 %);
    ``transform=False`` disables the affine entirely. hsv_power: random HSV jitter of the input (0 = off).
    """

    resolution: int
    face_type: FaceType
    random_warp: bool = True
    random_flip: bool = False
    rotation_deg: float = 10.0
    scale: float = 0.15
    shift: float = 0.05
    hsv_power: float = 0.0
    transform: bool = True
    eyes_mouth: bool = True


@dataclass
class Sample:
    """warped / target: (R, R, 3) float32 BGR in [0, 1]; mask / em: (R, R) float32 in [0, 1]."""

    warped: np.ndarray
    target: np.ndarray
    mask: np.ndarray
    em: np.ndarray


def _as3x3(mat: np.ndarray) -> np.ndarray:
    return np.vstack([mat, [0.0, 0.0, 1.0]])


def random_affine(rng: np.random.Generator, spec: SampleSpec) -> np.ndarray:
    """(2, 3) random rotation/scale/shift (and flip with probability 0.4) about the crop centre."""
    res = spec.resolution
    centre = (res / 2.0, res / 2.0)
    if not spec.transform:
        mat: np.ndarray = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    else:
        angle = rng.uniform(-spec.rotation_deg, spec.rotation_deg)
        scale = rng.uniform(1 / (1 + spec.scale), 1 + spec.scale)
        mat = cast(np.ndarray, cv2.getRotationMatrix2D(centre, angle, scale))
        mat[:, 2] += rng.uniform(-spec.shift, spec.shift, size=2) * res
    if spec.random_flip and rng.random() < 0.4:
        mat = _as3x3(mat) @ np.array([[-1.0, 0.0, res], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        mat = mat[:2]
    return mat


def grid_warp_maps(rng: np.random.Generator, res: int) -> tuple[np.ndarray, np.ndarray]:
    """Random smooth warp: a (res/cell + 1)² control grid, interior points moved ±0.24·cell.

    Returns (map_x, map_y), each (res, res) float32, for ``cv2.remap``.
    """
    cells = int(rng.choice([2, 4, 8]))
    cell = res / cells
    grid = np.linspace(0, res, cells + 1, dtype=np.float32)
    map_x: np.ndarray = np.broadcast_to(grid, (cells + 1, cells + 1)).copy()
    map_y: np.ndarray = map_x.T.copy()
    jitter = np.clip(rng.normal(size=(2, cells - 1, cells - 1)), -2.5, 2.5) / 2.5 * 0.24 * cell
    map_x[1:-1, 1:-1] += jitter[0].astype(np.float32)
    map_y[1:-1, 1:-1] += jitter[1].astype(np.float32)
    big = int(res + cell)
    half = int(cell / 2)
    map_x = cv2.resize(map_x, (big, big), interpolation=cv2.INTER_LINEAR)[half:half + res, half:half + res]
    map_y = cv2.resize(map_y, (big, big), interpolation=cv2.INTER_LINEAR)[half:half + res, half:half + res]
    return np.ascontiguousarray(map_x), np.ascontiguousarray(map_y)


def random_hsv(image: np.ndarray, rng: np.random.Generator, power: float) -> np.ndarray:
    """Shift hue by up to ±180·power degrees and S, V by up to ±power/2; float32 BGR in [0, 1]."""
    if power <= 0:
        return image
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    span = max(1, int(180 * power))
    h, s, v = cv2.split(hsv)
    h = (h + np.float32(rng.integers(-span, span + 1))) % np.float32(360)
    s = np.clip(s + np.float32(rng.uniform(-power / 2, power / 2)), 0, 1)
    v = np.clip(v + np.float32(rng.uniform(-power / 2, power / 2)), 0, 1)
    return np.clip(cv2.cvtColor(cv2.merge([h, s, v]), cv2.COLOR_HSV2BGR), 0, 1)


def crop_face(image: np.ndarray, landmarks: np.ndarray, image_face_type: FaceType, resolution: int,
              face_type: FaceType) -> np.ndarray:
    """Plain (unaugmented) model crop of an aligned face, float32 BGR in [0, 1]."""
    mat = crop_matrix(landmarks, image.shape[1], image_face_type, resolution, face_type)
    out = cv2.warpAffine(image, mat, (resolution, resolution), flags=cv2.INTER_CUBIC,
                         borderMode=cv2.BORDER_REPLICATE)
    return out.astype(np.float32) / 255.0


def make_sample(
    image: np.ndarray, landmarks: np.ndarray, xseg_mask: np.ndarray | None, image_face_type: FaceType,
    spec: SampleSpec, rng: np.random.Generator,
    color_transfer: Callable[..., np.ndarray] | None = None, reference: np.ndarray | None = None,
) -> Sample:
    """Augment one aligned face (uint8 BGR (S, S, 3), (68, 2) landmarks in its pixels).

    ``color_transfer(target, reference, rng)`` recolours the target toward ``reference``
    ((R, R, 3) float32) when both are given.
    """
    res = spec.resolution
    crop = crop_matrix(landmarks, image.shape[1], image_face_type, res, spec.face_type)
    mat = (_as3x3(random_affine(rng, spec)) @ _as3x3(crop))[:2]
    target = cv2.warpAffine(image, mat, (res, res), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    target = target.astype(np.float32) * np.float32(1 / 255)
    points = transform_points(np.asarray(landmarks, dtype=np.float64), mat)
    if xseg_mask is not None:
        to_image = image.shape[1] / xseg_mask.shape[1]
        mask_mat = (_as3x3(mat) @ np.diag([to_image, to_image, 1.0]))[:2]
        mask = cv2.warpAffine(xseg_mask.astype(np.float32), mask_mat, (res, res), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        mask = np.clip(mask, 0, 1)
    else:
        mask = hull_mask(points, (res, res))
    if spec.eyes_mouth:
        em = eyes_mouth_mask(points, (res, res)) * (mask > 0.5)
        em = em / max(float(em.max()), 1e-6)
    else:
        em = np.zeros((res, res), np.float32)
    if color_transfer is not None and reference is not None:
        target = color_transfer(target, reference, rng)
    if spec.random_warp:
        map_x, map_y = grid_warp_maps(rng, res)
        warped = cv2.remap(target, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        warped = np.clip(warped, 0, 1)
    else:
        warped = target.copy()
    warped = random_hsv(warped, rng, spec.hsv_power)
    return Sample(warped.astype(np.float32), target.astype(np.float32), mask.astype(np.float32),
                  em.astype(np.float32))
