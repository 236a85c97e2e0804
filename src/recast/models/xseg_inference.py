"""Inference with a trained XSeg model folder: masks for aligned faces and for merge-time crops.

An XSeg model folder has the layout of every recast model (:mod:`recast.models.checkpoint`):
``config.json`` names the preset (``xseg`` / ``xseg-cpu``) and holds the full
:class:`recast.models.xseg_config.XSegConfig`; weights are safetensors.

Example:
    >>> masker = XSegPredictor.load("workspace/model/xseg")
    >>> masks = masker.predict(crops)                       # (N, 256, 256, 3) float32 BGR → (N, 256, 256)
    >>> mask = masker.face_mask(face.image, face.meta)      # an aligned face → (H, W) in its pixels
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from recast.errors import InputError, OptionError
from recast.faces.crop import crop_matrix
from recast.faces.facetype import FaceType, parse_face_type
from recast.faces.metadata import FaceMeta
from recast.models import checkpoint as ckpt
from recast.models.xseg import XSeg
from recast.models.xseg_config import XSEG_PRESETS, XSEG_RESOLUTION, XSegConfig, xseg_config
from recast.provenance.label import sha256_file
from recast.runtime.devices import resolve_device


def check_saved_xseg(model_dir: str | Path) -> tuple[str, XSegConfig]:
    """Validate an XSeg folder's config.json and its committed weights against it, allocating nothing.

    Raises:
        InputError: not an XSeg model folder, an invalid config, or weights that do not fit it.
    """
    model_dir = Path(model_dir)
    name, values = ckpt.read_model_config(model_dir)
    if name not in XSEG_PRESETS:
        raise InputError(model_dir, f"holds a {name!r} model, not an XSeg mask model "
                                    f"({', '.join(sorted(XSEG_PRESETS))})")
    try:
        config = xseg_config(name, **values)
        with torch.device("meta"):
            skeleton = XSeg(config)
    except (OptionError, TypeError) as error:
        raise InputError(model_dir / ckpt.CONFIG_FILE, f"invalid XSeg config: {error}") from None
    ckpt.check_weights_fit(model_dir, {f"model.{k}": tuple(v.shape) for k, v in skeleton.state_dict().items()})
    return name, config


def load_xseg(model_dir: str | Path) -> tuple[XSeg, int, Path]:
    """``(model with the committed weights, iteration, weights file)`` of an XSeg folder (train mode, CPU).

    Raises:
        InputError: see :func:`check_saved_xseg`; or a folder with no saved weights yet.
    """
    _, config = check_saved_xseg(model_dir)
    model = XSeg(config)
    checkpoint = ckpt.load_into(Path(model_dir), model)
    return model, int(checkpoint.state.get("iteration", 0)), checkpoint.path / ckpt.WEIGHTS_FILE


class XSegPredictor:
    """A trained XSeg model ready to segment faces (float32, eval mode, batch norms folded).

    Attributes: ``face_type`` (the crop it segments), ``resolution`` (256), ``iteration``,
    ``weights_sha256`` (None when built from a module), ``model``.
    """

    resolution = XSEG_RESOLUTION

    def __init__(self, model: XSeg, device: str = "cpu", iteration: int = 0) -> None:
        self.device = torch.device(resolve_device(device))
        model = model.fold_batch_norm()
        # torch's stubs leave out Module.to's memory_format keyword
        self.model = model.to(self.device, memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.face_type: FaceType = parse_face_type(model.config.face_type)
        self.iteration = iteration
        self.weights_sha256: str | None = None

    @classmethod
    def load(cls, model_dir: str | Path, device: str = "cpu") -> XSegPredictor:
        """Load an XSeg folder (config.json + the committed safetensors weights)."""
        model, iteration, weights = load_xseg(model_dir)
        predictor = cls(model, device, iteration)
        predictor.weights_sha256 = sha256_file(weights)
        return predictor

    @torch.inference_mode()
    def predict(self, faces: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """Masks of ``faces`` ``(N, 256, 256, 3)`` float32 BGR in [0, 1], cropped as ``face_type``.

        Returns ``(N, 256, 256)`` float32 in [0, 1] (1 = face).
        """
        faces = np.asarray(faces, dtype=np.float32)
        r = XSEG_RESOLUTION
        if faces.ndim != 4 or faces.shape[1:] != (r, r, 3):
            raise ValueError(f"faces must be (N, {r}, {r}, 3) float32 BGR, got {faces.shape}")
        out = []
        for start in range(0, len(faces), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(faces[start:start + batch_size])).to(self.device)
            x = x.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
            out.append(self.model.mask(x)[:, 0].float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, r, r), np.float32)

    def crop(self, image: np.ndarray, meta: FaceMeta) -> tuple[np.ndarray, np.ndarray]:
        """``(256 px crop float32 BGR (256, 256, 3), (2, 3) matrix aligned image → crop)`` of an aligned face."""
        mat = crop_matrix(meta.landmarks, image.shape[1], meta.face_type, XSEG_RESOLUTION, self.face_type)
        crop = cv2.warpAffine(image, mat, (XSEG_RESOLUTION, XSEG_RESOLUTION), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        return crop.astype(np.float32) * np.float32(1 / 255), mat

    def face_masks(self, images: list[np.ndarray], metas: list[FaceMeta]) -> list[np.ndarray]:
        """Masks of aligned faces (uint8 BGR images with their metadata), each ``(H, W)`` float32 in
        the pixels of its image (0 outside the model's crop)."""
        crops, mats = [], []
        for image, meta in zip(images, metas, strict=True):
            crop, mat = self.crop(image, meta)
            crops.append(crop)
            mats.append(mat)
        masks = self.predict(np.stack(crops)) if crops else np.zeros((0, 1, 1), np.float32)
        out = []
        for image, mask, mat in zip(images, masks, mats, strict=True):
            height, width = image.shape[:2]
            back = cv2.warpAffine(mask, mat, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
            out.append(np.clip(back, 0.0, 1.0))
        return out

    def face_mask(self, image: np.ndarray, meta: FaceMeta) -> np.ndarray:
        """:meth:`face_masks` for one face."""
        return self.face_masks([image], [meta])[0]
