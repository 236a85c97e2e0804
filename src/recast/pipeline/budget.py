"""``recast run --minutes N`` without a model: choose the preset for the time budget and this machine.

The choice is measured, not guessed from a CPU name: each candidate's training step is timed here,
now (a few real forward + backward + optimiser steps on a batch of the preset's size, with the
torch threads the run will use, so a machine under load measures slower). Iterations the budget
buys follow from that: for a growing preset, the sum over its stages of (share of the budget ÷
step time at that stage's size).

The candidates, best first (:data:`CANDIDATES`): a 128 px SAEHD, the growing ``cpu-grow`` preset
(64 → 96 → 128 px) and the plain 64 px ``cpu`` preset. The best whose estimated iterations reach
its minimum wins; ``cpu`` is the fallback. The minimums are what each needs to look like the source
person: the 64 px preset reads as the person after ~3,000 iterations (~13,000 in 60 CPU minutes
gave every frame verified); the growing one spends a third of its budget at each size, so it
needs about three times that.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recast.models.base import FaceSwapModel

CANDIDATES: tuple[tuple[str, int], ...] = (("saehd", 40_000), ("cpu-grow", 9_000), ("cpu", 0))
"""(registry name, iterations the budget must buy) in order of preference."""

PROBE_STEPS = 2
"""Timed steps per size (after one untimed warm-up step); the fastest counts (other programs' load
comes in bursts; the trainer's thread tuning recovers part of it)."""

log = logging.getLogger(__name__)


@dataclass
class BudgetPlan:
    """The chosen preset and why: ``step_seconds`` per candidate size measured, ``iterations`` estimated."""

    model: str
    minutes: float
    device: str
    iterations: dict[str, int] = field(default_factory=dict)
    step_seconds: dict[str, list[float]] = field(default_factory=dict)

    def describe(self) -> str:
        """One line naming the preset, the estimates it was chosen by and the step times measured."""
        estimates = ", ".join(f"{name} ~{count:,} iterations" for name, count in self.iterations.items())
        times = "; ".join(f"{name} " + "/".join(f"{1000 * s:.0f}" for s in seconds) + " ms"
                          for name, seconds in self.step_seconds.items())
        return (f"{self.model} for {self.minutes:g} minutes on {self.device} (estimated {estimates}; "
                f"measured steps {times})")


def step_seconds(model: FaceSwapModel, batch_size: int, lr: float, optimizer: str, device: str,
                 precision: str = "auto") -> list[float]:
    """Seconds per training step of ``model`` at each size it trains at (one for a fixed-size model), on a
    random batch of ``batch_size`` pairs at its resolution, in the precision training would use
    (:func:`recast.runtime.precision.choose_precision`)."""
    import torch

    from recast.models.growth import GrowthState
    from recast.runtime.precision import choose_precision
    from recast.train.distributed import DistInfo
    from recast.train.options import resolve_settings
    from recast.train.step import TrainStep, make_part

    torch_device = torch.device(device)
    model.to(torch_device)
    settings = resolve_settings({"batch_size": batch_size, "lr": lr, "optimizer": optimizer})
    step = TrainStep(make_part(model, settings, torch_device, 0), settings, DistInfo(), torch_device,
                     precision=choose_precision(precision, torch_device, "train"))
    r = model.resolution
    images = torch.rand(2 * batch_size, 3, r, r, device=torch_device)
    mask = torch.ones(batch_size, 1, r, r, device=torch_device)
    batch = {"src_warped": images[:batch_size], "src_target": images[:batch_size], "src_mask": mask,
             "src_em": mask, "dst_warped": images[batch_size:], "dst_target": images[batch_size:],
             "dst_mask": mask, "dst_em": mask}
    schedule = getattr(model, "schedule", None)
    stages = range(len(schedule.sizes)) if schedule is not None else [None]
    seconds = []
    for stage in stages:
        if stage is not None:
            model.set_growth(GrowthState(stage, 0.5 if stage else 1.0, 0))  # type: ignore[operator]
        step(batch, 0)
        if torch_device.type == "cuda":
            torch.cuda.synchronize()
        timed = []
        for iteration in range(PROBE_STEPS):
            started = time.perf_counter()
            step(batch, iteration + 1)
            if torch_device.type == "cuda":
                torch.cuda.synchronize()
            timed.append(time.perf_counter() - started)
        seconds.append(min(timed))
    return seconds


def budget_iterations(name: str, seconds: list[float], minutes: float) -> int:
    """Iterations ``minutes`` buy for registry name ``name`` with ``seconds`` per step at each of its sizes."""
    from recast.models.growth import GrowthSchedule
    from recast.models.registry import get_entry

    preset = get_entry(name).preset
    if len(seconds) == 1:
        return int(60 * minutes / seconds[0])
    schedule = GrowthSchedule.evenly([*preset["growth"], preset["resolution"]], list(preset.get("growth_at", [])))
    bounds = [0.0, *schedule.at, 1.0]
    spans = itertools.pairwise(bounds)
    return int(sum(60 * minutes * (end - start) / s for (start, end), s in zip(spans, seconds, strict=True)))


def choose_preset(minutes: float, device: str, precision: str = "auto") -> BudgetPlan:
    """The best of :data:`CANDIDATES` whose measured step times buy its minimum iterations in ``minutes``.

    Candidates are measured cheapest first; a heavier one is not measured once a lighter one falls short
    of its minimum (it cannot buy more iterations), so a slow machine measures only the small presets.
    """
    import torch

    from recast.models.registry import create_model, get_entry

    plan = BudgetPlan(CANDIDATES[-1][0], minutes, device)
    previous: int | None = None
    for name, needed in reversed(CANDIDATES):
        if previous is not None and previous < needed:
            break
        defaults = get_entry(name).train_defaults
        torch.manual_seed(0)
        seconds = step_seconds(create_model(name), int(defaults.get("batch_size", 8)), float(defaults.get("lr", 5e-5)),
                               str(defaults.get("optimizer", "adam")), device, precision)
        plan.step_seconds[name] = seconds
        previous = plan.iterations[name] = budget_iterations(name, seconds, minutes)
        if previous >= needed:
            plan.model = name
    log.info("budget: %s", plan.describe())
    return plan
