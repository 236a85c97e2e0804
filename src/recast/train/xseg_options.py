"""XSeg training settings, declared once as options (no torch, so the command line reads them cheaply)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from recast.options import option

_TRAIN, _DATA = "Training", "Data and augmentation"


@dataclass
class XSegSettings:
    """XSeg training settings; they can change on every resume and are kept with the model."""

    OPTIONS_NOUN: ClassVar[str] = "XSeg training setting"

    batch_size: int = option(8, "Faces per iteration", ge=1, le=256, group=_TRAIN)
    lr: float = option(5e-4, "Adam learning rate", gt=0, le=0.1, group=_TRAIN)
    dice_weight: float = option(1.0, "Weight of the soft-Dice term added to the cross-entropy", ge=0, le=100,
                                group=_TRAIN)
    unlabelled: str = option("hull", "What unlabelled faces train with: hull (their landmark hull; trains with "
                             "no labels at all) or skip", choices=("hull", "skip"), group=_DATA)
    labelled_share: float = option(0.5, "Share of each batch drawn from labelled faces when both kinds train",
                                   ge=0, le=1, group=_DATA)
    occluder_prob: float = option(0.7, "Chance that a sample gets synthetic occluders pasted over it", ge=0, le=1,
                                  group=_DATA)
    max_occluders: int = option(2, "Most synthetic occluders per sample", ge=0, le=8, group=_DATA)
    random_warp: bool = option(True, "Grid-warp half of the samples", group=_DATA)
