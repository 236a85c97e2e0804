"""End-to-end training runs on synthetic aligned facesets: resume, options, safety, modes, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import MakeFacesets, TinyConfig
from recast.errors import OptionError
from recast.faces.facetype import FaceType
from recast.models.inference import FaceSwapper
from recast.models.registry import get_entry
from recast.train import Trainer, TrainOptions, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = {"batch_size": 4, "optimizer": "adam", "lr": 3e-3}


@pytest.fixture(scope="module")
def facesets(make_facesets: MakeFacesets) -> tuple[Path, Path]:
    """Ten 96 px whole faces a side: wider than the SAEHD's full face (re-cropped through the landmarks)
    and the AMP's whole face, and enough faces for the loss to fall."""
    return make_facesets(10, size=96, face_type=FaceType.WHOLE)


def _options(facesets: tuple[Path, Path], config: dict, model_dir: Path, **kw: object) -> TrainOptions:
    base = {"model": "saehd", "model_config": dict(config), "settings": dict(FAST), "workers": 0,
            "preview_every": 0, "autosave_minutes": 0, "threads": 1}
    base.update(kw)
    return TrainOptions(facesets[0], facesets[1], model_dir, **base)  # type: ignore[arg-type]


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    state = json.loads((model_dir / "state.json").read_text())
    return load_file(str(model_dir / state["checkpoint"] / "weights.safetensors"))


def test_train_loss_falls_and_writes_model(facesets: tuple[Path, Path], tmp_path: Path,
                                           tiny_config: TinyConfig) -> None:
    config = tiny_config(wider=True)
    events: list = []
    result = train(_options(facesets, config, tmp_path / "m", iterations=20, preview_every=10, on_event=events.append))
    assert result.status == "done" and result.iteration == 20
    src = result.history["src"]
    assert np.mean(src[-5:]) < 0.8 * np.mean(src[:5])
    assert {"iteration", "save", "preview", "done"} <= {e.kind for e in events}
    for name in ("config.json", "state.json", "previews/preview.png", "previews/loss.png",
                 "previews/loss_history.json", "previews/history/000000020.png"):
        assert (tmp_path / "m" / name).is_file(), name
    swapper = FaceSwapper.load(tmp_path / "m")
    assert swapper.resolution == 64 and swapper.face_type is FaceType.FULL and swapper.iteration == 20
    face, src_mask, dst_mask = swapper.swap(np.random.rand(2, 64, 64, 3).astype(np.float32))
    assert face.shape == (2, 64, 64, 3) and src_mask.shape == dst_mask.shape == (2, 64, 64)


def test_resume_continues_the_same_curve(facesets: tuple[Path, Path], tmp_path: Path, tiny_config: TinyConfig) -> None:
    config = tiny_config(wider=True)
    straight = train(_options(facesets, config, tmp_path / "a", iterations=6))
    train(_options(facesets, config, tmp_path / "b", iterations=3))
    resumed = train(_options(facesets, config, tmp_path / "b", model=None, model_config={}, settings={}, iterations=6))
    assert resumed.iteration == straight.iteration == 6
    assert resumed.history["src"] == pytest.approx(straight.history["src"], rel=1e-5)
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_fixed_options_refused_settings_change(facesets: tuple[Path, Path], tmp_path: Path,
                                               tiny_config: TinyConfig) -> None:
    config = tiny_config(wider=True)
    train(_options(facesets, config, tmp_path / "m", iterations=1))
    with pytest.raises(OptionError, match="resolution is fixed"):
        Trainer(_options(facesets, config, tmp_path / "m", model_config={"resolution": 128}))
    with pytest.raises(OptionError, match="holds a 'saehd' model"):
        Trainer(_options(facesets, config, tmp_path / "m", model="amp", model_config={}))
    result = train(_options(facesets, config, tmp_path / "m", settings={"batch_size": 2, "optimizer": "rmsprop"},
                            more=1))
    assert result.iteration == 2
    state = json.loads((tmp_path / "m" / "state.json").read_text())
    assert state["settings"]["batch_size"] == 2 and state["optimizer"] == "rmsprop"


