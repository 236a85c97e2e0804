"""SAEHD's config: architecture options, fixed when a model is created (no torch)."""

from __future__ import annotations

from dataclasses import dataclass

from recast.errors import OptionError
from recast.models.config import FACE_TYPES, MODEL_GROUP, ModelConfig, face_type_name
from recast.options import option

VARIANT_LETTERS = "udtc"


def parse_archi(archi: str) -> tuple[str, str]:
    """'liae-ud' → ('liae', 'ud'); raises OptionError for unknown layouts or letters."""
    layout, _, letters = archi.strip().lower().partition("-")
    if layout not in ("df", "liae"):
        raise OptionError(f"archi {archi!r}: layout must be 'df' or 'liae' (e.g. 'liae-ud', 'df-udt')")
    bad = [c for c in letters if c not in VARIANT_LETTERS]
    if bad or len(set(letters)) != len(letters):
        raise OptionError(f"archi {archi!r}: variant letters must be distinct ones of 'u', 'd', 't', 'c'")
    return layout, letters


def checked_archi(archi: str) -> str:
    """``archi`` unchanged once :func:`parse_archi` accepts it."""
    parse_archi(archi)
    return archi


@dataclass
class SAEHDConfig(ModelConfig):
    """Architecture of an SAEHD model; every field is fixed once the model exists.

    resolution: multiple of 16, of 32 with the ``d`` or ``t`` variant. archi: ``df`` or ``liae``
    plus optional ``-udtc``. d_mask_dims 0 = no learned mask (the masks are then all ones).
    """

    resolution: int = option(128, "Face size in pixels (a multiple of 32 with archi variant d or t)", ge=64,
                             le=640, multiple_of=16, fixed=True, group=MODEL_GROUP)
    face_type: str = option("full", "Face type (or h, mf, f, wf)", choices=FACE_TYPES, parse=face_type_name,
                            fixed=True, group=MODEL_GROUP)
    archi: str = option("liae-ud", "SAEHD architecture, df or liae with options u, d, t, c (e.g. liae-ud, df-udt)",
                        parse=checked_archi, fixed=True, group=MODEL_GROUP)
    ae_dims: int = option(256, "Autoencoder (bottleneck) width", ge=4, le=1024, fixed=True, group=MODEL_GROUP)
    e_dims: int = option(64, "Encoder width", ge=2, le=256, multiple_of=2, fixed=True, group=MODEL_GROUP)
    d_dims: int = option(64, "Decoder width", ge=2, le=256, multiple_of=2, fixed=True, group=MODEL_GROUP)
    d_mask_dims: int = option(22, "Mask decoder width (0 = no learned mask)", ge=0, le=256, multiple_of=2,
                              fixed=True, group=MODEL_GROUP)

    def validate(self) -> None:
        """Options (:func:`recast.options.validate`), then the resolution step the archi needs."""
        super().validate()
        _, letters = parse_archi(self.archi)
        if ("d" in letters or "t" in letters) and self.resolution % 32:
            raise OptionError(f"resolution={self.resolution} must be a multiple of 32 for archi {self.archi!r}")
