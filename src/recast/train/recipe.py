"""Training recipes: DeepFaceLab's SAEHD training workflow as phases of one run's budget.

DeepFaceLab's users switch options by hand between phases, watching the previews (its 2.0 guide,
"Model Training Workflow (SAEHD)"). A :class:`Recipe` does it for them: each :class:`Phase` starts at
a fraction of the run's budget and overrides a few :class:`~recast.train.options.TrainSettings` while
it lasts (:func:`settings_for`); the others stay the run's.

* ``none``: one phase, the run's settings unchanged (``recast train``'s default).
* ``dfl``: ``warp`` (random warp on, no lr dropout, no GAN: generalise expressions) from 0, then
  ``regular`` (random warp off, lr dropout on at keep-probability 0.3 with its cosine lr cycle: extra
  sharpness, less sub-pixel shake) from 0.6, then ``gan`` (the patch GAN at power 0.1 on top, patch
  ``gan_patch_size`` = resolution/8 and width ``gan_dims`` = 16 by default) from 0.9 (``recast run``'s default).

The budget fraction is the trainer's (:meth:`recast.train.trainer.Trainer.budget_fraction`): the
model's iteration ÷ the target iteration with ``--iterations`` (so a resumed run lands where the
interrupted one would have been), this run's share of ``--minutes`` or ``--more`` otherwise (the
larger when several are given: whichever ends the run first). A resumed run never goes back to a
phase before the saved one (:func:`choose_phase`); the phase and where each began are kept in
``state.json`` (:class:`PhaseLog`).
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any

from recast.errors import OptionError
from recast.train.options import RECIPES, TrainSettings

PHASE_SETTINGS = ("random_warp", "lr_dropout", "gan_power", "eyes_mouth_prio", "uniform_yaw", "match_mouth")
"""The :class:`TrainSettings` a :class:`Phase` may override (its fields of the same names)."""


@dataclass(frozen=True)
class Phase:
    """One phase: ``name``, the budget fraction it ``start`` s at (0 ≤ start < 1), and the settings it
    overrides while it lasts (None: the run's own value). eyes_mouth_prio, uniform_yaw and match_mouth are
    left to the run in every registered phase (None): in the phase ablation (``benchmarks/quality.py
    --ablation``, issue #23's notes) priority and mouth matching lowered the mouth error but cost pose and
    detail."""

    name: str
    start: float
    random_warp: bool | None = None
    lr_dropout: float | None = None
    gan_power: float | None = None
    eyes_mouth_prio: bool | None = None
    uniform_yaw: bool | None = None
    match_mouth: bool | None = None

    def overrides(self) -> dict[str, Any]:
        """The settings this phase sets, ``{name: value}``."""
        values = {name: getattr(self, name) for name in PHASE_SETTINGS}
        return {name: value for name, value in values.items() if value is not None}

    def describe(self) -> str:
        """One line, e.g. ``random_warp off, lr_dropout 0.3, gan_power 0.1`` (``the run's settings`` if none)."""
        parts = [f"{name} {_word(name, value)}" for name, value in self.overrides().items()]
        return ", ".join(parts) or "the run's settings"


@dataclass(frozen=True)
class Recipe:
    """A named sequence of phases; the first starts at 0 and the starts rise."""

    name: str
    phases: tuple[Phase, ...]
    summary: str

    def __post_init__(self) -> None:
        starts = [phase.start for phase in self.phases]
        if not starts or starts[0] != 0 or any(b <= a for a, b in itertools.pairwise(starts)) or starts[-1] >= 1:
            raise ValueError(f"recipe {self.name!r}: phase starts must rise from 0 and stay below 1, got {starts}")
        if len({phase.name for phase in self.phases}) != len(self.phases):
            raise ValueError(f"recipe {self.name!r}: phase names repeat")

    def index(self, name: str | None) -> int | None:
        """The position of phase ``name`` (None when it is not one of this recipe's)."""
        names = [phase.name for phase in self.phases]
        return names.index(name) if name in names else None


DFL_LR_DROPOUT = 0.3
"""DeepFaceLab's lr dropout "on": each weight update kept with this probability."""
DFL_GAN_POWER = 0.1
"""The guide's typical GAN power."""

REGISTRY: dict[str, Recipe] = {
    "none": Recipe("none", (Phase("train", 0.0),), "one phase: the run's settings throughout"),
    "dfl": Recipe("dfl", (
        Phase("warp", 0.0, random_warp=True, lr_dropout=1.0, gan_power=0.0),
        Phase("regular", 0.6, random_warp=False, lr_dropout=DFL_LR_DROPOUT, gan_power=0.0),
        Phase("gan", 0.9, random_warp=False, lr_dropout=DFL_LR_DROPOUT, gan_power=DFL_GAN_POWER),
    ), "DeepFaceLab's SAEHD workflow: warped generalisation, regular training with lr dropout, then GAN"),
}
"""The recipes by name (the names are :data:`recast.train.options.RECIPES`, the option's choices)."""


def get_recipe(name: str) -> Recipe:
    """The registered recipe ``name``; OptionError naming ``--recipe`` when there is none."""
    recipe = REGISTRY.get(str(name).lower())
    if recipe is None:
        raise OptionError(f"--recipe {name!r}: choose one of {', '.join(RECIPES)}")
    return recipe


def phase_at(recipe: Recipe, fraction: float) -> Phase:
    """The phase of ``recipe`` at budget ``fraction`` (below 0 reads as 0, 1 and above as the last phase)."""
    current = recipe.phases[0]
    for phase in recipe.phases[1:]:
        if fraction >= phase.start:
            current = phase
    return current


def choose_phase(recipe: Recipe, fraction: float | None, current: str | None) -> Phase:
    """The phase to train in: the one at ``fraction``, but never one before ``current`` (the saved or
    running phase, when it is one of ``recipe``'s). Without a budget (``fraction`` None) the current
    phase stays, or the first when there is none."""
    floor = recipe.index(current)
    at = recipe.phases.index(phase_at(recipe, fraction)) if fraction is not None else 0
    return recipe.phases[max(at, floor or 0)]


def settings_for(phase: Phase, base: TrainSettings) -> TrainSettings:
    """``base`` with ``phase``'s overrides applied (``base`` itself when it overrides nothing)."""
    overrides = phase.overrides()
    return dataclasses.replace(base, **overrides) if overrides else base


@dataclass(frozen=True)
class PhaseLog:
    """The recipe a model trains with, its current phase and the iteration each phase began at;
    stored under ``recipe`` in ``state.json`` as ``{"name", "phase", "began": {phase: iteration}}``."""

    recipe: str
    phase: str
    began: tuple[tuple[str, int], ...]

    @classmethod
    def start(cls, recipe: Recipe, phase: Phase, iteration: int) -> PhaseLog:
        return cls(recipe.name, phase.name, ((phase.name, iteration),))

    @classmethod
    def from_json(cls, data: Any, recipe: Recipe) -> PhaseLog | None:
        """The saved log when it is a well-formed one of ``recipe`` (another recipe's, or a damaged
        one, reads as None: the run starts the recipe afresh)."""
        if not isinstance(data, dict) or data.get("name") != recipe.name or recipe.index(data.get("phase")) is None:
            return None
        began = data.get("began")
        if not isinstance(began, dict) or not all(
                recipe.index(k) is not None and isinstance(v, int) and not isinstance(v, bool) and v >= 0
                for k, v in began.items()):
            return None
        return cls(recipe.name, str(data["phase"]), tuple((str(k), int(v)) for k, v in began.items()))

    def entered(self, phase: Phase, iteration: int) -> PhaseLog:
        """This log with ``phase`` begun at ``iteration`` (itself when ``phase`` is the current one)."""
        if phase.name == self.phase:
            return self
        return PhaseLog(self.recipe, phase.name, (*((k, v) for k, v in self.began if k != phase.name),
                                                  (phase.name, iteration)))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.recipe, "phase": self.phase, "began": dict(self.began)}


def _word(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if (name == "lr_dropout" and value >= 1) or (name == "gan_power" and value == 0):
        return "off"
    return f"{value:g}" if isinstance(value, float) else str(value)
