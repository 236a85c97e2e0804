"""The CUDA code paths: a training step in bf16 and in fp16 with loss scaling, the trainer, merge and export
on a GPU. Marked ``cuda`` and skipped without a CUDA device; ``benchmarks/gpu.py`` (``make gpu-check``)
runs them first. The last test runs here too: the GPU check itself exits 0 where there is no GPU."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
import pytest
import torch

from conftest import TINY_SAEHD, MakeFacesets, TinyConfig
from recast.models import checkpoint as ckpt
from recast.models.inference import FaceSwapper
from recast.models.registry import create_model, get_entry
from recast.runtime.precision import choose_precision
from recast.train.distributed import DistInfo
from recast.train.options import resolve_settings
from recast.train.step import TrainStep, make_part

ROOT = Path(__file__).resolve().parents[1]
F = TypeVar("F", bound=Callable[..., Any])


def needs_cuda(test: F) -> F:
    """Mark ``test`` ``cuda`` and skip it where torch sees no CUDA device."""
    return pytest.mark.cuda(pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")(test))


def _batch(resolution: int, device: torch.device, n: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    r = resolution
    faces = torch.nn.functional.interpolate(torch.rand(2 * n, 3, r // 8, r // 8, generator=g), size=(r, r),
                                            mode="bilinear")
    mask = torch.zeros(2 * n, 1, r, r)
    mask[..., r // 8: -r // 8, r // 8: -r // 8] = 1
    batch = {"src_warped": faces[:n], "dst_warped": faces[n:], "src_target": faces[:n], "dst_target": faces[n:],
             "src_mask": mask[:n], "dst_mask": mask[n:], "src_em": mask[:n], "dst_em": mask[n:]}
    return {key: value.to(device) for key, value in batch.items()}


def _save(model: torch.nn.Module, name: str, model_dir: Path) -> Path:
    ckpt.write_model_config(model_dir, name, model.config.to_dict())  # type: ignore[operator]
    ckpt.save_checkpoint(model_dir, 1, {f"model.{k}": v for k, v in model.state_dict().items()}, {},
                         {"model": name, "settings": {}, "seed": 0}, {"iteration": [], "src": [], "dst": []})
    return model_dir


@pytest.mark.parametrize(("name", "overrides"), [("saehd", TINY_SAEHD),
                                                 ("hd-1024", {"resolution": 64, "e_dims": 4, "d_dims": 4,
                                                              "code_dims": 8, "d_mask_dims": 2})])
@pytest.mark.parametrize("precision_name", ["bf16", "fp16"])
@needs_cuda
def test_train_steps_lower_the_loss_on_cuda(name: str, overrides: dict, precision_name: str) -> None:
    device = torch.device("cuda")
    torch.manual_seed(0)
    model = create_model(name, **overrides).to(device)
    settings = resolve_settings(get_entry(name).train_defaults, {"optimizer": "adam", "lr": 1e-3,
                                                                 "random_warp": False})
    precision = choose_precision(precision_name, device, "train")
    assert precision.name == precision_name and precision.loss_scaling == (precision_name == "fp16")
    step = TrainStep(make_part(model, settings, device, 0), settings, DistInfo(), device, precision=precision)
    batch = _batch(model.resolution, device)
    losses = [step(batch, index) for index in range(6)]
    assert (step.model_part.scaler is not None) == (precision_name == "fp16")
    first, last = losses[0]["src"] + losses[0]["dst"], losses[-1]["src"] + losses[-1]["dst"]
    assert np.isfinite(last) and last < first, losses
    assert all(p.device.type == "cuda" and torch.isfinite(p).all() for p in model.parameters())


@needs_cuda
def test_trainer_saves_a_cuda_model_that_loads_on_the_cpu(make_facesets: MakeFacesets, tmp_path: Path,
                                                          tiny_config: TinyConfig) -> None:
    from recast.train.options import TrainOptions
    from recast.train.trainer import train

    src, dst = make_facesets(count=4, size=64)
    train(TrainOptions(src=src, dst=dst, model_dir=tmp_path / "model", model="saehd", model_config=tiny_config(),
                       settings={"batch_size": 4}, iterations=3, device="cuda", seed=0))
    on_cpu = FaceSwapper.load(tmp_path / "model", device="cpu", precision="fp32")
    on_gpu = FaceSwapper.load(tmp_path / "model", device="cuda", precision="fp32")
    faces = _batch(64, torch.device("cpu"))["dst_warped"].permute(0, 2, 3, 1).numpy()
    assert on_cpu.iteration == 3
    for ours, theirs in zip(on_gpu.swap(faces), on_cpu.swap(faces), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=2e-3)


@needs_cuda
def test_merge_on_cuda_matches_the_cpu(tmp_path: Path) -> None:
    from recast.merge.settings import MergeSettings
    from recast.merge.stage import merge
    from test_merge_stage import write_destination

    torch.manual_seed(0)
    model_dir = _save(create_model("saehd", **{**TINY_SAEHD, "face_type": "whole"}), "saehd", tmp_path / "model")
    workspace = tmp_path / "dest"
    workspace.mkdir()
    write_destination(workspace)
    outputs = {}
    for device in ("cpu", "cuda"):
        summary = merge(model_dir, workspace / "frames", workspace / "aligned", workspace / f"merged_{device}",
                        MergeSettings(color="none"), device=device, precision="fp32", workers=1)
        assert summary.faces_merged == 6
        merged = sorted((workspace / f"merged_{device}").glob("*.png"))
        outputs[device] = [cv2.imread(str(path)).astype(int) for path in merged]
    for gpu, cpu in zip(outputs["cuda"], outputs["cpu"], strict=True):
        assert np.abs(gpu - cpu).mean() < 0.5 and np.abs(gpu - cpu).max() <= 8


@needs_cuda
def test_export_of_a_cuda_model_runs_the_same_swap_in_onnxruntime(tmp_path: Path) -> None:
    from recast.export.dfm import export_model
    from recast.models.onnx_swapper import OnnxFaceSwapper

    torch.manual_seed(0)
    model = create_model("hd-1024", resolution=64, e_dims=4, d_dims=4, code_dims=8, d_mask_dims=2).cuda()
    model_dir = _save(model, "hd-1024", tmp_path / "model")
    export_model(model_dir, tmp_path / "model.onnx")
    faces = _batch(64, torch.device("cpu"))["dst_warped"].permute(0, 2, 3, 1).numpy()
    expected = FaceSwapper.load(model_dir, device="cuda", precision="fp32").swap(faces)
    got = OnnxFaceSwapper.load(tmp_path / "model.onnx", threads=1).swap(faces)
    for ours, theirs in zip(got, expected, strict=True):
        np.testing.assert_allclose(ours, theirs, atol=2e-3)


def test_the_gpu_check_says_no_cuda_device_and_exits_0_without_one() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py")], capture_output=True, text=True,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("no CUDA device"), done.stdout
