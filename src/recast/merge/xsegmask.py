"""XSeg masks at merge time: the ``xseg-dst`` and ``xseg-prd`` mask modes.

* ``xseg-dst``: the destination face is cut out of the frame as the XSeg model's face type at 256 px,
  segmented, and the mask mapped into the swap model's crop;
* ``xseg-prd``: the predicted face (swap model crop) is mapped into the XSeg crop (edges
  replicated), segmented, and the mask mapped back.

Crops are float32 BGR in [0, 1]; masks ``(R, R)`` float32 in [0, 1] in the swap model's crop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from recast.faces.alignment import invert_affine, transform_matrix
from recast.faces.facetype import FaceType
from recast.merge.blend import FaceCrop, Prediction


class XSegMasker(Protocol):
    """What the merger needs from an XSeg model (``recast.models.xseg_inference.XSegPredictor``)."""

    face_type: FaceType
    resolution: int

    def predict(self, faces: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """``(N, S, S, 3)`` float32 BGR crops of ``face_type`` → masks ``(N, S, S)`` float32."""
        ...


@dataclass
class XSegCrop:
    """The destination face as the XSeg model sees it: ``image (S, S, 3)`` float32, ``mat`` frame → crop."""

    image: np.ndarray
    mat: np.ndarray


def xseg_crop(frame: np.ndarray, landmarks: np.ndarray, xseg: XSegMasker) -> XSegCrop:
    """Cut the face with ``landmarks (68, 2)`` out of ``frame`` (uint8 BGR) for ``xseg``."""
    side = xseg.resolution
    mat = transform_matrix(landmarks, side, xseg.face_type)
    image = cv2.warpAffine(frame, mat, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return XSegCrop(image.astype(np.float32) * np.float32(1 / 255), mat)


def add_xseg_masks(xseg: XSegMasker, items: Sequence[tuple[FaceCrop, Prediction, XSegCrop, tuple[str, ...]]]) -> None:
    """Fill ``prediction.xseg_dst`` / ``xseg_prd`` for each ``(crop, prediction, xseg crop, parts wanted)``."""
    inputs: list[np.ndarray] = []
    wanted: list[tuple[Prediction, str, np.ndarray, int]] = []
    side = xseg.resolution
    for crop, prediction, dst, parts in items:
        res = prediction.face.shape[0]
        to_model = _compose(crop.face_mat, invert_affine(dst.mat))  # XSeg crop → model crop
        if "xseg-dst" in parts:
            inputs.append(dst.image)
            wanted.append((prediction, "xseg_dst", to_model, res))
        if "xseg-prd" in parts:
            to_xseg = _compose(dst.mat, invert_affine(crop.face_mat))
            inputs.append(cv2.warpAffine(prediction.face, to_xseg, (side, side), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_REPLICATE))
            wanted.append((prediction, "xseg_prd", to_model, res))
    if not inputs:
        return
    masks = xseg.predict(np.stack(inputs))
    for (prediction, name, to_model, res), mask in zip(wanted, masks, strict=True):
        setattr(prediction, name, np.clip(cv2.warpAffine(mask, to_model, (res, res), flags=cv2.INTER_LINEAR,
                                                         borderValue=0.0), 0.0, 1.0))


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    a = np.vstack([np.asarray(outer, np.float64)[:2], [0, 0, 1]])
    b = np.vstack([np.asarray(inner, np.float64)[:2], [0, 0, 1]])
    return (a @ b)[:2]
