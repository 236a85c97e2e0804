"""Merging with XSeg mask modes on a synthetic workspace (frames + aligned faces + a function swap model)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from recast.errors import OptionError
from recast.faces.facetype import FaceType
from recast.merge.blend import crop_face, predict
from recast.merge.maskops import select_mask
from recast.merge.settings import MergeSettings
from recast.merge.stage import merge
from recast.merge.xsegmask import add_xseg_masks, xseg_crop
from recast.models.xseg import XSeg
from recast.models.xseg_config import xseg_config
from recast.models.xseg_inference import XSegPredictor
from test_merge_models import FunctionModel, invert
from test_merge_stage import FACES, _landmarks, workspace  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def constant_xseg(value: float) -> XSegPredictor:
    """A real XSeg-cpu network whose output layer is set to give ``sigmoid(value)`` everywhere."""
    model = XSeg(xseg_config("xseg-cpu"))
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.fill_(value)
    return XSegPredictor(model)


class LeftHalfMasker:
    """An XSeg stand-in whose mask is the left half of its crop (to check the crop geometry)."""

    face_type = FaceType.FULL
    resolution = 256

    def predict(self, faces: np.ndarray, batch_size: int = 16) -> np.ndarray:
        masks = np.zeros(faces.shape[:3], np.float32)
        masks[:, :, :128] = 1.0
        return masks


def test_xseg_modes_need_an_xseg_model(workspace: Path) -> None:  # noqa: F811
    with pytest.raises(OptionError, match="--xseg"):
        merge(FunctionModel(invert), workspace / "frames", workspace / "aligned", workspace / "merged",
              MergeSettings(mask_mode="xseg-dst"))


def test_merge_with_xseg_dst(workspace: Path) -> None:  # noqa: F811
    args = (workspace / "frames", workspace / "aligned")
    kept = merge(FunctionModel(invert), *args, workspace / "kept", MergeSettings(mask_mode="xseg-dst", color="none"),
                 xseg=constant_xseg(20.0))
    assert kept.faces_merged == 6
    mask = cv2.imread(str(workspace / "kept_mask" / "00001.png"), cv2.IMREAD_GRAYSCALE)
    x, y = np.round(_landmarks(1, 0)[30]).astype(int)
    assert mask[y, x] > 200
    cut = merge(FunctionModel(invert), *args, workspace / "cut",
                MergeSettings(mask_mode="learned-prd*learned-dst*xseg-prd*xseg-dst"), xseg=constant_xseg(-20.0))
    assert cut.faces_merged == 0 and cut.faces_masked_out == sum(FACES.values())


def test_xseg_masks_land_in_the_model_crop() -> None:
    frame = np.full((240, 320, 3), 100, np.uint8)
    landmarks = _landmarks(1, 0)
    crop = crop_face(frame, landmarks, 128, FaceType.WHOLE)
    prediction = predict(FunctionModel(invert), [crop])[0]
    masker = LeftHalfMasker()
    add_xseg_masks(masker, [(crop, prediction, xseg_crop(frame, landmarks, masker), ("xseg-dst", "xseg-prd"))])
    assert prediction.xseg_dst is not None and prediction.xseg_prd is not None
    assert prediction.xseg_dst.shape == (128, 128)
    assert prediction.xseg_dst[64, 40] == 1 and prediction.xseg_dst[64, 90] == 0  # left half, in the wider crop
    assert np.allclose(prediction.xseg_dst, prediction.xseg_prd)
    combined = select_mask("learned-prd*xseg-dst", (128, 128), prediction.prd_mask, prediction.dst_mask,
                           xseg_dst=prediction.xseg_dst)
    assert combined[64, 90] == 0 and combined[64, 50] > 0.5