def test_divergence_restores_last_good_save(facesets: tuple[Path, Path], tmp_path: Path,
                                            tiny_config: TinyConfig) -> None:
    config = tiny_config(wider=True)
    train(_options(facesets, config, tmp_path / "m", iterations=2))
    good = _weights(tmp_path / "m")
    events: list = []
    with Trainer(_options(facesets, config, tmp_path / "m", iterations=5, on_event=events.append)) as trainer:
        with torch.no_grad():  # simulate a numerical blow-up inside the model
            next(trainer.model.parameters()).fill_(float("nan"))
        result = trainer.run()
    assert result.status == "diverged" and "NaN" in result.message and "restored" in result.message
    assert result.iteration == 2 and any(e.kind == "diverged" for e in events)
    after = _weights(tmp_path / "m")
    assert all(torch.equal(good[k], after[k]) and torch.isfinite(after[k]).all() for k in good)
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_loss_explosion_is_detected(facesets: tuple[Path, Path], tmp_path: Path, tiny_config: TinyConfig) -> None:
    config = tiny_config(wider=True)
    with Trainer(_options(facesets, config, tmp_path / "m", explosion_factor=5.0)) as trainer:
        trainer.history["src"] = [1.0] * 60
        trainer.history["dst"] = [1.0] * 60
        assert trainer._diverged({"src": 1.5, "dst": 1.0}) == ""
        assert "exploded" in trainer._diverged({"src": 20.0, "dst": 1.0})


def test_pretrain_then_continue(facesets: tuple[Path, Path], tmp_path: Path, tiny_config: TinyConfig) -> None:
    config = tiny_config(wider=True)
    train(_options(facesets, config, tmp_path / "m", settings={**FAST, "pretrain": True}, iterations=2))
    events: list = []
    result = train(_options(facesets, config, tmp_path / "m", model_config={}, settings={"pretrain": False},
                            iterations=1, on_event=events.append))
    assert result.iteration == 1
    assert any("pretraining switched off" in e.message for e in events)


def test_load_weights_and_freeze_encoder(facesets: tuple[Path, Path], tmp_path: Path, tiny_config: TinyConfig) -> None:
    config = tiny_config(wider=True)
    train(_options(facesets, config, tmp_path / "donor", iterations=2))
    donor = _weights(tmp_path / "donor")
    train(_options(facesets, config, tmp_path / "m", load_weights=tmp_path / "donor", freeze=("encoder",),
                   iterations=3))
    got = _weights(tmp_path / "m")
    enc = [k for k in got if k.startswith("model.encoder.")]
    assert enc and all(torch.equal(got[k], donor[k]) for k in enc)
    dec = "model.decoder_src.head" if "model.decoder_src.head.weight" in got else "model.decoder_src.heads.0"
    assert not torch.equal(got[f"{dec}.weight"], donor[f"{dec}.weight"])


def test_every_option_together_amp_gan_ct_yaw(facesets: tuple[Path, Path], tmp_path: Path,
                                              tiny_config: TinyConfig) -> None:
    config = tiny_config(wider=True)
    settings = {"batch_size": 2, "optimizer": "adabelief", "lr": 1e-3, "gan_power": 0.1, "gan_dims": 4,
                "ct_mode": "rct", "uniform_yaw": True, "random_hsv_power": 0.05, "eyes_mouth_prio": True,
                "blur_out_mask": True, "lr_dropout": 0.3, "clip_grad": 1.0, "random_flip_src": True}
    amp = {"resolution": 64, "face_type": "whole", "ae_dims": 16, "inter_dims": 16, "e_dims": 4, "d_dims": 4,
           "d_mask_dims": 2}
    result = train(_options(facesets, config, tmp_path / "m", model="amp", model_config=amp, settings=settings,
                            iterations=3, workers=1))
    assert result.status == "done" and {"gan_g", "gan_d"} <= set(result.losses)
    swapper = FaceSwapper.load(tmp_path / "m")
    assert swapper.is_amp and swapper.face_type is FaceType.WHOLE
    half, _, _ = swapper.swap(np.full((1, 64, 64, 3), 0.5, np.float32), morph=0.5)
    assert half.shape == (1, 64, 64, 3)


def test_narrower_faceset_refused(facesets: tuple[Path, Path], tmp_path: Path, tiny_config: TinyConfig) -> None:
    with pytest.raises(OptionError, match="wider"):
        Trainer(_options(facesets, tiny_config(wider=True, face_type="head"), tmp_path / "m"))


