"""SAEHD's config: architecture options, fixed when a model is created (no torch)."""

from __future__ import annotations

import itertools
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
    growth: progressive growth (:mod:`recast.models.growth`): the model is built at ``growth[0]``
    (which then needs the archi's multiple) and grows through the other sizes to ``resolution`` at
    the budget fractions ``growth_at``.
    """

    resolution: int = option(128, "Face size in pixels (a multiple of 32 with archi variant d or t)", ge=64,
                             le=1024, multiple_of=16, fixed=True, group=MODEL_GROUP)
    face_type: str = option("full", "Face type (or h, mf, f, wf)", choices=FACE_TYPES, parse=face_type_name,
                            fixed=True, group=MODEL_GROUP)
    archi: str = option("liae-ud", "SAEHD architecture, df or liae with options u, d, t, c (e.g. liae-ud, df-udt)",
                        parse=checked_archi, fixed=True, group=MODEL_GROUP)
    ae_dims: int = option(256, "Autoencoder (bottleneck) width", ge=4, le=1024, fixed=True, group=MODEL_GROUP)
    e_dims: int = option(64, "Encoder width", ge=2, le=256, multiple_of=2, fixed=True, group=MODEL_GROUP)
    d_dims: int = option(64, "Decoder width", ge=2, le=256, multiple_of=2, fixed=True, group=MODEL_GROUP)
    d_mask_dims: int = option(22, "Mask decoder width (0 = no learned mask)", ge=0, le=256, multiple_of=2,
                              fixed=True, group=MODEL_GROUP)
    growth: list[int] = option(help="Progressive growth: smaller output sizes to train first, smallest first "
                               "(e.g. 64 96 with resolution 128); empty = off", default_factory=list, ge=64, le=1024,
                               multiple_of=16, fixed=True, group=MODEL_GROUP)
    growth_at: list[float] = option(help="Budget fractions at which the model grows to the next size, one per "
                                    "growth size (empty = spread evenly)", default_factory=list, gt=0, lt=1,
                                    fixed=True, group=MODEL_GROUP)

    def validate(self) -> None:
        """Options (:func:`recast.options.validate`), then the resolution step the archi needs."""
        super().validate()
        _, letters = parse_archi(self.archi)
        base = self.growth[0] if self.growth else self.resolution
        if ("d" in letters or "t" in letters) and base % 32:
            which = "the first growth size" if self.growth else "resolution"
            raise OptionError(f"{which}={base} must be a multiple of 32 for archi {self.archi!r}")
        if self.resolution % base:
            raise OptionError(f"resolution={self.resolution} must be a multiple of the first growth size {base} "
                              "(the encoder shrinks its input by a whole factor)")
        sizes = [*self.growth, self.resolution]
        if any(b <= a for a, b in itertools.pairwise(sizes)):
            raise OptionError(f"growth sizes {self.growth} must increase and stay below resolution={self.resolution}")
        if self.growth_at and (len(self.growth_at) != len(self.growth) or
                               any(b <= a for a, b in itertools.pairwise(self.growth_at))):
            raise OptionError(f"growth_at {self.growth_at} must give {len(self.growth)} increasing budget fractions, "
                              "one per growth size")
