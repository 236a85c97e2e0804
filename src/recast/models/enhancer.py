"""Identity-specific face enhancer: a small super-resolution network for one person's swapped faces.

A swap model renders the src person at its own, small resolution R (64–128 px on a CPU budget);
pasted over a 250–300 px face, that is soft. The enhancer is trained on the *src faceset itself*
(:mod:`recast.train.enhance`): its input is what the swap model makes of a src face (the face at R,
through the autoencoder, enlarged to S), its target the real face at S. So it learns to restore
this person's own detail from this model's rendering — no downloaded weights, no generic face.

:class:`FaceEnhancer`: (N, 3, S, S) BGR float in [0, 1] → the same, as input + a learned residual
(a conv, ``blocks`` residual blocks, a conv; fully convolutional, so it trains on patches).

:class:`EnhancedSwapper` wraps a merge model (:class:`recast.models.swapmodel.SwapModel`) so the merger
cuts faces at S, the swap model sees them at R, and the enhancer restores S: the merge engine is
unchanged. An enhancer folder holds ``enhancer.json`` (format, config) and ``enhancer.safetensors``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from recast.atomic import atomic_path, atomic_write_text
from recast.errors import InputError
from recast.models.blocks import ResidualBlock, glorot_init
from recast.models.checkpoint import load_weights_file
from recast.models.swapmodel import SwapModel

FORMAT = "recast.enhancer"
CONFIG_FILE = "enhancer.json"
WEIGHTS_FILE = "enhancer.safetensors"


@dataclass
class EnhancerConfig:
    """size: the output face side S; model_resolution: the swap model's R; face_type: its crop;
    channels / blocks: the network's width and depth."""

    size: int
    model_resolution: int
    face_type: str
    channels: int = 32
    blocks: int = 4

    @classmethod
    def from_dict(cls, values: Any, path: Path) -> EnhancerConfig:
        """Build from ``enhancer.json``'s ``config``; InputError naming ``path`` when it is not one."""
        try:
            config = cls(**values)
        except TypeError as error:
            raise InputError(path, f"not an enhancer config: {error}") from None
        numbers = (config.size, config.model_resolution, config.channels, config.blocks)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in numbers) or not (
                16 <= config.model_resolution <= config.size <= 2048 and 1 <= config.channels <= 256
                and 1 <= config.blocks <= 32) or not isinstance(config.face_type, str):
            raise InputError(path, "enhancer config values are out of range")
        return config


class FaceEnhancer(nn.Module):
    """(N, 3, S, S) in [0, 1] → clamp(x + residual(x), 0, 1)."""

    def __init__(self, config: EnhancerConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.head = nn.Conv2d(3, c, 3, padding=1)
        self.body = nn.Sequential(*[ResidualBlock(c) for _ in range(config.blocks)])
        self.tail = nn.Conv2d(c, 3, 3, padding=1)
        glorot_init(self)
        nn.init.zeros_(self.tail.weight)  # starts as the identity: it can only learn to add detail

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x + self.tail(self.body(nn.functional.leaky_relu(self.head(x), 0.2))), 0.0, 1.0)


def save_enhancer(enhancer: FaceEnhancer, folder: str | Path, facts: dict[str, Any]) -> Path:
    """Write ``enhancer.safetensors`` and ``enhancer.json`` (config plus ``facts``) atomically; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in enhancer.state_dict().items()}, str(tmp),
                  metadata={"format": FORMAT})
    data = {"format": FORMAT, "version": 1, "config": asdict(enhancer.config), **facts}
    atomic_write_text(folder / CONFIG_FILE, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return folder


def load_enhancer(folder: str | Path, device: str = "cpu") -> FaceEnhancer:
    """The enhancer saved in ``folder`` (safetensors only; shapes checked), in eval mode on ``device``.

    Raises:
        InputError: not an enhancer folder, or weights that do not fit its config.
    """
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise InputError(folder, f"is not an enhancer folder (no {CONFIG_FILE})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(path, f"cannot read JSON: {error}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("config"), dict):
        raise InputError(path, f"is not a {FORMAT} file")
    enhancer = FaceEnhancer(EnhancerConfig.from_dict(data["config"], path))
    try:
        enhancer.load_state_dict(load_weights_file(folder / WEIGHTS_FILE))
    except RuntimeError as error:
        raise InputError(folder / WEIGHTS_FILE, f"weights do not fit {CONFIG_FILE}: {str(error)[:200]}") from None
    return enhancer.to(device).eval()


def resize_faces(faces: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W[, C]) float32 images → (N, size, size[, C]): area when shrinking, cubic when enlarging."""
    if faces.shape[1] == size:
        return faces
    interpolation = cv2.INTER_AREA if size < faces.shape[1] else cv2.INTER_CUBIC
    return np.stack([cv2.resize(face, (size, size), interpolation=interpolation) for face in faces])


class EnhancedSwapper:
    """A merge model whose faces are enhanced to ``enhancer.config.size`` (see the module docstring)."""

    def __init__(self, base: SwapModel, enhancer: FaceEnhancer, device: str = "cpu") -> None:
        config = enhancer.config
        if base.resolution != config.model_resolution or str(base.face_type) != config.face_type:
            raise InputError(Path("enhancer"), f"was trained for a {config.model_resolution} px {config.face_type} "
                                               f"model, not this {base.resolution} px {base.face_type} one")
        self.base, self.enhancer, self.device = base, enhancer, torch.device(device)
        self.resolution = config.size
        self.face_type = base.face_type
        self.has_learned_mask = base.has_learned_mask
        self.weights_sha256 = getattr(base, "weights_sha256", None)
        self.precision = getattr(base, "precision", None)

    @torch.no_grad()
    def enhance(self, faces: np.ndarray) -> np.ndarray:
        """(N, R', R', 3) float32 BGR faces → (N, S, S, 3) enhanced (enlarged to S first)."""
        x = torch.from_numpy(np.ascontiguousarray(resize_faces(faces, self.resolution))).to(self.device)
        out = self.enhancer(x.permute(0, 3, 1, 2).float())
        return out.permute(0, 2, 3, 1).cpu().numpy().astype(np.float32)

    def swap(self, faces: np.ndarray, morph: float = 1.0,
             masks: bool = True) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(N, S, S, 3) crops → the base model's swap at R, its face enhanced to S, its masks enlarged to S."""
        face, prd, dst = self.base.swap(resize_faces(faces, self.base.resolution), morph=morph, masks=masks)
        size = self.resolution
        return (self.enhance(face), None if prd is None else resize_faces(prd, size),
                None if dst is None else resize_faces(dst, size))
