"""``recast run --minutes N`` without a model: choose the preset for the time budget, the recipe and this machine.

The choice is measured, not guessed from a CPU name: each candidate's training step is timed here,
now (a few real forward + backward + optimiser steps on a batch of the preset's size, with the
torch threads the run will use, so a machine under load measures slower). The budget is cut into
spans wherever a growth stage or a recipe phase (:mod:`recast.train.recipe`) begins — for
``cpu-grow`` under ``dfl``: 64 px warp to 0.35, 96 px warp to 0.6, 96 px regular to 0.7, 128 px
regular to 0.9, 128 px GAN to the end — and the iterations the budget buys are the sum over the
spans of (share of the budget ÷ step time in that span).

The candidates, best first (:data:`CANDIDATES`): a 128 px SAEHD, the growing ``cpu-grow`` preset
(64 → 96 → 128 px) and the plain 64 px ``cpu`` preset. The best whose estimated iterations reach
its minimum wins; ``cpu`` is the fallback. The minimums are what each needs to look like the source
person: the 64 px preset reads as the person after ~3,000 iterations (~13,000 in 60 CPU minutes
gave every frame verified); the growing one spends about a third of its budget at each size, so it
needs about three times that.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from recast.train.recipe import Phase, Recipe, get_recipe, phase_at

if TYPE_CHECKING:
    import torch

    from recast.models.base import FaceSwapModel
    from recast.models.growth import GrowthSchedule
    from recast.train.step import TrainStep

CANDIDATES: tuple[tuple[str, int], ...] = (("saehd", 40_000), ("cpu-grow", 9_000), ("cpu", 0))
"""(registry name, iterations the budget must buy) in order of preference."""

PROBE_STEPS = 2
"""Timed steps per kind of step; the fastest counts (other programs' load comes in bursts; the
trainer's thread tuning recovers part of it). An untimed warm-up step comes first whenever something
new runs: a new size, or the GAN discriminator (its optimiser state is made on its first step)."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Span:
    """The piece ``[start, end)`` of the budget (fractions in [0, 1]) trained at growth ``stage`` (``size`` px)
    in recipe ``phase``."""

    start: float
    end: float
    stage: int
    size: int
    phase: Phase


@dataclass(frozen=True)
class StepKind:
    """What sets a training step's cost in a span: the size it trains at, lr dropout on (a random mask over
    every weight and a copy of the weights each update), the patch GAN on (its discriminator's forward,
    backward and update), and whether the model freezes parameters in the phase (LIAE's ``inter_AB`` with
    random warp off: no update for it). Random warp itself runs in the data workers, and eyes/mouth priority
    and uniform yaw change a loss weight and the sampling only, so none of them is a kind of its own."""

    size: int
    lr_dropout: bool
    gan: bool
    frozen: bool


@dataclass(frozen=True)
class Timed:
    """A :class:`Span`, the :class:`StepKind` of its steps and the seconds one step takes there."""

    span: Span
    kind: StepKind
    seconds: float


def spans(schedule: GrowthSchedule, recipe: Recipe) -> list[Span]:
    """The budget cut wherever one of ``schedule`` 's growth steps (``at``) or one of ``recipe`` 's phases
    begins, in order; a span starting at a boundary belongs to the stage and phase that begin there (as in
    :meth:`GrowthSchedule.next_state` and :func:`recast.train.recipe.phase_at`)."""
    bounds = sorted({0.0, 1.0, *schedule.at, *(phase.start for phase in recipe.phases)})
    result = []
    for start, end in itertools.pairwise(bounds):
        stage = sum(start >= at for at in schedule.at)
        result.append(Span(start, end, stage, schedule.sizes[stage], phase_at(recipe, start)))
    return result


def step_seconds(model: FaceSwapModel, batch_size: int, lr: float, optimizer: str, device: str,
                 precision: str = "auto", recipe: Recipe | str = "none") -> list[Timed]:
    """Seconds per training step of ``model`` in each :class:`Span` of the budget under ``recipe`` (one or its
    registered name), on a random batch of ``batch_size`` pairs at its resolution, in the precision training
    would use (:func:`recast.runtime.precision.choose_precision`).

    Each distinct :class:`StepKind` the spans reach is timed once, in training order, with the step set up
    as the trainer sets it up on entering the phase (its settings, each part's lr dropout, the GAN
    discriminator made when first needed). Lr dropout and the GAN are probed because both cost: on a
    shared 2-core CPU (one thread, batch 8) lr dropout's update alone took ~90 ms per step of the ``cpu``
    preset (a random draw over its 11.5 M weights) against a ~310 ms warp-phase step, and ``cpu-grow`` 's
    128 px step took ~1.1 s in the regular phase and ~2.1 s in the GAN phase. Random warp runs in the data
    workers; it reaches the step only through the parameters a model freezes without it.
    """
    import torch

    from recast.models.growth import GrowthSchedule, GrowthState
    from recast.runtime.precision import choose_precision
    from recast.train.distributed import DistInfo
    from recast.train.optim import LrDropout
    from recast.train.options import resolve_settings
    from recast.train.recipe import settings_for
    from recast.train.step import TrainStep, make_gan_discriminator, make_part

    torch_device = torch.device(device)
    model.to(torch_device)
    base = resolve_settings({"batch_size": batch_size, "lr": lr, "optimizer": optimizer})
    step = TrainStep(make_part(model, base, torch_device, 0), base, DistInfo(), torch_device,
                     precision=choose_precision(precision, torch_device, "train"))
    r = model.resolution
    images = torch.rand(2 * batch_size, 3, r, r, device=torch_device)
    mask = torch.ones(batch_size, 1, r, r, device=torch_device)
    batch = {"src_warped": images[:batch_size], "src_target": images[:batch_size], "src_mask": mask,
             "src_em": mask, "dst_warped": images[batch_size:], "dst_target": images[batch_size:],
             "dst_mask": mask, "dst_em": mask}
    schedule: GrowthSchedule | None = getattr(model, "schedule", None)
    measured: dict[StepKind, float] = {}
    timed = []
    stage_now: int | None = None
    for span in spans(schedule or GrowthSchedule((r,), ()), _recipe(recipe)):
        settings = settings_for(span.phase, base).effective()
        kind = StepKind(span.size, settings.lr_dropout < 1, settings.gan_power > 0,
                        bool(model.frozen_parameters(settings)))
        if kind not in measured:
            fresh = span.stage != stage_now
            if schedule is not None and fresh:
                model.set_growth(GrowthState(span.stage, 0.5 if span.stage else 1.0, 0))  # type: ignore[operator]
            stage_now = span.stage
            step.settings = settings
            if kind.gan and step.gan is None:
                step.gan = make_part(make_gan_discriminator(model, settings).to(torch_device), settings,
                                     torch_device, 1)
                if step.precision.loss_scaling:
                    step.gan.scaler = torch.amp.GradScaler(torch_device.type)
                fresh = True
            for part in (step.model_part, step.gan):
                if part is not None:
                    part.dropout = LrDropout(part.params, settings.lr_dropout, part.dropout.seed)
            measured[kind] = _time_steps(step, batch, torch_device, warm_up=fresh)
        timed.append(Timed(span, kind, measured[kind]))
    return timed


def _time_steps(step: TrainStep, batch: dict[str, torch.Tensor], device: torch.device, warm_up: bool) -> float:
    """The fastest of :data:`PROBE_STEPS` calls of ``step`` on ``batch`` (after an untimed one when ``warm_up``)."""
    import torch

    def run(iteration: int) -> float:
        started = time.perf_counter()
        step(batch, iteration)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - started

    if warm_up:
        run(0)
    return min(run(iteration + 1) for iteration in range(PROBE_STEPS))


def _recipe(recipe: Recipe | str) -> Recipe:
    return recipe if isinstance(recipe, Recipe) else get_recipe(recipe)


def budget_iterations(timed: Sequence[Timed], minutes: float) -> int:
    """Iterations ``minutes`` buy: Σ over the spans of share of the budget × 60 × minutes ÷ seconds per step."""
    return int(sum(60 * minutes * (t.span.end - t.span.start) / t.seconds for t in timed))


@dataclass
class BudgetPlan:
    """The chosen preset and why: the step times measured in each span of the budget (``step_seconds``, per
    candidate) and the iterations estimated from them (``iterations``)."""

    model: str
    minutes: float
    device: str
    recipe: Recipe
    iterations: dict[str, int] = field(default_factory=dict)
    step_seconds: dict[str, list[Timed]] = field(default_factory=dict)

    def describe(self) -> str:
        """One line: the preset and recipe, each candidate's estimated iterations against its minimum (so
        why a larger one was not chosen), and the step times measured per size and phase."""
        verdicts = []
        for name, needed in CANDIDATES:
            count = self.iterations.get(name)
            if count is None:
                verdicts.append(f"{name} not measured (needs {needed:,}, more than a lighter preset buys)")
            elif needed == 0:
                verdicts.append(f"{name} ~{count:,} iterations")
            else:
                verdicts.append(f"{name} ~{count:,} iterations, {'reaching' if count >= needed else 'short of'} "
                                f"its {needed:,}")
        several = len(self.recipe.phases) > 1
        times = "; ".join(f"{name} " + ", ".join(
            f"{t.span.size} px{' ' + t.span.phase.name if several else ''} {1000 * t.seconds:.0f}" for t in timed)
            + " ms" for name, timed in self.step_seconds.items())
        return (f"{self.model} for {self.minutes:g} minutes on {self.device}, recipe {self.recipe.name} "
                f"(estimated {'; '.join(verdicts)}; measured steps {times})")


def choose_preset(minutes: float, device: str, precision: str = "auto", recipe: Recipe | str = "dfl") -> BudgetPlan:
    """The best of :data:`CANDIDATES` whose measured step times under ``recipe`` (one or its registered name)
    buy its minimum iterations in ``minutes``.

    Candidates are measured cheapest first; a heavier one is not measured once a lighter one falls short
    of its minimum (it cannot buy more iterations), so a slow machine measures only the small presets.
    """
    import torch

    from recast.models.registry import create_model, get_entry

    plan = BudgetPlan(CANDIDATES[-1][0], minutes, device, _recipe(recipe))
    previous: int | None = None
    for name, needed in reversed(CANDIDATES):
        if previous is not None and previous < needed:
            break
        defaults = get_entry(name).train_defaults
        torch.manual_seed(0)
        timed = step_seconds(create_model(name), int(defaults.get("batch_size", 8)), float(defaults.get("lr", 5e-5)),
                             str(defaults.get("optimizer", "adam")), device, precision, plan.recipe)
        plan.step_seconds[name] = timed
        previous = plan.iterations[name] = budget_iterations(timed, minutes)
        if previous >= needed:
            plan.model = name
    log.info("budget: %s", plan.describe())
    return plan
