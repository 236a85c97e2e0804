"""Augmentation, colour transfer, batch plans (determinism, sharding, uniform yaw), losses, optimisers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from recast.color import SAMPLE_TRANSFERS, transfer_sample
from recast.faces.facetype import FaceType
from recast.faceset.source import open_faceset
from recast.models import losses as L
from recast.train.data import BatchPlan, FaceReader, PairDataset, PairSpec, collate, yaw_bins
from recast.train.optim import (
    OPTIMIZERS,
    LrDropout,
    clip_grad_norm,
    create_optimizer,
    load_optimizer_tensors,
    lr_cos_factor,
    optimizer_tensors,
)
from recast.train.samples import SampleSpec, grid_warp_maps, make_sample
from recast.train.synthetic import write_synthetic_faceset

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("faces")
    return (write_synthetic_faceset(root / "src", 8, identity=0, size=96, face_type=FaceType.WHOLE),
            write_synthetic_faceset(root / "dst", 8, identity=1, size=96, face_type=FaceType.WHOLE))


def test_sample_shapes_ranges_and_determinism(faces: tuple[Path, Path]) -> None:
    face = open_faceset(faces[0])[0]
    spec = SampleSpec(64, FaceType.FULL, random_flip=True, hsv_power=0.1)
    args = (face.image, face.meta.landmarks, None, face.meta.face_type, spec)
    a = make_sample(*args, np.random.default_rng(3))
    b = make_sample(*args, np.random.default_rng(3))
    for arr, shape in ((a.warped, (64, 64, 3)), (a.target, (64, 64, 3)), (a.mask, (64, 64)), (a.em, (64, 64))):
        assert arr.shape == shape and arr.dtype == np.float32 and arr.min() >= 0 and arr.max() <= 1
    assert np.array_equal(a.warped, b.warped) and np.array_equal(a.mask, b.mask)
    assert 0.15 < a.mask.mean() < 0.8 and a.em.max() == pytest.approx(1.0)
    assert not np.allclose(a.warped, a.target)  # grid warp + HSV only touch the input


def test_xseg_mask_used_when_present(faces: tuple[Path, Path]) -> None:
    face = open_faceset(faces[0])[0]
    xseg = np.zeros((32, 32), np.float32)
    xseg[:, :16] = 1  # left half of the aligned image
    spec = SampleSpec(64, face.meta.face_type, random_warp=False, transform=False)
    s = make_sample(face.image, face.meta.landmarks, xseg, face.meta.face_type, spec, np.random.default_rng(0))
    assert s.mask[:, :28].mean() > 0.95 and s.mask[:, 36:].mean() < 0.05


def test_grid_warp_is_near_identity_at_borders() -> None:
    mx, _ = grid_warp_maps(np.random.default_rng(0), 64)
    assert mx.shape == (64, 64) and abs(mx[0, 0]) < 8 and abs(mx[:, 32] - 32).max() < 16


@pytest.mark.parametrize("name", sorted(SAMPLE_TRANSFERS))
def test_color_transfer_moves_colours_toward_reference(name: str) -> None:
    rng = np.random.default_rng(0)
    target = np.clip(rng.normal(0.3, 0.05, (32, 32, 3)), 0, 1).astype(np.float32)
    reference = np.clip(rng.normal([0.7, 0.5, 0.2], 0.1, (32, 32, 3)), 0, 1).astype(np.float32)
    out = transfer_sample(name, target, reference, rng)
    assert out.shape == target.shape and out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    before = np.abs(target.mean((0, 1)) - reference.mean((0, 1))).sum()
    after = np.abs(out.mean((0, 1)) - reference.mean((0, 1))).sum()
    assert after < 0.5 * before


def test_batch_plan_is_deterministic_and_shards_the_global_batch() -> None:
    whole = BatchPlan(10, 7, 8, seed=1)
    again = BatchPlan(10, 7, 8, seed=1, start_iteration=5)
    assert whole.keys(5) == next(iter(again))
    ranks = [BatchPlan(10, 7, 8, seed=1, rank=r, world=2).keys(3) for r in range(2)]
    assert ranks[0] + ranks[1] == whole.keys(3)
    first_epoch = [whole.keys(i)[j][0] for i in range(5) for j in range(8)][:10]
    assert sorted(first_epoch) == list(range(10))  # an epoch visits every src face once


def test_uniform_yaw_bins_balance_rare_poses() -> None:
    yaws = np.concatenate([np.zeros(98), [1.0, -1.0]])
    bins = yaw_bins(yaws)
    assert len(bins) == 3
    plan = BatchPlan(100, 100, 30, seed=0, src_bins=bins)
    picks = [k[0] for i in range(20) for k in plan.keys(i)]
    assert np.mean(np.isin(picks, [98, 99])) > 0.4


def test_pair_dataset_with_color_transfer(faces: tuple[Path, Path]) -> None:
    spec = SampleSpec(64, FaceType.FULL)
    dataset = PairDataset(FaceReader(faces[0]), FaceReader(faces[1]), PairSpec(spec, spec, "rct"))
    batch = collate([dataset[(0, 1, 2, 11)], dataset[(3, 4, 5, 12)]])
    assert batch["src_warped"].shape == (2, 3, 64, 64) and batch["dst_mask"].shape == (2, 1, 64, 64)
    assert batch["src_target"].dtype == torch.float32


def test_dssim_and_masks() -> None:
    a = torch.rand(2, 3, 64, 64)
    assert torch.allclose(L.dssim(a, a, 5), torch.zeros(2), atol=1e-6)
    assert (L.dssim(a, 1 - a, 5) > 0.2).all()
    assert L.dssim_terms(128) == [(11, 10.0)]
    assert L.dssim_terms(256) == [(22, 5.0), (11, 5.0)]
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    blurred = L.mask_blur(mask, 64)
    assert blurred[..., 20:44, 20:44].min() == 1 and blurred[..., 14, 32] > 0 and blurred[..., 0, 0] == 0
    image = torch.rand(1, 3, 64, 64)
    filled = L.blur_out_mask(image, mask, 64)
    assert torch.allclose(filled[..., 16:48, 16:48], image[..., 16:48, 16:48])


def test_style_tv_and_bce() -> None:
    a = torch.rand(2, 3, 16, 16)
    assert torch.allclose(L.style_loss(a, a, 0), torch.zeros(2), atol=1e-6)
    assert (L.total_variation_mse(torch.ones(1, 3, 8, 8)) == 0).all()
    assert L.bce_logits(torch.full((1, 1, 4, 4), 20.0), 1.0).item() < 1e-6


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizers_minimise_and_state_round_trips(name: str) -> None:
    torch.manual_seed(0)
    target = torch.randn(20)
    param = torch.nn.Parameter(torch.zeros(20))
    opt = create_optimizer(name, [param], 3e-2, torch.device("cpu"))
    for _ in range(100):
        opt.zero_grad()
        loss = ((param - target) ** 2).mean()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * (target**2).mean().item()
    names = {id(param): "p"}
    tensors = optimizer_tensors(opt, names, "m")
    param2 = torch.nn.Parameter(param.detach().clone())
    opt2 = create_optimizer(name, [param2], 3e-2, torch.device("cpu"))
    assert load_optimizer_tensors(opt2, tensors, {id(param2): "p"}, "m")
    for o, p in ((opt, param), (opt2, param2)):
        o.zero_grad()
        ((p - target) ** 2).mean().backward()
        o.step()
    assert torch.allclose(param, param2)


def test_lr_dropout_cosine_and_clipping() -> None:
    param = torch.nn.Parameter(torch.zeros(10000))
    dropout = LrDropout([param], keep=0.3, seed=0)
    dropout.remember()
    with torch.no_grad():
        param += 1
    dropout.apply(step=0)
    assert 0.25 < float((param != 0).float().mean()) < 0.35
    assert lr_cos_factor(0, 500) == 1 and lr_cos_factor(250, 500) == pytest.approx(0) and lr_cos_factor(7, 0) == 1
    param.grad = torch.full_like(param, 1.0)
    norm = clip_grad_norm([param], 1.0)
    assert norm == pytest.approx(100.0) and param.grad.norm().item() == pytest.approx(1.0, rel=1e-4)
