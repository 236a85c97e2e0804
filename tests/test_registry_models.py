"""Tests generated from the registries (timm's ``tests/test_models.py`` pattern).

Every registered model name × {forward shapes, one train step lowers the loss on a fixed batch,
save → load gives identical outputs, export → onnxruntime gives the same swap}, in each precision of
``--dtype`` (fp32 by default; bf16 runs the autocast path explicitly). A toy family registered here
shows that a new family needs only its own module and one registry entry. Every detector finds the
face of a test photo; every sort method accounts for every face.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from conftest import TinyConfig
from recast.extract.detectors import create_detector, list_detectors
from recast.faces.facetype import FaceType
from recast.faceset.sort import SORT_METHODS, sort_faceset
from recast.models import checkpoint as ckpt
from recast.models.base import FaceSwapModel, TrainOutputs
from recast.models.config import FACE_TYPES, ModelConfig, face_type_name
from recast.models.inference import FaceSwapper
from recast.models.registry import MODELS, ModelEntry, create_model, get_entry, list_models
from recast.options import option
from recast.runtime.precision import Precision
from recast.train.distributed import DistInfo
from recast.train.options import TrainSettings, resolve_settings
from recast.train.step import TrainStep, make_part
from recast.train.synthetic import write_synthetic_faceset

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PRECISIONS = {"fp32": Precision(None, "test", "fp32"), "bf16": Precision(torch.bfloat16, "test", "bf16")}

# Smallest configs of the other families whose names accept overrides (SAEHD's is the shared ``tiny_config``;
# fixed names are built as registered).
SMALLEST: dict[str, dict[str, Any]] = {
    "amp": {"resolution": 64, "face_type": "whole", "ae_dims": 16, "inter_dims": 8, "e_dims": 4, "d_dims": 4,
            "d_mask_dims": 2},
    "saehd-256": {"resolution": 64, "ae_dims": 16, "e_dims": 4, "d_dims": 4, "d_mask_dims": 2},
    "saehd-512": {"resolution": 64, "ae_dims": 16, "e_dims": 4, "d_dims": 4, "d_mask_dims": 2},
    "hd-1024": {"resolution": 64, "e_dims": 4, "d_dims": 4, "code_dims": 16, "d_mask_dims": 2},
    "toy": {"resolution": 32, "width": 4},
}


# ------------------------------------------------------------------------------------ a toy family
@dataclasses.dataclass
class ToyConfig(ModelConfig):
    """A toy family's config: resolution, face type and one width."""

    resolution: int = option(32, "Face size in pixels", ge=16, le=128, multiple_of=16, fixed=True)
    face_type: str = option("full", "Face type", choices=FACE_TYPES, parse=face_type_name, fixed=True)
    width: int = option(4, "Channels", ge=1, le=64, fixed=True)


