"""Progressive growth: identical outputs at fade-in 0, real steps at every size, resume across a growth step."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import MakeFacesets, TinyConfig
from recast.errors import OptionError
from recast.faces.facetype import FaceType
from recast.models import create_model
from recast.models.growth import GrowthSchedule, GrowthState, Progress, plateaued, resize
from recast.models.inference import FaceSwapper
from recast.train.distributed import DistInfo
from recast.train.options import ProgressEvent, TrainOptions, resolve_settings
from recast.train.step import TrainStep, make_part
from recast.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_torch_thread")



def _grow_model(tiny_config: TinyConfig, archi: str = "df-ud") -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("saehd", **tiny_config(wider=True, archi=archi, resolution=128, growth=[64, 96]))


def _batch(res: int, n: int = 2) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    images = resize(torch.rand(2 * n, 3, res // 8, res // 8, generator=gen), res)
    mask = torch.ones(n, 1, res, res)
    return {"src_warped": images[:n], "src_target": images[:n], "src_mask": mask, "src_em": mask * 0,
            "dst_warped": images[n:], "dst_target": images[n:], "dst_mask": mask, "dst_em": mask * 0}


@pytest.mark.parametrize("archi", ["df-ud", "liae-ud"])
def test_growing_keeps_the_output_at_fade_in_zero(archi: str, tiny_config: TinyConfig) -> None:
    model = _grow_model(tiny_config, archi).eval()
    x, y = torch.rand(2, 3, 128, 128), torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        small = model(x, y, with_swap=True)
        small_swap = model.swap(y)
        assert model.train_resolution == 64 and small.pred_src_src.shape[-1] == 64
        for stage, size in ((1, 96), (2, 128)):
            model.set_growth(GrowthState(stage - 1, 1.0, 0))  # the previous size has faded in
            before = model(x, y, with_swap=True)
            model.set_growth(GrowthState(stage, 0.0, 0))
            grown = model(x, y, with_swap=True)
            assert model.train_resolution == size and grown.pred_src_src.shape[-1] == size
            for old, new in ((before.pred_src_src, grown.pred_src_src), (before.pred_dst_dst, grown.pred_dst_dst),
                             (before.pred_src_dst, grown.pred_src_dst)):
                assert torch.allclose(resize(old, size), new, atol=1e-6)
            model.set_growth(GrowthState(stage, 0.5, 0))
            assert not torch.allclose(model(x, y).pred_src_src, grown.pred_src_src, atol=1e-4)
        model.set_growth(GrowthState(1, 0.0, 0))
        swap = model.swap(y)  # always the final size; at fade-in 0 the grown model swaps as the small one did
        assert all(t.shape[-1] == 128 for t in swap) and all(t.shape[-1] == 128 for t in small_swap)
        assert small.pred_src_dst is not None
        assert torch.allclose(small_swap[0], resize(small.pred_src_dst, 128), atol=1e-6)
        assert torch.allclose(swap[0], resize(resize(small.pred_src_dst, 96), 128), atol=1e-6)
        model.set_growth(GrowthState(2, 0.3, 0))
        assert torch.equal(model.swap_face(y), model.swap(y)[0])


def test_real_steps_at_every_size_train_only_the_active_stages(tiny_config: TinyConfig) -> None:
    model = _grow_model(tiny_config)
    settings = resolve_settings({"optimizer": "adam", "lr": 3e-3})
    step = TrainStep(make_part(model, settings, torch.device("cpu"), 0), settings, DistInfo(), torch.device("cpu"))
    batch = _batch(128)
    for stage in range(3):
        model.set_growth(GrowthState(stage, 1.0 if stage == 0 else 0.5, 0))
        weights = {name: p.detach().clone() for name, p in model.named_parameters()}
        losses = [step(batch, i)["total"] for i in range(3)]
        assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses
        changed = {name for name, p in model.named_parameters() if not torch.equal(p, weights[name])}
        for index in range(2):
            active = index < stage
            assert any(n.startswith(f"tail_src.stages.{index}.") for n in changed) == active, (stage, index)
        assert any(n.startswith("decoder_src.") for n in changed)


def test_schedule_by_budget_and_by_plateau() -> None:
    schedule = GrowthSchedule.evenly([64, 96, 128], [0.4, 0.8])
    state = GrowthState()
    for fraction, expected in ((0.1, (0, 1.0)), (0.45, (1, 0.5)), (0.4, (1, 0.5)), (0.6, (1, 1.0)),
                               (0.81, (2, 0.2)), (1.0, (2, 1.0))):
        state = schedule.next_state(state, Progress(int(fraction * 100), fraction, []))
        assert (state.stage, round(state.alpha, 6)) == expected, fraction  # never backwards
    assert GrowthSchedule.evenly([64, 96, 128], []).at == (0.3333, 0.6667)
    falling = list(np.linspace(1.0, 0.5, 1000))
    flat = [0.5] * 1000
    assert not plateaued(falling) and plateaued(flat) and not plateaued(flat[:999])
    state = schedule.next_state(GrowthState(), Progress(1000, None, flat))
    assert state == GrowthState(1, 0.0, 1000)
    state = schedule.next_state(state, Progress(1001, None, flat))
    assert state.stage == 1 and 0 < state.alpha < 0.01


def test_config_checks_the_sizes(tiny_config: TinyConfig) -> None:
    with pytest.raises(OptionError, match="increase"):
        create_model("saehd", **tiny_config(wider=True, archi="liae-ud", resolution=128, growth=[64, 128]))
    with pytest.raises(OptionError, match="multiple of 32"):
        create_model("saehd", **tiny_config(wider=True, resolution=128, growth=[80]))
    with pytest.raises(OptionError, match="whole factor"):
        create_model("saehd", **tiny_config(wider=True, archi="df", resolution=128, growth=[96]))
    with pytest.raises(OptionError, match="growth_at"):
        create_model("saehd", **tiny_config(wider=True, archi="liae-ud", resolution=128, growth=[64, 96],
                                                 growth_at=[0.5]))


def test_resume_across_a_growth_step(tmp_path: Path, tiny_config: TinyConfig, make_facesets: MakeFacesets) -> None:
    """Interrupted at the 96 px stage, resumed, grown to 128 px; merge swaps at 128 px."""
    src, dst = make_facesets(6, size=160, face_type=FaceType.WHOLE)
    model_dir = tmp_path / "model"
    config = tiny_config(wider=True, resolution=128, growth=[64, 96], growth_at=[0.25, 0.75], face_type="full")
    events: list[ProgressEvent] = []

    def stop_at_3(event: ProgressEvent) -> None:
        events.append(event)
        if event.kind == "iteration" and event.iteration == 3:
            raise KeyboardInterrupt

    common = {"src": src, "dst": dst, "model_dir": model_dir, "model": "saehd", "workers": 0, "preview_every": 1,
              "settings": {"batch_size": 2}, "iterations": 8}
    first = train(TrainOptions(**common, model_config=config, on_event=stop_at_3))
    assert first.status == "interrupted" and first.iteration == 3
    state = json.loads((model_dir / "state.json").read_text())
    assert state["growth"]["stage"] == 1 and state["growth"]["resolution"] == 96 and state["growth"]["since"] == 2
    assert any("grew to 96 px" in e.message for e in events)
    config_json = json.loads((model_dir / "config.json").read_text())["config"]
    assert config_json["growth"] == [64, 96] and config_json["growth_at"] == [0.25, 0.75]

    events.clear()
    second = train(TrainOptions(**common, on_event=events.append))
    assert second.status == "done" and second.iteration == 8
    grew = [e for e in events if "grew to" in e.message]
    assert [e.message.split(" at ")[0] for e in grew] == ["grew to 128 px"] and grew[0].iteration == 6
    state = json.loads((model_dir / "state.json").read_text())
    assert state["growth"] == {"sizes": [64, 96, 128], "at": [0.25, 0.75], "stage": 2, "resolution": 128,
                               "alpha": 1.0, "since": 6}
    for size in (64, 96, 128):
        preview = cv2.imread(str(model_dir / "previews" / f"preview_{size}px.png"))
        assert preview is not None and preview.shape[1] == 7 * size
    tail = tmp_path / "tail"  # previews every 100 iterations: still one of the last state at each size
    train(TrainOptions(**{**common, "model_dir": tail, "iterations": 4, "preview_every": 100}, model_config=config))
    assert sorted(p.name for p in (tail / "previews").glob("preview_*px.png")) == [
        "preview_128px.png", "preview_64px.png", "preview_96px.png"]
    swapper = FaceSwapper.load(model_dir, device="cpu")
    assert swapper.resolution == 128
    face, _, _ = swapper.swap(np.random.default_rng(0).random((1, 128, 128, 3), dtype=np.float32))
    assert face.shape == (1, 128, 128, 3)
