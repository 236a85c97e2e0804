"""``recast run --minutes N`` picks the preset by the step times it measures on this machine."""

from __future__ import annotations

import pytest

from recast.models import create_model
from recast.pipeline.budget import CANDIDATES, budget_iterations, choose_preset, step_seconds

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_iterations_a_budget_buys() -> None:
    assert budget_iterations("cpu", [0.25], 60) == 14_400
    # cpu-grow: 35 % of the time at 64 px, 35 % at 96 px, 30 % at 128 px
    assert abs(budget_iterations("cpu-grow", [1.0, 2.0, 4.0], 60) - 3600 * (0.35 + 0.35 / 2 + 0.3 / 4)) <= 1


def test_a_growing_model_is_timed_at_every_size() -> None:
    model = create_model("saehd", archi="df-ud", resolution=128, growth=[64, 96], ae_dims=32, e_dims=8, d_dims=8,
                         d_mask_dims=4)
    seconds = step_seconds(model, 2, 1e-4, "adam", "cpu")
    assert len(seconds) == 3 and all(s > 0 for s in seconds)


def test_a_short_budget_measures_only_the_small_preset_and_takes_it() -> None:
    plan = choose_preset(0.05, "cpu")
    assert plan.model == CANDIDATES[-1][0] == "cpu"
    assert list(plan.step_seconds) == ["cpu"] and plan.iterations["cpu"] < CANDIDATES[-2][1]
    assert plan.describe().startswith("cpu for 0.05 minutes on cpu (estimated cpu ~")
