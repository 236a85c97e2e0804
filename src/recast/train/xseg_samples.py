"""XSeg training samples: an aligned face and its mask in, an augmented (face, mask) pair at 256 px out.

Pure NumPy/OpenCV; faces ``(256, 256, 3)`` float32 BGR in [0, 1], masks ``(256, 256)`` float32 0/1.
The mask of a face is, in this order: its hand-drawn XSeg labels (:mod:`recast.faces.labels`);
else, when unlabelled faces take part (``unlabelled="hull"``), its landmark hull — the
"out of the box" mode, which needs no labels. Per sample (after DeepFaceLab's recipe, §10.2):

1. crop to the model's face type, composed with a random rotation (±10°), scale (±5 %), shift
   (±5 %) and flip (40 %), image and mask together; then a random grid warp (50 %);
2. background mix-in (30 %): outside the dilated face mask, blend in another face's view;
3. synthetic occluders (``occluder_prob``): :func:`recast.train.occluders.occlude`, whose known
   outlines are cut out of the mask;
4. colour and quality: random HSV or levels; blur, sharpen or down-up resize; JPEG recompression.

:class:`XSegDataset` serves samples by ``(face index, seed)`` keys, decoding faces only when asked,
so a torch ``DataLoader`` with worker processes can run it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from recast.errors import InputError, OptionError
from recast.faces.aligned import AlignedFace, read_face, read_meta
from recast.faces.crop import crop_matrix
from recast.faces.facetype import FaceType
from recast.faces.labels import labels_mask
from recast.faces.masks import hull_mask
from recast.media.images import decode_image, list_images, read_image
from recast.models.xseg_config import XSEG_RESOLUTION
from recast.train.occluders import occlude
from recast.train.samples import SampleSpec, grid_warp_maps, random_affine, random_hsv

MAX_DONOR_SIDE = 512
"""Occluder images are downscaled to at most this many pixels a side when read."""


@dataclass(frozen=True)
class XSegSampleSpec:
    """Augmentation of one sample. face_type: the model's. occluder_prob: chance of pasting
    occluders; max_occluders: most per sample. random_warp: grid warp half of the samples."""

    face_type: FaceType
    occluder_prob: float = 0.7
    max_occluders: int = 2
    random_warp: bool = True


def face_target(face: AlignedFace) -> np.ndarray | None:
    """The training mask of an aligned face in its own pixels ``(H, W)``: its labels drawn, else None."""
    if not face.meta.xseg_labels:
        return None
    return labels_mask(face.meta.xseg_labels, face.image.shape[:2])


def hull_target(face: AlignedFace) -> np.ndarray:
    """The landmark hull of an aligned face in its own pixels ``(H, W)`` (the no-label target)."""
    return hull_mask(face.meta.landmarks, face.image.shape[:2], face.meta.eyebrows_expand)


def make_xseg_sample(face: AlignedFace, target: np.ndarray, spec: XSegSampleSpec, rng: np.random.Generator,
                     donors: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Augment one face (see the module docstring): ``(face (256, 256, 3), mask (256, 256))`` float32.

    ``target``: the face's mask in its pixels; ``donors``: float32 BGR images for background
    mix-in, occluder textures and cut-outs.
    """
    res = XSEG_RESOLUTION
    image, meta = face.image, face.meta
    geometry = SampleSpec(res, spec.face_type, random_flip=True, rotation_deg=10.0, scale=0.05, shift=0.05)
    crop = crop_matrix(meta.landmarks, image.shape[1], meta.face_type, res, spec.face_type)
    mat = (np.vstack([random_affine(rng, geometry), [0, 0, 1]]) @ np.vstack([crop, [0, 0, 1]]))[:2]
    out = cv2.warpAffine(image, mat, (res, res), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    out = out.astype(np.float32) * np.float32(1 / 255)
    mask = cv2.warpAffine(target.astype(np.float32), mat, (res, res), flags=cv2.INTER_LINEAR, borderValue=0.0)
    if spec.random_warp and rng.random() < 0.5:
        map_x, map_y = grid_warp_maps(rng, res)
        out = cv2.remap(out, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mask = cv2.remap(mask, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    mask = (mask >= 0.5).astype(np.float32)
    if donors and rng.random() < 0.3:
        out = _background_mix(out, mask, rng, donors)
    if spec.max_occluders > 0 and rng.random() < spec.occluder_prob:
        out, mask = occlude(out, mask, rng, donors, spec.max_occluders)
    return _degrade(out, rng), mask


def _background_mix(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
                    donors: Sequence[np.ndarray]) -> np.ndarray:
    res = image.shape[0]
    donor = donors[int(rng.integers(len(donors)))]
    background = cv2.resize(donor, (res, res), interpolation=cv2.INTER_LINEAR)
    background = np.rot90(background, int(rng.integers(1, 4))).copy()
    background = random_hsv(background, rng, 0.5)
    keep = cv2.dilate(mask, np.ones((9, 9), np.uint8)) > 0
    r = np.float32(rng.uniform(0.15, 1.0))
    mixed = image * r + background * (1 - r)
    return np.where(keep[..., None], image, mixed).astype(np.float32)


def _degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour, blur/sharpen, resolution and JPEG jitter of a float32 BGR image."""
    res = image.shape[0]
    if rng.random() < 0.5:
        image = random_hsv(image, rng, 0.3)
    else:
        gamma = rng.uniform(0.6, 1.5, 3).astype(np.float32)
        low, high = np.float32(rng.uniform(0, 0.15)), np.float32(rng.uniform(0.85, 1.0))
        image = np.clip((image - low) / (high - low), 0, 1) ** gamma
    pick = rng.random()
    if pick < 0.25:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 2.0))
    elif pick < 0.4:
        blurred = cv2.GaussianBlur(image, (0, 0), 1.0)
        image = image + (image - blurred) * np.float32(rng.uniform(0.3, 1.0))
    elif pick < 0.6:
        small = int(res * rng.uniform(0.3, 0.8))
        image = cv2.resize(cv2.resize(image, (small, small), interpolation=cv2.INTER_AREA), (res, res),
                           interpolation=cv2.INTER_LINEAR)
    image = np.clip(image, 0, 1).astype(np.float32)
    if rng.random() < 0.3:
        ok, data = cv2.imencode(".jpg", (image * 255 + 0.5).astype(np.uint8),
                                [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 95))])
        if ok:
            image = decode_image(data.tobytes(), "jpeg augmentation").astype(np.float32) * np.float32(1 / 255)
    return image


def read_occluder_images(folder: Path) -> list[np.ndarray]:
    """Images of ``folder`` as float32 BGR (at most :data:`MAX_DONOR_SIDE` px a side), for cut-outs."""
    images = []
    for path in list_images(folder):
        image = read_image(path)
        scale = MAX_DONOR_SIDE / max(image.shape[:2])
        if scale < 1:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        images.append(image.astype(np.float32) * np.float32(1 / 255))
    if not images:
        raise InputError(folder, "holds no images to cut occluders from")
    return images


class XSegPool:
    """The faces XSeg trains on: paths with whether each is labelled (from metadata only)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        self.labelled = np.array([bool(read_meta(p).xseg_labels) for p in self.paths], dtype=bool)


class XSegDataset(torch.utils.data.Dataset):
    """Samples by key ``(face index, seed)``: ``{"face": (3, 256, 256), "mask": (1, 256, 256)}`` float32.

    ``use_hull``: unlabelled faces train with their landmark hull (else they are never drawn).
    ``extra_donors``: user occluder images added to the other faces as cut-out sources.
    """

    def __init__(self, pool: XSegPool, spec: XSegSampleSpec, use_hull: bool,
                 extra_donors: Sequence[np.ndarray] = ()) -> None:
        self.pool, self.spec, self.use_hull = pool, spec, use_hull
        self.extra_donors = list(extra_donors)

    def __len__(self) -> int:
        return len(self.pool.paths)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, np.ndarray]:  # type: ignore[override]
        index, seed = key
        rng = np.random.default_rng(seed)
        face = read_face(self.pool.paths[index])
        target = face_target(face)
        if target is None:
            target = hull_target(face)
        donor_index = int(rng.integers(len(self.pool.paths)))
        donor = read_face(self.pool.paths[donor_index]).image.astype(np.float32) * np.float32(1 / 255)
        donors = [donor, *self.extra_donors]
        image, mask = make_xseg_sample(face, target, self.spec, rng, donors)
        return {"face": image.transpose(2, 0, 1).copy(), "mask": mask[None].copy()}


class XSegPlan(torch.utils.data.Sampler):
    """Infinite per-iteration batches of ``(face index, seed)``, from ``(seed, iteration)`` alone (so a
    resumed run sees what an uninterrupted one would). ``labelled_share`` of each batch comes from
    labelled faces when both kinds are drawn."""

    def __init__(self, labelled: np.ndarray, use_hull: bool, batch_size: int, seed: int, labelled_share: float,
                 start_iteration: int = 0) -> None:
        self.labelled_idx = np.flatnonzero(labelled)
        self.other_idx = np.flatnonzero(~labelled) if use_hull else np.zeros(0, np.int64)
        if len(self.labelled_idx) + len(self.other_idx) == 0:
            raise OptionError("no labelled faces to train on (label some, or let unlabelled faces train with "
                              "their landmark hull: unlabelled=hull)")
        self.batch_size, self.seed, self.share = batch_size, seed, labelled_share
        self.start_iteration = start_iteration

    def keys(self, iteration: int) -> list[tuple[int, int]]:
        rng = np.random.default_rng([self.seed, 11, iteration])
        keys = []
        for _ in range(self.batch_size):
            labelled = len(self.other_idx) == 0 or (len(self.labelled_idx) > 0 and rng.random() < self.share)
            pool = self.labelled_idx if labelled else self.other_idx
            keys.append((int(pool[int(rng.integers(len(pool)))]), int(rng.integers(2**62))))
        return keys

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        iteration = self.start_iteration
        while True:
            yield self.keys(iteration)
            iteration += 1
