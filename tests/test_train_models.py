"""Model registry, architectures (every family and variant) and a few real training steps each."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from conftest import TinyConfig
from recast.errors import OptionError
from recast.models import MODELS, create_model, list_models, model_from_saved
from recast.models.discriminators import CodeDiscriminator, UNetPatchDiscriminator, patch_strides
from recast.train.distributed import DistInfo
from recast.train.options import resolve_settings
from recast.train.step import TrainStep, make_part

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Every layout and every variant letter runs in the default suite (df-udtc, liae-udt cover u, d, t, c);
# single-letter variants are marked slow to keep the suite short on a 2-core CPU.
ARCHIS = ["df", "liae", "df-ud", "liae-ud", "df-udtc", "liae-udt"] + [
    pytest.param(a, marks=pytest.mark.slow) for a in ("df-u", "liae-d", "df-t", "liae-c")
]


def _batch(res: int, n: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    """A smooth fixed batch (blurred noise images, centred disc masks)."""
    gen = torch.Generator().manual_seed(seed)
    low = torch.rand(2 * n, 3, res // 8, res // 8, generator=gen)
    images = torch.nn.functional.interpolate(low, size=(res, res), mode="bilinear", align_corners=False)
    yy, xx = torch.meshgrid(torch.arange(res), torch.arange(res), indexing="ij")
    disc = (((yy - res / 2) ** 2 + (xx - res / 2) ** 2) < (res / 3) ** 2).float()[None, None].repeat(n, 1, 1, 1)
    em = disc * 0
    src, dst = images[:n], images[n:]
    return {"src_warped": src, "src_target": src, "src_mask": disc, "src_em": em,
            "dst_warped": dst, "dst_target": dst, "dst_mask": disc, "dst_em": em}


def _train_steps(model: torch.nn.Module, steps: int, **settings: object) -> list[float]:
    s = resolve_settings({"optimizer": "adam", "lr": 3e-3, **settings})
    device = torch.device("cpu")
    step = TrainStep(make_part(model, s, device, 0), s, DistInfo(), device)
    batch = _batch(model.resolution)
    return [step(batch, i)["total"] for i in range(steps)]


def test_registry_lists_every_family() -> None:
    assert set(list_models()) >= {"saehd", "quick96", "amp", "cpu"}
    assert MODELS["quick96"].fixed


@pytest.mark.parametrize("archi", ARCHIS)
def test_saehd_variant_shapes_and_loss_falls(archi: str, tiny_config: TinyConfig) -> None:
    torch.manual_seed(0)
    model = create_model("saehd", **tiny_config(wider=True, archi=archi))
    x = torch.rand(2, 3, 64, 64)
    out = model(x, x, with_swap=True)
    for t in (out.pred_src_src, out.pred_dst_dst, out.pred_src_dst):
        assert t.shape == (2, 3, 64, 64) and float(t.detach().min()) >= 0 and float(t.detach().max()) <= 1
    assert out.pred_src_srcm.shape == (2, 1, 64, 64)
    face, src_mask, dst_mask = model.swap(x)
    assert face.shape == (2, 3, 64, 64) and src_mask.shape == dst_mask.shape == (2, 1, 64, 64)
    assert torch.equal(model.swap_face(x), face)  # the mask-free path gives the same face
    losses = _train_steps(model, 12, lr=1e-3 if "c" in archi.partition("-")[2] else 3e-3)
    assert min(losses[-3:]) < 0.8 * losses[0], losses


def test_amp_trains_and_morphs() -> None:
    torch.manual_seed(0)
    model = create_model("amp", resolution=64, ae_dims=32, inter_dims=32, e_dims=8, d_dims=8, d_mask_dims=4)
    x = torch.rand(2, 3, 64, 64)
    a, _, _ = model.swap(x, morph=0.0)
    b, _, _ = model.swap(x, morph=1.0)
    assert a.shape == (2, 3, 64, 64) and not torch.allclose(a, b)
    assert torch.equal(model.swap_face(x, morph=0.0), a) and torch.equal(model.swap_face(x, morph=1.0), b)
    before = model.inter_src.dense.weight.detach().clone()
    losses = _train_steps(model, 12, morph_factor=0.5)
    assert losses[-1] < 0.8 * losses[0], losses
    assert not torch.equal(before, model.inter_src.dense.weight), "AMP inters train by design"


def test_amp_inters_frozen_like_deepfacelab() -> None:
    model = create_model("amp", resolution=64, ae_dims=16, inter_dims=16, e_dims=4, d_dims=4, d_mask_dims=2,
                         train_inters=False)
    before = model.inter_dst.dense.weight.detach().clone()
    _train_steps(model, 2)
    assert torch.equal(before, model.inter_dst.dense.weight)


def test_no_learned_mask_gives_ones(tiny_config: TinyConfig) -> None:
    model = create_model("saehd", **tiny_config(wider=True, d_mask_dims=0))
    assert not model.has_learned_mask
    _, src_mask, dst_mask = model.swap(torch.rand(1, 3, 64, 64))
    assert torch.all(src_mask == 1) and torch.all(dst_mask == 1)


def test_config_round_trip_rebuilds_identical_model(tiny_config: TinyConfig) -> None:
    torch.manual_seed(1)
    model = create_model("saehd", **tiny_config(wider=True, archi="liae-ud"))
    config = dataclasses.asdict(model.config)
    rebuilt = model_from_saved("saehd", config)
    rebuilt.load_state_dict(model.state_dict())
    x = torch.rand(1, 3, 64, 64)
    assert torch.allclose(model.swap(x)[0], rebuilt.swap(x)[0], atol=1e-6)


@pytest.mark.parametrize("bad", [{"archi": "vae"}, {"archi": "df-zz"}, {"resolution": 48}, {"resolution": 80,
                                 "archi": "df-ud"}, {"ae_dims": 2}, {"e_dims": 7}, {"face_type": "torso"},
                                 {"colour": 1}])
def test_bad_config_raises_option_error(bad: dict, tiny_config: TinyConfig) -> None:
    with pytest.raises(OptionError):
        create_model("saehd", **(tiny_config(wider=True, archi="liae-ud") | bad))


def test_quick96_is_fixed() -> None:
    with pytest.raises(OptionError, match="fixed"):
        create_model("quick96", resolution=128)
    model = create_model("quick96")
    assert model.resolution == 96 and model.config.archi == "df-ud"
    n_params = sum(p.numel() for p in model.parameters())
    assert 37e6 < n_params < 40e6  # DeepFaceLab's Quick96 is about 38 M


@pytest.mark.slow
@pytest.mark.parametrize("name", ["quick96", "cpu"])
def test_preset_trains(name: str) -> None:
    torch.manual_seed(0)
    defaults = MODELS[name].train_defaults
    losses = _train_steps(create_model(name), 8, optimizer=defaults["optimizer"], lr=defaults["lr"])
    assert min(losses[-3:]) < losses[0], losses


def test_patch_discriminator_receptive_fields() -> None:
    assert patch_strides(16) == [2, 2, 2]
    assert patch_strides(24) == [2, 2, 1, 2]
    assert patch_strides(28) == [2, 1, 2, 1, 2]
    disc = UNetPatchDiscriminator(8, base=4)
    center, full = disc(torch.rand(2, 3, 64, 64))
    assert full.shape == (2, 1, 64, 64) and center.shape == (2, 1, 16, 16)
    code = CodeDiscriminator(32, 8, base=8)(torch.rand(2, 32, 8, 8))
    assert code.shape[0] == 2 and code.shape[1] == 1


def test_gan_true_face_and_style_losses_train(tiny_config: TinyConfig) -> None:
    torch.manual_seed(0)
    from recast.train.step import make_code_discriminator, make_gan_discriminator

    model = create_model("saehd", **tiny_config(wider=True))
    s = resolve_settings({"lr": 1e-3, "optimizer": "adabelief", "gan_power": 0.1, "gan_dims": 4,
                          "true_face_power": 0.01, "face_style_power": 1.0, "bg_style_power": 2.0,
                          "eyes_mouth_prio": True, "blur_out_mask": True, "clip_grad": 1.0, "lr_dropout": 0.3})
    device = torch.device("cpu")
    gan = make_part(make_gan_discriminator(model, s), s, device, 1)
    code = make_part(make_code_discriminator(model, device), s, device, 2)
    step = TrainStep(make_part(model, s, device, 0), s, DistInfo(), device, gan=gan, code=code)
    batch = _batch(64)
    logs = [step(batch, i) for i in range(3)]
    assert {"gan_g", "gan_d", "true_face", "code_d", "face_style", "bg_style"} <= set(logs[-1])
    assert all(torch.isfinite(torch.tensor(list(entry.values()))).all() for entry in logs)
