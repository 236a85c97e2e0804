"""Training recipes: the phases of each registered recipe, and real short runs that switch, save and resume them."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from safetensors.torch import load_file

from conftest import MakeFacesets, TinyConfig
from recast.cli.trainstatus import TrainStatus
from recast.errors import OptionError
from recast.train import Trainer, TrainOptions, train
from recast.train.options import RECIPES, ProgressEvent, TrainSettings
from recast.train.recipe import (
    DFL_GAN_POWER,
    DFL_LR_DROPOUT,
    PHASE_SETTINGS,
    REGISTRY,
    Phase,
    PhaseLog,
    Recipe,
    choose_phase,
    get_recipe,
    phase_at,
    settings_for,
)

ALL_PHASES = [(recipe, index) for recipe in REGISTRY.values() for index in range(len(recipe.phases))]
FAST = {"batch_size": 4, "optimizer": "adam", "lr": 3e-3}


def _phase_id(item: tuple) -> str:
    recipe, index = item
    return f"{recipe.name}-{recipe.phases[index].name}"


def test_registry_is_the_option_choices() -> None:
    assert tuple(REGISTRY) == RECIPES
    assert get_recipe("DFL") is REGISTRY["dfl"]
    with pytest.raises(OptionError, match="--recipe"):
        get_recipe("sharp")


@pytest.mark.parametrize("item", ALL_PHASES, ids=[_phase_id(item) for item in ALL_PHASES])
def test_phase_at_its_start_and_just_before_the_next(item: tuple) -> None:
    recipe, index = item
    phase = recipe.phases[index]
    assert phase_at(recipe, phase.start) is phase
    end = recipe.phases[index + 1].start if index + 1 < len(recipe.phases) else 1.0
    assert phase_at(recipe, end - 1e-9) is phase
    if index > 0:
        assert phase_at(recipe, phase.start - 1e-9) is recipe.phases[index - 1]
    assert phase_at(recipe, -0.5) is recipe.phases[0] and phase_at(recipe, 7.0) is recipe.phases[-1]


@pytest.mark.parametrize("item", ALL_PHASES, ids=[_phase_id(item) for item in ALL_PHASES])
def test_settings_for_changes_only_the_phase_settings(item: tuple) -> None:
    recipe, index = item
    phase = recipe.phases[index]
    base = TrainSettings(random_warp=not phase.random_warp, lr_dropout=0.7, gan_power=3.0, eyes_mouth_prio=True,
                         uniform_yaw=True, batch_size=5)
    out = settings_for(phase, base)
    changed = {k for k, v in dataclasses.asdict(out).items() if dataclasses.asdict(base)[k] != v}
    assert changed == {k for k, v in phase.overrides().items() if dataclasses.asdict(base)[k] != v}
    assert changed <= set(PHASE_SETTINGS)
    assert all(getattr(out, k) == v for k, v in phase.overrides().items())
    assert phase.eyes_mouth_prio is None and phase.uniform_yaw is None  # not on until an ablation shows they help
    out.validate()


def test_dfl_phases_follow_the_guide() -> None:
    warp, regular, gan = REGISTRY["dfl"].phases
    assert (warp.random_warp, warp.lr_dropout, warp.gan_power) == (True, 1.0, 0.0)
    assert (regular.random_warp, regular.lr_dropout, regular.gan_power) == (False, DFL_LR_DROPOUT, 0.0)
    assert (gan.random_warp, gan.lr_dropout, gan.gan_power) == (False, DFL_LR_DROPOUT, DFL_GAN_POWER)
    assert (warp.start, regular.start, gan.start) == (0.0, 0.6, 0.9)
    base = TrainSettings()
    assert settings_for(REGISTRY["none"].phases[0], base) is base
    assert settings_for(gan, base).gan_patch_size == 0 and settings_for(gan, base).gan_dims == 16  # resolution/8, 16


@given(st.sampled_from(list(REGISTRY.values())), st.floats(-1, 2), st.floats(-1, 2), st.none() | st.text(max_size=8))
def test_choose_phase_never_goes_back(recipe, a: float, b: float, saved: str | None) -> None:
    floor = recipe.index(saved) or 0
    low, high = sorted((a, b))
    first, second = choose_phase(recipe, low, saved), choose_phase(recipe, high, saved)
    assert floor <= recipe.phases.index(first) <= recipe.phases.index(second)
    assert choose_phase(recipe, None, saved) is recipe.phases[floor]


def test_phase_log_round_trip_and_damaged_records() -> None:
    dfl = REGISTRY["dfl"]
    record = PhaseLog.start(dfl, dfl.phases[0], 0).entered(dfl.phases[1], 6)
    assert record.to_json() == {"name": "dfl", "phase": "regular", "began": {"warp": 0, "regular": 6}}
    assert PhaseLog.from_json(json.loads(json.dumps(record.to_json())), dfl) == record
    assert record.entered(dfl.phases[1], 9) is record
    for damaged in (None, 5, {"name": "none", "phase": "train", "began": {}}, {**record.to_json(), "phase": "x"},
                    {**record.to_json(), "began": {"warp": -1}}, {**record.to_json(), "began": {"warp": True}},
                    {**record.to_json(), "began": [["warp", 0]]}):
        assert PhaseLog.from_json(damaged, dfl) is None


def test_status_line_shows_the_phase(tmp_path: Path) -> None:
    status = TrainStatus(Console(file=open(os.devnull, "w")), tmp_path / "p.png", 10, None, None)  # noqa: SIM115
    assert "phase regular" in status.line(ProgressEvent("iteration", 7, 10.0, {"src": 0.1}, phase="regular"))
    assert "phase" not in status.line(ProgressEvent("iteration", 7, 10.0, {"src": 0.1}))


# ------------------------------------------------------------------------------------------- real runs
@pytest.fixture(scope="module")
def faces(make_facesets: MakeFacesets) -> tuple[Path, Path]:
    return make_facesets(6, size=64)


def _options(faces: tuple[Path, Path], config: dict, model_dir: Path, **kw: object) -> TrainOptions:
    base = {"model": "saehd", "model_config": dict(config), "settings": dict(FAST), "workers": 0,
            "preview_every": 0, "autosave_minutes": 0, "threads": 1, "iterations": 10, "recipe": "dfl"}
    base.update(kw)
    return TrainOptions(faces[0], faces[1], model_dir, **base)  # type: ignore[arg-type]


def _state(model_dir: Path) -> dict:
    return json.loads((model_dir / "state.json").read_text())


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(model_dir / _state(model_dir)["checkpoint"] / "weights.safetensors"))


def _phases_of_ten() -> dict[int, str]:
    """Iteration → phase of ``--recipe dfl --iterations 10``: iterations 1-6 train warped (fraction < 0.6),
    7-9 regular, the 10th with the GAN (fraction ≥ 0.9)."""
    return {**dict.fromkeys(range(1, 7), "warp"), **dict.fromkeys(range(7, 10), "regular"), 10: "gan"}


def _phases(events: list[ProgressEvent]) -> dict[int, str]:
    return {e.iteration: e.phase for e in events if e.kind == "iteration"}


@pytest.mark.usefixtures("one_torch_thread")
def test_dfl_switches_phases_at_the_budget_fractions(faces: tuple[Path, Path], tmp_path: Path,
                                                     tiny_config: TinyConfig) -> None:
    events: list[ProgressEvent] = []
    model_dir = tmp_path / "m"
    options = _options(faces, tiny_config(), model_dir, preview_every=5, on_event=events.append)
    with Trainer(options) as trainer:
        result = trainer.run()
        dropout_keep = trainer.parts["model"].dropout.keep
        warp = trainer.loader.dataset.spec.src.random_warp
        steps = {float(s["step"]) for s in trainer.parts["model"].optimizer.state.values()}
    assert result.iteration == 10
    assert _phases(events) == _phases_of_ten()
    losses = {e.iteration: e.losses for e in events if e.kind == "iteration"}
    assert "gan_g" in losses[10] and not any("gan_g" in losses[i] for i in range(1, 10))
    switches = [e.message for e in events if e.kind == "info" and "from iteration" in e.message]
    assert len(switches) == 2 and "phase regular from iteration 6" in switches[0]
    assert dropout_keep == DFL_LR_DROPOUT and warp is False
    assert steps == {10.0}  # the generator's optimiser state went through both switches
    state = _state(model_dir)
    assert state["recipe"] == {"name": "dfl", "phase": "gan", "began": {"warp": 0, "regular": 6, "gan": 9}}
    assert state["settings"]["random_warp"] is True and state["settings"]["gan_power"] == 0  # the run's own
    assert any(k.startswith("gan_d.") for k in _weights(model_dir))
    history = json.loads((model_dir / "previews" / "loss_history.json").read_text())
    assert history["phases"] == {"warp": 0, "regular": 6, "gan": 9}


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize(("stop", "phase", "began"), [(5, "warp", {"warp": 0}),
                                                      (7, "regular", {"warp": 0, "regular": 6})])
def test_dfl_resumes_mid_phase(faces: tuple[Path, Path], tmp_path: Path, tiny_config: TinyConfig, stop: int,
                               phase: str, began: dict[str, int]) -> None:
    config = tiny_config()
    straight = train(_options(faces, config, tmp_path / "a"))

    def interrupt(event: ProgressEvent) -> None:
        if event.kind == "iteration" and event.iteration == stop:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does: finish the iteration, save, stop

    stopped = train(_options(faces, config, tmp_path / "b", on_event=interrupt))
    assert (stopped.status, stopped.iteration) == ("interrupted", stop)
    assert _state(tmp_path / "b")["recipe"] == {"name": "dfl", "phase": phase, "began": began}
    events: list[ProgressEvent] = []
    resumed = train(_options(faces, config, tmp_path / "b", model=None, model_config={}, settings={},
                             on_event=events.append))
    assert resumed.iteration == straight.iteration == 10
    assert next(e.phase for e in events if e.kind == "info" and e.phase) == phase  # the saved phase goes on
    assert _phases(events) == {i: p for i, p in _phases_of_ten().items() if i > stop}
    assert _state(tmp_path / "b")["recipe"] == _state(tmp_path / "a")["recipe"]
    assert resumed.history["src"] == pytest.approx(straight.history["src"], rel=1e-4)
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    card = (tmp_path / "b" / "MODEL_CARD.md").read_text()
    assert "Recipe `dfl`, now in phase **gan**" in card and "regular from iteration 6" in card


@pytest.mark.usefixtures("one_torch_thread")
def test_recipe_none_keeps_the_settings(faces: tuple[Path, Path], tmp_path: Path, tiny_config: TinyConfig) -> None:
    events: list[ProgressEvent] = []
    options = _options(faces, tiny_config(), tmp_path / "m", iterations=4, on_event=events.append,
                       settings={**FAST, "lr_dropout": 0.5})
    options.recipe = TrainOptions.recipe  # the default
    assert options.recipe == "none"
    with Trainer(options) as trainer:
        trainer.run()
        assert trainer.settings == trainer.chosen_settings and trainer.parts["model"].dropout.keep == 0.5
        assert trainer.loader.dataset.spec.src.random_warp is True and "gan_d" not in trainer.parts
    assert all(e.phase == "" for e in events) and not any(e.message.startswith("recipe") for e in events)
    state = _state(tmp_path / "m")
    assert state["recipe"] == {"name": "none", "phase": "train", "began": {"train": 0}}
    assert state["settings"]["lr_dropout"] == 0.5


@pytest.mark.usefixtures("one_torch_thread")
def test_train_follows_a_recipe_object_instead_of_the_named_one(faces: tuple[Path, Path], tmp_path: Path,
                                                                 tiny_config: TinyConfig) -> None:
    """A :class:`Recipe` given to train() (how benchmarks/quality.py runs its phase ablation) is the one trained
    in, saved and carded, not ``options.recipe`` (dfl here): warp for half of 4 iterations, then regular without
    lr dropout and without the GAN."""
    recipe = Recipe("warp-regular", (Phase("warp", 0.0, random_warp=True, lr_dropout=1.0, gan_power=0.0),
                                     Phase("regular", 0.5, random_warp=False, lr_dropout=1.0, gan_power=0.0)),
                    "ablation: the regular phase without lr dropout")
    events: list[ProgressEvent] = []
    model_dir = tmp_path / "m"
    result = train(_options(faces, tiny_config(), model_dir, iterations=4, on_event=events.append), recipe)
    assert result.iteration == 4
    assert _phases(events) == {1: "warp", 2: "warp", 3: "regular", 4: "regular"}
    switches = [e.message for e in events if e.kind == "info" and "from iteration" in e.message]
    assert switches == ["recipe warp-regular: phase regular from iteration 2 (random_warp off, lr_dropout off, "
                        "gan_power off)"]
    assert not any("gan_g" in e.losses for e in events if e.kind == "iteration")
    assert _state(model_dir)["recipe"] == {"name": "warp-regular", "phase": "regular",
                                           "began": {"warp": 0, "regular": 2}}
    assert not any(k.startswith("gan_d.") for k in _weights(model_dir))
    assert "Recipe `warp-regular`, now in phase **regular**" in (model_dir / "MODEL_CARD.md").read_text()


@pytest.mark.slow
def test_dfl_in_two_processes_matches_one(tmp_path: Path, tiny_config: TinyConfig, make_facesets: MakeFacesets) -> None:
    """The GAN discriminator created at the switch is data-parallel too: two processes end where one does."""
    from test_train_ddp import LR, SETTINGS, assert_trained_alike, config_file, max_difference, recast_train

    config = tiny_config()
    src, dst = make_facesets(8)
    for name, iterations in (("one", 10), ("init", 0)):
        train(TrainOptions(src, dst, tmp_path / name, model="saehd", model_config=config, settings=SETTINGS,
                           iterations=iterations, workers=0, preview_every=0, seed=5, threads=1, device="cpu",
                           precision="fp32", recipe="dfl"))
    done = recast_train(src, dst, tmp_path / "two", config_file(tmp_path / "run.toml", config, SETTINGS), 10,
                        "--recipe", "dfl")
    assert done.returncode == 0, done.stderr[-3000:]
    assert _state(tmp_path / "two")["recipe"] == _state(tmp_path / "one")["recipe"]
    init, one, two = (_weights(tmp_path / name) for name in ("init", "one", "two"))
    gan = {k for k in two if k.startswith("gan_d.")}
    assert gan and not gan & set(init)
    # one GAN iteration of split-batch rounding stays near 2e-6; a discriminator not averaged over the ranks
    # moves each of its weights by ~lr (1e-4) differently on each rank
    assert max_difference({k: one[k] for k in gan}, {k: two[k] for k in gan}) <= 1e-5
    assert_trained_alike(init, {k: one[k] for k in init}, {k: two[k] for k in init}, LR, 10)
