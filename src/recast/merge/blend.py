"""The per-face merge pipeline: cut the destination face out, put the predicted face back.

Frames are ``(H, W, 3)`` uint8 BGR; crops, predictions and patches are float32 BGR in [0, 1];
masks ``(h, w)`` float32 in [0, 1]. Only the frame region under the face is converted,
warped and blended, so the cost per face does not grow with the frame size.

Typical use (what :func:`merge_face` does)::

    crop = crop_face(frame, landmarks, model.resolution, model.face_type)
    face, prd_mask, dst_mask = model.swap(crop.image[None])
    prediction = Prediction(face[0], prd_mask[0], dst_mask[0])
    out, mask, _ = merge_frame(frame, [(crop, prediction, None)], settings)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from recast.color import transfer_color
from recast.faces.alignment import invert_affine, transform_matrix, transform_points
from recast.faces.facetype import FaceType
from recast.faces.masks import hull_mask
from recast.merge import effects
from recast.merge.maskops import (
    MASK_FLOOR,
    binarize_for_clone,
    dfl_pixels,
    erode_blur,
    needs_learned_mask,
    select_mask,
)
from recast.merge.settings import MergeSettings
from recast.models.swapmodel import SwapModel


@dataclass
class FaceCrop:
    """A destination face cut out of a frame.

    Attributes:
        image: ``(R, R, 3)`` float32 BGR [0, 1], the model's input.
        landmarks: ``(68, 2)`` landmarks in frame pixels.
        face_mat: ``(2, 3)`` frame → crop matrix.
    """

    image: np.ndarray
    landmarks: np.ndarray
    face_mat: np.ndarray


@dataclass
class Prediction:
    """A model's output for one crop: ``face (R, R, 3)``, learned masks ``(R, R)`` (or None), and the
    XSeg masks of the predicted and the destination face ``(R, R)`` when a mask mode asks for them."""

    face: np.ndarray
    prd_mask: np.ndarray | None = None
    dst_mask: np.ndarray | None = None
    xseg_prd: np.ndarray | None = None
    xseg_dst: np.ndarray | None = None


@dataclass
class FacePatch:
    """One merged face, as an axis-aligned region of the frame.

    Attributes:
        x, y: top-left corner of the region in the frame.
        image: ``(h, w, 3)`` float32 BGR, the frame region with this face merged in.
        layer: ``(h, w, 3)`` float32 BGR, the face layer (colour-corrected, post-processed) that
            was blended into the region with ``alpha``; for compositing in other tools.
        alpha: ``(h, w)`` float32 face mask of the region.
        face: ``(R, R, 3)`` float32 BGR predicted face after colour transfer (crop space).
        face_alpha: ``(R, R)`` float32 processed mask (crop space).
        crop_to_frame: ``(2, 3)`` float64 matrix from crop pixels to frame pixels.
    """

    x: int
    y: int
    image: np.ndarray
    layer: np.ndarray
    alpha: np.ndarray
    face: np.ndarray
    face_alpha: np.ndarray
    crop_to_frame: np.ndarray


def crop_face(frame: np.ndarray, landmarks: np.ndarray, resolution: int, face_type: FaceType) -> FaceCrop:
    """Cut the face with ``landmarks (68, 2)`` out of ``frame`` (uint8 BGR) as the model sees it."""
    mat = transform_matrix(landmarks, resolution, face_type)
    image = cv2.warpAffine(
        frame, mat, (resolution, resolution), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    return FaceCrop(_to_float(image), np.asarray(landmarks, np.float64), mat)


def composite_face(
    base: np.ndarray,
    crop: FaceCrop,
    prediction: Prediction,
    settings: MergeSettings,
    motion: tuple[float, float] | None = None,
) -> FacePatch | None:
    """Blend one predicted face into ``base`` (uint8 BGR frame); the frame is not modified.

    Args:
        base: the frame to paste into (possibly already holding other merged faces).
        crop: the destination crop the prediction was made from.
        prediction: the model's output for ``crop``.
        settings: merge settings (mode, mask, colour, erode/blur, post effects).
        motion: the face's motion ``(dx, dy)`` in frame pixels between the previous and the
            next frame, for motion blur; None disables it.

    Returns:
        The merged region, or None when the face is outside the frame or its mask is empty.
    """
    face = np.asarray(prediction.face, np.float32)
    res = face.shape[0]
    scale = 1.0 + 0.01 * settings.output_face_scale
    to_frame = invert_affine(_zoom(crop.face_mat, scale, res))
    side = res * math.sqrt(abs(np.linalg.det(to_frame[:, :2])))
    mask_side = int(np.clip(round(side), 32, 4 * res))

    mask = _face_mask(settings.mask_mode, crop, prediction, mask_side, res)
    small_mask = cv2.resize(mask, (res, res), interpolation=cv2.INTER_AREA) if mask_side != res else mask
    if not settings.is_raw:
        mask = erode_blur(
            mask, dfl_pixels(settings.erode, mask_side, res), dfl_pixels(settings.blur, mask_side, res)
        )
    if settings.mode in ("overlay", "hist-match"):
        face = transfer_color(settings.color, face, crop.image, small_mask)
    if settings.mode == "hist-match":
        face = effects.hist_match(
            face, crop.image, small_mask if settings.masked_hist_match else None, settings.hist_match_threshold
        )

    box = _region(to_frame, res, base.shape)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    to_region = to_frame.copy()
    to_region[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    mask_to_region = _resampled(to_region, res / mask_side)
    alpha = cv2.warpAffine(mask, mask_to_region, size, flags=cv2.INTER_LINEAR, borderValue=0.0)
    alpha = np.clip(alpha, 0.0, 1.0)
    alpha[alpha < MASK_FLOOR] = 0.0
    if not _big_enough(alpha):
        return None
    layer = cv2.warpAffine(face, to_region, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    region_u8 = base[y0:y1, x0:x1]
    region = _to_float(region_u8)
    image, layer = _overlay(settings, region, region_u8, layer, alpha, to_region, res)
    image, layer = _post_effects(settings, region, image, layer, alpha, motion)
    face_alpha = cv2.resize(mask, (res, res), interpolation=cv2.INTER_AREA) if mask_side != res else mask
    return FacePatch(x0, y0, image, layer, alpha, face, face_alpha, to_frame)


def merge_frame(
    frame: np.ndarray,
    faces: Sequence[tuple[FaceCrop, Prediction, tuple[float, float] | None]],
    settings: MergeSettings,
) -> tuple[np.ndarray, np.ndarray, list[FacePatch]]:
    """Merge every face of one frame, one after the other.

    Args:
        frame: ``(H, W, 3)`` uint8 BGR destination frame (not modified).
        faces: ``(crop, prediction, motion)`` per face (see :func:`composite_face`).
        settings: merge settings for this frame.

    Returns:
        ``(merged (H, W, 3) uint8, mask (H, W) float32, patches)``. A frame without faces, or in
        ``original`` / ``raw-predict`` mode, comes back unchanged (the mask still shows the faces).
    """
    if not faces:
        return frame.copy(), np.zeros(frame.shape[:2], np.float32), []
    keep_frame = settings.mode in ("original", "raw-predict")
    out = frame.copy() if keep_frame else _degrade_background(frame, settings)
    mask = np.zeros(frame.shape[:2], np.float32)
    patches = []
    for crop, prediction, motion in faces:
        patch = composite_face(out, crop, prediction, settings, motion)
        if patch is None:
            continue
        height, width = patch.alpha.shape
        region = (slice(patch.y, patch.y + height), slice(patch.x, patch.x + width))
        if not keep_frame:
            out[region] = _to_uint8(patch.image)
        np.maximum(mask[region], patch.alpha, out=mask[region])
        patches.append(patch)
    if settings.color_degrade > 0 and not keep_frame:
        out = _to_uint8(effects.color_degrade(_to_float(out), settings.color_degrade))
    return out, mask, patches


def merge_face(
    frame: np.ndarray,
    landmarks: np.ndarray,
    model: SwapModel,
    settings: MergeSettings,
    motion: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Swap the face with ``landmarks (68, 2)`` in ``frame`` (uint8 BGR) using ``model``.

    Returns ``(merged frame (H, W, 3) uint8, mask (H, W) float32)``.
    """
    crop = crop_face(frame, landmarks, model.resolution, model.face_type)
    prediction = predict(model, [crop], settings.morph, needs_learned_mask(settings.mask_mode))[0]
    out, mask, _ = merge_frame(frame, [(crop, prediction, motion)], settings)
    return out, mask


