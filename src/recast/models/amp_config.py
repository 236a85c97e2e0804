"""AMP's config: architecture options, fixed when a model is created (no torch)."""

from __future__ import annotations

from dataclasses import dataclass

from recast.models.config import FACE_TYPES, MODEL_GROUP, ModelConfig, face_type_name
from recast.options import option


@dataclass
class AMPConfig(ModelConfig):
    """Architecture of an AMP model; every field is fixed once the model exists.

    inter_dims: channels of the inter grid (the morphable channels). train_inters: train the two
    inters (True) or keep them frozen at init like DeepFaceLab (False); see :mod:`recast.models.amp`.
    """

    resolution: int = option(224, "Face size in pixels", ge=64, le=1024, multiple_of=32, fixed=True,
                             group=MODEL_GROUP)
    face_type: str = option("whole", "Face type (or h, mf, f, wf)", choices=FACE_TYPES, parse=face_type_name,
                            fixed=True, group=MODEL_GROUP)
    ae_dims: int = option(256, "Encoder code width", ge=4, le=1024, fixed=True, group=MODEL_GROUP)
    inter_dims: int = option(1024, "AMP inter width (the morphable channels; AMP only)", ge=4, le=2048, fixed=True,
                             group=MODEL_GROUP)
    e_dims: int = option(64, "Encoder width", ge=2, le=256, multiple_of=2, fixed=True, group=MODEL_GROUP)
    d_dims: int = option(64, "Decoder width", ge=2, le=256, multiple_of=2, fixed=True, group=MODEL_GROUP)
    d_mask_dims: int = option(22, "Mask decoder width (0 = no learned mask)", ge=0, le=256, multiple_of=2,
                              fixed=True, group=MODEL_GROUP)
    train_inters: bool = option(True, "Train AMP's two inters (off: frozen at init like DeepFaceLab; AMP only)",
                                fixed=True, group=MODEL_GROUP)