def test_cli_train_with_config_file(facesets: tuple[Path, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from recast.cli.main import app

    cfg = tmp_path / "cfg.toml"
    cfg.write_text('[model]\nresolution = 64\narchi = "liae-ud"\nae_dims = 16\ne_dims = 4\nd_dims = 4\n'
                   'd_mask_dims = 2\n[train]\nbatch_size = 2\nlr = 0.001\n')
    args = ["train", "--src", str(facesets[0]), "--dst", str(facesets[1]), "--model-dir", str(tmp_path / "m"),
            "--config", str(cfg), "--iterations", "2", "--workers", "0", "--random-flip-src"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    state = json.loads((tmp_path / "m" / "state.json").read_text())
    assert state["iteration"] == 2 and state["settings"]["random_flip_src"] is True
    assert json.loads((tmp_path / "m" / "config.json").read_text())["config"]["archi"] == "liae-ud"


def test_refused_data_leaves_no_model_folder(facesets: tuple[Path, Path], tmp_path: Path,
                                             tiny_config: TinyConfig) -> None:
    with pytest.raises(OptionError):
        Trainer(_options(facesets, tiny_config(wider=True, face_type="head"), tmp_path / "m"))
    assert not (tmp_path / "m" / "config.json").exists()


def test_bf16_training_follows_fp32_and_swaps_alike(facesets: tuple[Path, Path], tmp_path: Path,
                                                    tiny_config: TinyConfig) -> None:
    config = tiny_config(wider=True)
    """bf16 autocast (the default where the CPU has bf16) tracks the fp32 loss curve step for step."""
    runs = {p: train(_options(facesets, config, tmp_path / p, iterations=6, precision=p)) for p in ("fp32", "bf16")}
    fp32, bf16 = runs["fp32"].history, runs["bf16"].history
    for key in ("src", "dst"):
        assert np.allclose(bf16[key], fp32[key], rtol=0.03), (bf16[key], fp32[key])
    faces = np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32)
    exact = FaceSwapper.load(tmp_path / "fp32", precision="fp32")
    fast = FaceSwapper.load(tmp_path / "fp32", precision="bf16")
    assert exact.precision.dtype is None and fast.precision.dtype == torch.bfloat16
    assert np.abs(exact.swap(faces)[0] - fast.swap(faces)[0]).mean() < 2 / 255


def test_unknown_or_unsupported_precision_is_refused(facesets: tuple[Path, Path], tmp_path: Path,
                                                     tiny_config: TinyConfig) -> None:
    config = tiny_config(wider=True)
    with pytest.raises(OptionError, match="--precision='fp8' is not one of auto, fp32, bf16, fp16"):
        train(_options(facesets, config, tmp_path / "m", iterations=1, precision="fp8"))
    with pytest.raises(OptionError, match="fp16 needs a CUDA device"):
        train(_options(facesets, config, tmp_path / "m", iterations=1, precision="fp16"))
    assert not (tmp_path / "m" / "config.json").exists()


def test_unwarped_every_third_iteration_refeeds_the_previous_batch(facesets: tuple[Path, Path],
                                                                  tmp_path: Path, tiny_config: TinyConfig) -> None:
    config = tiny_config(wider=True)
    """Quick96's re-feed: iterations 3, 6, … train on the previous batch with warped := target."""
    trainer = Trainer(_options(facesets, config, tmp_path / "m", iterations=7,
                               settings={**FAST, "unwarped_every": 3}))
    seen: list[dict[str, torch.Tensor]] = []
    original_step = trainer.step

    def recording_step(batch: dict[str, torch.Tensor], iteration: int) -> dict[str, float]:
        seen.append(batch)
        return original_step(batch, iteration)

    trainer.step = recording_step  # type: ignore[method-assign]
    with trainer:
        trainer.run()
    assert len(seen) == 7
    for index, batch in enumerate(seen):
        refeed = index % 3 == 0 and index > 0
        assert torch.equal(batch["src_warped"], batch["src_target"]) is refeed, index
        if refeed:
            assert torch.equal(batch["src_target"], seen[index - 1]["src_target"])
    assert get_entry("quick96").train_defaults["unwarped_every"] == 3


def _tensorboard_events(folder: Path) -> list:
    """Every Event record in the TFRecord event files of ``folder`` (length, crc, payload, crc)."""
    from tensorboardX.proto import event_pb2

    events = []
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data, offset = path.read_bytes(), 0
        while offset < len(data):
            length = int.from_bytes(data[offset : offset + 8], "little")
            events.append(event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length]))
            offset += 12 + length + 4
    return events


def test_tensorboard_log_has_losses_and_previews(facesets: tuple[Path, Path], tmp_path: Path,
                                                 tiny_config: TinyConfig) -> None:
    config = tiny_config(wider=True)
    pytest.importorskip("tensorboardX")
    result = train(_options(facesets, config, tmp_path / "m", iterations=4, preview_every=2, tensorboard=True))
    events = _tensorboard_events(tmp_path / "m" / "tensorboard")
    values = [(e.step, v) for e in events for v in e.summary.value]
    src_losses = {step: v.simple_value for step, v in values if v.tag == "loss/src"}
    assert src_losses == pytest.approx(dict(zip(result.history["iteration"], result.history["src"], strict=True)),
                                       abs=1e-5)
    assert {step for step, v in values if v.tag == "time/ms_per_iter"} == {1, 2, 3, 4}
    previews = [(step, v.image) for step, v in values if v.tag == "preview"]
    assert [step for step, _ in previews] == [2, 4] and previews[0][1].height == 4 * 64