def predict(model: SwapModel, crops: Sequence[FaceCrop], morph: float = 1.0, masks: bool = True) -> list[Prediction]:
    """Run ``model`` on a batch of crops; returns one :class:`Prediction` per crop.

    ``masks=False``: the learned masks are not needed (a ``full`` or ``dst`` mask mode), so the
    model may skip computing them.
    """
    if not crops:
        return []
    faces, prd, dst = model.swap(np.stack([crop.image for crop in crops]), morph=morph, masks=masks)
    return [
        Prediction(
            np.asarray(faces[i], np.float32),
            None if prd is None else np.asarray(prd[i], np.float32),
            None if dst is None else np.asarray(dst[i], np.float32),
        )
        for i in range(len(crops))
    ]


def face_center(landmarks: np.ndarray) -> np.ndarray:
    """Centre of the face's ``full`` crop in frame pixels, ``(2,)`` float64 (for motion blur)."""
    mat = transform_matrix(landmarks, 256, FaceType.FULL)
    return transform_points(np.array([[128.0, 128.0]]), mat, invert=True)[0]


def _face_mask(mode: str, crop: FaceCrop, prediction: Prediction, side: int, res: int) -> np.ndarray:
    hull = None
    if mode == "dst":
        points = (transform_points(crop.landmarks, crop.face_mat) + 0.5) * (side / res) - 0.5
        hull = hull_mask(points, (side, side))
    return select_mask(mode, (side, side), prediction.prd_mask, prediction.dst_mask, hull, prediction.xseg_prd,
                       prediction.xseg_dst)