class Toy(FaceSwapModel):
    """Shared conv encoder, one conv decoder per identity, mask from a sigmoid head."""

    family = "toy"

    def __init__(self, config: ToyConfig) -> None:
        config.validate()
        super().__init__(config)
        self.encoder = nn.Sequential(nn.Conv2d(3, config.width, 3, padding=1), nn.LeakyReLU(0.1))
        self.decoder_src = nn.Conv2d(config.width, 4, 3, padding=1)
        self.decoder_dst = nn.Conv2d(config.width, 4, 3, padding=1)

    @property
    def has_learned_mask(self) -> bool:
        return True

    @staticmethod
    def _split(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.sigmoid(x[:, :3]), torch.sigmoid(x[:, 3:])

    def forward(self, warped_src: torch.Tensor, warped_dst: torch.Tensor, with_swap: bool = False,
                morph_factor: float = 0.5) -> TrainOutputs:
        src, dst = self.encoder(warped_src), self.encoder(warped_dst)
        swap = self._split(self.decoder_src(dst.detach())) if with_swap else (None, None)
        return TrainOutputs(*self._split(self.decoder_src(src)), *self._split(self.decoder_dst(dst)), *swap)

    def swap(self, dst: torch.Tensor, morph: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        code = self.encoder(dst)
        face, mask = self._split(self.decoder_src(code))
        return face, mask, self._split(self.decoder_dst(code))[1]


@pytest.fixture(autouse=True)
def toy_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one registry entry the toy family needs."""
    monkeypatch.setitem(MODELS, "toy", ModelEntry("toy", f"{__name__}:Toy", ToyConfig, "A toy family for tests."))


MODEL_NAMES = [*list_models(), "toy"]


# ----------------------------------------------------------------------------------------- helpers
def _model(name: str, tiny_config: TinyConfig) -> FaceSwapModel:
    torch.manual_seed(0)
    smallest = {"saehd": tiny_config(archi="liae-ud", face_type="full"), **SMALLEST}
    return create_model(name, **({} if get_entry(name).fixed else smallest.get(name, {})))


def _batch(resolution: int, n: int = 2) -> dict[str, torch.Tensor]:
    """A fixed batch: smooth random faces, a central face mask, eyes-and-mouth bands."""
    g = torch.Generator().manual_seed(1)
    r = resolution
    low = torch.rand(2 * n, 3, r // 8, r // 8, generator=g)
    faces = nn.functional.interpolate(low, size=(r, r), mode="bilinear", align_corners=False)
    mask = torch.zeros(2 * n, 1, r, r)
    mask[..., r // 8: -r // 8, r // 8: -r // 8] = 1
    em = torch.zeros_like(mask)
    em[..., r // 3: r // 2, r // 4: -r // 4] = 1
    return {"src_warped": faces[:n], "dst_warped": faces[n:], "src_target": faces[:n], "dst_target": faces[n:],
            "src_mask": mask[:n], "dst_mask": mask[n:], "src_em": em[:n], "dst_em": em[n:]}


def _settings(name: str) -> TrainSettings:
    return resolve_settings(get_entry(name).train_defaults, {"optimizer": "adam", "lr": 1e-4, "lr_dropout": 1.0,
                                                             "random_warp": False})


# ------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_forward_shapes(name: str, dtype: str, tiny_config: TinyConfig) -> None:
    model = _model(name, tiny_config)
    r = model.resolution
    batch = _batch(r)
    with torch.no_grad(), PRECISIONS[dtype].autocast(torch.device("cpu")):
        out = model(batch["src_warped"], batch["dst_warped"], with_swap=True)
        face, src_mask, dst_mask = model.swap(batch["dst_warped"])
    t = model.train_resolution  # training outputs: the size trained now (a growing model starts smaller)
    for image, size in ((out.pred_src_src, t), (out.pred_dst_dst, t), (out.pred_src_dst, t), (face, r)):
        assert image is not None and image.shape == (2, 3, size, size)
    for mask, size in ((out.pred_src_srcm, t), (out.pred_dst_dstm, t), (out.pred_src_dstm, t), (src_mask, r),
                       (dst_mask, r)):
        assert mask is not None and mask.shape == (2, 1, size, size)
    assert torch.isfinite(face.float()).all()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_one_train_step_lowers_the_loss_on_a_fixed_batch(name: str, dtype: str, tiny_config: TinyConfig) -> None:
    model = _model(name, tiny_config)
    settings = _settings(name)
    step = TrainStep(make_part(model, settings, torch.device("cpu"), 0), settings, DistInfo(), torch.device("cpu"),
                     precision=PRECISIONS[dtype])
    batch = _batch(model.resolution)
    torch.manual_seed(2)
    before = step(batch, 0)
    torch.manual_seed(2)
    after = step(batch, 1)
    assert after["src"] + after["dst"] < before["src"] + before["dst"], (before, after)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_save_load_gives_identical_outputs(name: str, dtype: str, tmp_path: Path, tiny_config: TinyConfig) -> None:
    model = _model(name, tiny_config).eval()
    ckpt.write_model_config(tmp_path, name, model.config.to_dict())
    ckpt.save_checkpoint(tmp_path, 3, {f"model.{k}": v for k, v in model.state_dict().items()}, {},
                         {"model": name, "settings": {}, "seed": 0}, {"iteration": [], "src": [], "dst": []})
    loaded = FaceSwapper.load(tmp_path, precision=dtype, channels_last=False)
    assert loaded.iteration == 3 and type(loaded.model) is type(model)
    faces = _batch(model.resolution)["dst_warped"]
    with torch.no_grad(), PRECISIONS[dtype].autocast(torch.device("cpu")):
        expected = [t.float().numpy() for t in model.swap(faces)]
    got = loaded.swap(faces.permute(0, 2, 3, 1).numpy())
    np.testing.assert_array_equal(got[0], expected[0].transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(got[1], expected[1][:, 0])
    np.testing.assert_array_equal(got[2], expected[2][:, 0])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_export_runs_the_same_swap_in_onnxruntime(name: str, tmp_path: Path, tiny_config: TinyConfig) -> None:
    from recast.export.dfm import export_model
    from recast.models.onnx_swapper import OnnxFaceSwapper

    model = _model(name, tiny_config).eval()
    ckpt.write_model_config(tmp_path, name, model.config.to_dict())
    ckpt.save_checkpoint(tmp_path, 1, {f"model.{k}": v for k, v in model.state_dict().items()}, {},
                         {"model": name, "settings": {}, "seed": 0}, {"iteration": [], "src": [], "dst": []})
    export_model(tmp_path, tmp_path / "model.onnx")
    faces = _batch(model.resolution)["dst_warped"].permute(0, 2, 3, 1).numpy()
    morph = 0.5 if model.morphable else 1.0
    expected = FaceSwapper.load(tmp_path, precision="fp32", channels_last=False).swap(faces, morph=morph)
    got = OnnxFaceSwapper.load(tmp_path / "model.onnx", threads=1).swap(faces, morph=morph)
    for ours, theirs in zip(got, expected, strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_a_new_family_needs_only_its_module_and_one_registry_entry(tiny_config: TinyConfig) -> None:
    assert "toy" in list_models() and isinstance(_model("toy", tiny_config), Toy)
    from recast.models.registry import config_options

    assert "width" in {item.name for item in config_options()}  # its options reach the CLI and forms


# ------------------------------------------------------------------------------- other registries
@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


@pytest.mark.parametrize("name", list_detectors())
def test_every_detector_finds_the_face(name: str, photo: np.ndarray) -> None:
    if name == "onnx":
        pytest.skip("needs a user model file (tests/test_detector_onnx.py builds one)")
    detections = create_detector(name).detect(photo)
    assert detections, name
    x0, y0, x1, y1 = detections[0].rect
    assert 120 < (x0 + x1) / 2 < 260 and 40 < (y0 + y1) / 2 < 180  # the astronaut's face


@pytest.fixture(scope="module")
def faceset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_faceset(tmp_path_factory.mktemp("sort") / "faces", 6, identity=0, size=64,
                                   face_type=FaceType.FULL)


@pytest.mark.parametrize("method", list(SORT_METHODS))
def test_every_sort_method_accounts_for_every_face(method: str, faceset: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "faces"
    shutil.copytree(faceset, folder)
    before = sorted(p.name for p in folder.iterdir() if p.suffix in (".jpg", ".png"))
    result = sort_faceset(folder, method, workers=1)
    assert len(result.kept) + len(result.trashed) == len(before)
