"""``recast run --minutes N`` picks the preset by the step times it measures on this machine, under the run's recipe."""

from __future__ import annotations

from typing import Any

import pytest

from recast.models import create_model
from recast.models.growth import GrowthSchedule
from recast.models.registry import get_entry
from recast.pipeline.budget import (
    CANDIDATES,
    BudgetPlan,
    Span,
    StepKind,
    Timed,
    budget_iterations,
    choose_preset,
    spans,
    step_seconds,
)
from recast.train.recipe import get_recipe

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cpu_grow_schedule() -> GrowthSchedule:
    preset = get_entry("cpu-grow").preset
    return GrowthSchedule.evenly([*preset["growth"], preset["resolution"]], preset["growth_at"])


def _timed(cut: list[Span], seconds: list[float]) -> list[Timed]:
    return [Timed(span, StepKind(span.size, False, False, False), s) for span, s in zip(cut, seconds, strict=True)]


def test_growth_steps_and_phase_starts_interleave() -> None:
    cut = spans(_cpu_grow_schedule(), get_recipe("dfl"))
    assert [(s.start, s.end, s.stage, s.size, s.phase.name) for s in cut] == [
        (0.0, 0.35, 0, 64, "warp"), (0.35, 0.6, 1, 96, "warp"), (0.6, 0.7, 1, 96, "regular"),
        (0.7, 0.9, 2, 128, "regular"), (0.9, 1.0, 2, 128, "gan")]
    # 60 minutes: 0.35 h at 1 s, 0.25 h at 2 s, 0.1 h at 2.5 s, 0.2 h at 4 s, 0.1 h at 5 s
    expected = 3600 * (0.35 / 1 + 0.25 / 2 + 0.1 / 2.5 + 0.2 / 4 + 0.1 / 5)
    assert abs(budget_iterations(_timed(cut, [1.0, 2.0, 2.5, 4.0, 5.0]), 60) - expected) <= 1
    assert round(expected) == 2106


def test_a_growth_step_on_a_phase_start_is_one_boundary() -> None:
    cut = spans(GrowthSchedule((32, 64), (0.6,)), get_recipe("dfl"))
    assert [(s.start, s.end, s.size, s.phase.name) for s in cut] == [
        (0.0, 0.6, 32, "warp"), (0.6, 0.9, 64, "regular"), (0.9, 1.0, 64, "gan")]


def test_recipe_none_keeps_the_growth_stages_arithmetic() -> None:
    cut = spans(_cpu_grow_schedule(), get_recipe("none"))
    assert [(s.start, s.end, s.size) for s in cut] == [(0.0, 0.35, 64), (0.35, 0.7, 96), (0.7, 1.0, 128)]
    # cpu-grow: 35 % of the time at 64 px, 35 % at 96 px, 30 % at 128 px
    assert abs(budget_iterations(_timed(cut, [1.0, 2.0, 4.0]), 60) - 3600 * (0.35 + 0.35 / 2 + 0.3 / 4)) <= 1
    fixed = spans(GrowthSchedule((64,), ()), get_recipe("none"))
    assert budget_iterations(_timed(fixed, [0.25]), 60) == 14_400


def test_a_growing_model_is_timed_at_every_size_and_phase(tiny_config: Any) -> None:
    config = tiny_config(resolution=128, growth=[64], growth_at=[0.5])
    timed = step_seconds(create_model("saehd", **config), 2, 1e-4, "adam", "cpu", recipe="dfl")
    assert [(t.span.size, t.span.phase.name) for t in timed] == [(64, "warp"), (128, "warp"), (128, "regular"),
                                                                    (128, "gan")]
    assert [(t.kind.lr_dropout, t.kind.gan) for t in timed] == [(False, False), (False, False), (True, False),
                                                                  (True, True)]
    assert all(t.seconds > 0 for t in timed)
    assert len({t.seconds for t in timed}) == 4  # each kind of step timed on its own, the GAN phase's included
    plain = step_seconds(create_model("saehd", **config), 2, 1e-4, "adam", "cpu")
    assert [(t.span.size, t.kind.lr_dropout, t.kind.gan) for t in plain] == [(64, False, False), (128, False, False)]
    liae = step_seconds(create_model("saehd", **tiny_config(archi="liae-ud")), 2, 1e-4, "adam", "cpu", recipe="dfl")
    assert [t.kind.frozen for t in liae] == [False, True, True]  # LIAE's inter_AB rests while random warp is off


def test_the_plan_says_why_each_candidate_was_or_was_not_chosen() -> None:
    cut = spans(_cpu_grow_schedule(), get_recipe("dfl"))
    plan = BudgetPlan("cpu-grow", 60, "cpu", get_recipe("dfl"), {"cpu": 20_000, "cpu-grow": 9_500},
                      {"cpu-grow": _timed(cut, [0.15, 0.2, 0.25, 0.3, 0.4])})
    assert plan.describe() == (
        "cpu-grow for 60 minutes on cpu, recipe dfl (estimated saehd not measured (needs 40,000, more than a "
        "lighter preset buys); cpu-grow ~9,500 iterations, reaching its 9,000; cpu ~20,000 iterations; "
        "measured steps cpu-grow 64 px warp 150, 96 px warp 200, 96 px regular 250, 128 px regular 300, "
        "128 px gan 400 ms)")


def test_a_short_budget_measures_only_the_small_preset_and_takes_it() -> None:
    plan = choose_preset(0.05, "cpu")
    assert plan.model == CANDIDATES[-1][0] == "cpu" and plan.recipe.name == "dfl"
    assert list(plan.step_seconds) == ["cpu"] and plan.iterations["cpu"] < CANDIDATES[-2][1]
    assert [t.span.phase.name for t in plan.step_seconds["cpu"]] == ["warp", "regular", "gan"]
    line = plan.describe()
    assert line.startswith("cpu for 0.05 minutes on cpu, recipe dfl (estimated saehd not measured")
    assert "cpu-grow not measured (needs 9,000" in line and "64 px gan " in line