def _overlay(
    settings: MergeSettings,
    region: np.ndarray,
    region_u8: np.ndarray,
    layer: np.ndarray,
    alpha: np.ndarray,
    to_region: np.ndarray,
    res: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``(merged region, face layer)`` for the overlay mode."""
    mode = settings.mode
    if mode in ("original", "raw-predict"):
        return region, layer
    if mode == "raw-rgb":
        square = cv2.warpAffine(np.ones((res, res), np.float32), to_region, alpha.shape[::-1], borderValue=0.0)
        return _blend(region, layer, square), layer
    if mode.startswith("seamless"):
        cloned = _seamless_clone(layer, region_u8, alpha)
        if cloned is not None:
            layer = cloned
        image = _blend(region, layer, alpha)
        if settings.color != "none":
            image = _blend(image, transfer_color(settings.color, image, region, alpha), alpha)
        if mode == "seamless-hist-match":
            hist_mask = alpha if settings.masked_hist_match else None
            matched = effects.hist_match(image, region, hist_mask, settings.hist_match_threshold)
            image = _blend(image, matched, alpha)
        return image, layer
    return _blend(region, layer, alpha), layer


def _post_effects(
    settings: MergeSettings,
    region: np.ndarray,
    image: np.ndarray,
    layer: np.ndarray,
    alpha: np.ndarray,
    motion: tuple[float, float] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Motion blur and sharpen/blur of the merged face, applied inside the mask."""
    if settings.mode in ("original", "raw-predict", "raw-rgb"):
        return image, layer
    post = image
    if settings.motion_blur > 0 and motion is not None:
        post = effects.motion_blur(post, motion[0], motion[1], settings.motion_blur)
    if settings.sharpen_mode != "none" and settings.sharpen_amount != 0:
        post = effects.sharpen(post, settings.sharpen_mode, settings.sharpen_amount)
    if post is image:
        return image, layer
    return _blend(image, post, alpha), post


def _seamless_clone(layer: np.ndarray, region_u8: np.ndarray, alpha: np.ndarray) -> np.ndarray | None:
    """Poisson-blend ``layer`` into the region (OpenCV NORMAL_CLONE); None if it cannot run."""
    binary = binarize_for_clone(alpha)
    if binary is None:
        return None
    x, y, width, height = cv2.boundingRect(binary)
    centre = (x + width // 2, y + height // 2)
    try:
        cloned = cv2.seamlessClone(_to_uint8(layer), np.ascontiguousarray(region_u8), binary, centre, cv2.NORMAL_CLONE)
    except cv2.error:
        return None
    return _to_float(cloned)


def _degrade_background(frame: np.ndarray, settings: MergeSettings) -> np.ndarray:
    if settings.denoise <= 0 and settings.bicubic_degrade <= 0:
        return frame.copy()
    image = effects.denoise(_to_float(frame), settings.denoise)
    return _to_uint8(effects.bicubic_degrade(image, settings.bicubic_degrade))


def _zoom(mat: np.ndarray, scale: float, res: int) -> np.ndarray:
    """``mat`` followed by a zoom by ``scale`` about the crop centre."""
    if scale == 1.0:
        return np.asarray(mat, np.float64)
    out = np.asarray(mat, np.float64) * scale
    out[:, 2] += (1.0 - scale) * res / 2.0
    return out


def _resampled(mat: np.ndarray, step: float) -> np.ndarray:
    """``mat`` (from an image's pixels) for a resized copy whose pixels are ``step`` of the original's.

    Pixel centres sit at integer coordinates (OpenCV), so pixel ``i`` of the copy is at
    ``(i + 0.5) · step − 0.5`` in the original.
    """
    out = np.asarray(mat, np.float64).copy()
    out[:, 2] += out[:, :2] @ np.full(2, 0.5 * step - 0.5)
    out[:, :2] *= step
    return out


def _region(to_frame: np.ndarray, res: int, shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """Frame box ``(x0, y0, x1, y1)`` covering the crop square (2 px margin), clipped; None if empty."""
    corners = transform_points(np.array([[0, 0], [res, 0], [res, res], [0, res]], np.float64), to_frame)
    x0, y0 = np.floor(corners.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 2
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, shape[1]), min(y1, shape[0])
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    return int(x0), int(y0), int(x1), int(y1)


def _big_enough(alpha: np.ndarray) -> bool:
    """DeepFaceLab skips a face whose mask (≥ 0.1) spans fewer than 4 px in either direction."""
    rows, cols = np.any(alpha >= 0.1, axis=1), np.any(alpha >= 0.1, axis=0)
    if not rows.any():
        return False
    ys, xs = np.flatnonzero(rows), np.flatnonzero(cols)
    return ys[-1] - ys[0] + 1 >= 4 and xs[-1] - xs[0] + 1 >= 4


def _blend(under: np.ndarray, over: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return under + (over - under) * alpha[..., None]


def _to_float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) * np.float32(1.0 / 255.0)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
