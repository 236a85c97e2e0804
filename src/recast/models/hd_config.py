"""HD's config: architecture options of the fully convolutional high-resolution family (no torch)."""

from __future__ import annotations

from dataclasses import dataclass

from recast.models.config import FACE_TYPES, MODEL_GROUP, ModelConfig, face_type_name
from recast.options import option


@dataclass
class HDConfig(ModelConfig):
    """Architecture of an HD model (:mod:`recast.models.hd`); every field is fixed once the model exists.

    resolution: face side R, a multiple of 32 (the encoder halves it five times). e_dims / d_dims:
    width of the first encoder / last decoder stage (stages double it, up to 8×). code_dims:
    channels of the (R/32)² code grid that replaces SAEHD's dense bottleneck. d_mask_dims: width of
    each decoder's mask branch.
    """

    resolution: int = option(1024, "Face size in pixels (a multiple of 32)", ge=64, le=1024, multiple_of=32,
                             fixed=True, group=MODEL_GROUP)
    face_type: str = option("whole", "Face type (or h, mf, f, wf)", choices=FACE_TYPES, parse=face_type_name,
                            fixed=True, group=MODEL_GROUP)
    e_dims: int = option(32, "Encoder width", ge=2, le=256, multiple_of=2, fixed=True, group=MODEL_GROUP)
    d_dims: int = option(32, "Decoder width", ge=2, le=256, multiple_of=2, fixed=True, group=MODEL_GROUP)
    code_dims: int = option(256, "Channels of the code grid at 1/32 of the face size (HD only)", ge=4, le=2048,
                            fixed=True, group=MODEL_GROUP)
    d_mask_dims: int = option(16, "Mask decoder width (0 = no learned mask)", ge=0, le=256, multiple_of=2,
                              fixed=True, group=MODEL_GROUP)
