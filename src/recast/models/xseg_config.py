"""XSeg's config and named presets: the segmentation net's options, fixed when a model is created (no torch).

XSeg models are not face-swap models, so they have their own small preset table here rather than
entries in :data:`recast.models.registry.MODELS`:

* ``xseg`` — DeepFaceLab's network (``deepfacelab-facts.md`` §10): six levels of FRN/TLU conv
  blocks (2, 2, 2, 3, 3, 3 per level, widths 32 … 256), BlurPool downsampling, a dense
  4×4×256 → 512 → 4096 bottleneck and a mirrored decoder with skips, at 256 px.
* ``xseg-cpu`` — the same layout, sized for a 2-core CPU: the 256 px face is area-downscaled to
  128 px inside the net, one conv block per level, base width 16, batch norm + ReLU (folded into
  the convolutions for inference) instead of FRN + TLU, and the logits are upscaled back to
  256 px; about 1/20 of the work.

Both take and give 256 px (DeepFaceLab's XSeg contract, so the ONNX export is the same).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recast.errors import OptionError
from recast.models.config import FACE_TYPES, MODEL_GROUP, ModelConfig, face_type_name
from recast.options import option

XSEG_RESOLUTION = 256
"""Side of the faces an XSeg model takes and of the masks it gives (DeepFaceLab's contract)."""
XSEG_LEVELS = 6
"""Encoder levels (pooling steps): the bottleneck is ``inner_resolution / 64`` pixels a side."""


@dataclass
class XSegConfig(ModelConfig):
    """Architecture of an XSeg model.

    face_type: the crop the model segments (faces of other types are re-cropped through their
    landmarks). inner_resolution: the size the network works at (the 256 px input is
    area-downscaled to it and the logits upscaled back). base_dims: width of the first level
    (DeepFaceLab: 32; the levels are 1, 2, 4, 8, 8, 8 × base). blocks: conv blocks per level,
    ``dfl`` (2, 2, 2, 3, 3, 3) or ``one``. norm: ``frn`` (DeepFaceLab's FRN + TLU) or ``bn``
    (batch norm + ReLU, which inference folds into the convolutions).
    """

    face_type: str = option("whole", "Face type the mask model segments (or h, mf, f, wf)", choices=FACE_TYPES,
                            parse=face_type_name, fixed=True, group=MODEL_GROUP)
    inner_resolution: int = option(256, "Size the network works at inside (256 = DeepFaceLab's; 128 is ~4x "
                                   "cheaper)", ge=64, le=256, multiple_of=64, fixed=True,
                                   group=MODEL_GROUP)
    base_dims: int = option(32, "Width of the first level (DeepFaceLab: 32)", ge=4, le=64, multiple_of=2, fixed=True,
                            group=MODEL_GROUP)
    blocks: str = option("dfl", "Conv blocks per level: dfl (2,2,2,3,3,3) or one", choices=("dfl", "one"),
                         fixed=True, group=MODEL_GROUP)
    norm: str = option("frn", "Normalisation + activation: frn (FRN + TLU, DeepFaceLab's) or bn (batch norm + "
                       "ReLU, folded into the convs for inference: faster on a CPU)", choices=("frn", "bn"),
                       fixed=True, group=MODEL_GROUP)

    def validate(self) -> None:
        """Options, then the inner resolution the six levels need."""
        super().validate()
        if XSEG_RESOLUTION % self.inner_resolution:
            raise OptionError(f"inner_resolution={self.inner_resolution} must divide {XSEG_RESOLUTION}")


XSEG_PRESETS: dict[str, dict[str, Any]] = {
    "xseg": {"face_type": "whole", "inner_resolution": 256, "base_dims": 32, "blocks": "dfl", "norm": "frn"},
    "xseg-cpu": {"face_type": "whole", "inner_resolution": 128, "base_dims": 16, "blocks": "one", "norm": "bn"},
}
"""Named XSeg models: DeepFaceLab's network and the CPU-sized one."""
DEFAULT_XSEG = "xseg-cpu"
"""The preset a new XSeg model gets when none is asked for."""


def xseg_config(name: str, **overrides: Any) -> XSegConfig:
    """The validated config of preset ``name`` with ``overrides``; OptionError for unknown names."""
    key = name.lower()
    if key not in XSEG_PRESETS:
        raise OptionError(f"unknown XSeg model {name!r}; choose one of {', '.join(sorted(XSEG_PRESETS))}")
    config = XSegConfig.from_dict({**XSEG_PRESETS[key], **overrides})
    assert isinstance(config, XSegConfig)
    return config
