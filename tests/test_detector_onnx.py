"""ONNX detector: a tiny exported model that follows the contract, and files that do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from recast.errors import InputError
from recast.extract.detectors import create_detector
from recast.extract.detectors.onnx import OnnxDetector

SIZE = 160

# dynamo=False is the legacy exporter, which warns that it is deprecated.
pytestmark = [
    pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export"),
    pytest.mark.filterwarnings("ignore:The feature will be removed"),
]


class _BrightBoxModel(nn.Module):
    """Follows the contract: one box around the pixels brighter than 0.5 (score 0.9), a copy of it
    shifted by 2 px (score 0.8, to be merged by NMS), a small box in the middle of the input
    (score 0.3, below the default threshold), and keypoints at fixed fractions of each box."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("low_box", torch.tensor([75.0, 75.0, 85.0, 85.0]))
        self.register_buffer("scores", torch.tensor([0.9, 0.8, 0.3]))
        self.register_buffer(
            "fractions", torch.tensor([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]])
        )

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        bright = (image.mean(dim=1)[0] > 0.5).float()  # (S, S)
        cols = bright.amax(dim=0)
        rows = bright.amax(dim=1)
        index = torch.arange(SIZE, dtype=torch.float32)
        x1 = (index + (1 - cols) * 1e6).amin()
        y1 = (index + (1 - rows) * 1e6).amin()
        x2 = (index * cols).amax() + 1
        y2 = (index * rows).amax() + 1
        box = torch.stack([x1, y1, x2, y2])
        boxes = torch.stack([box, box + 2, self.low_box])
        wh = (boxes[:, 2:] - boxes[:, :2]).unsqueeze(1)
        keypoints = boxes[:, None, :2] + self.fractions[None] * wh
        return boxes, self.scores, keypoints


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "bright_box.onnx"
    torch.onnx.export(
        _BrightBoxModel(),
        (torch.zeros(1, 3, SIZE, SIZE),),
        str(path),
        input_names=["image"],
        output_names=["boxes", "scores", "keypoints"],
        dynamo=False,
    )
    return path


def test_boxes_map_back_to_image(model_path: Path) -> None:
    detector = create_detector("onnx", model_path=model_path, input_size=SIZE)
    assert detector.name == "onnx"
    image = np.zeros((200, 400, 3), dtype=np.uint8)  # wide: letterboxed with bars above and below
    image[50:120, 100:180] = 255
    detections = detector.detect(image)
    assert len(detections) == 1
    face = detections[0]
    assert face.score == pytest.approx(0.9)
    np.testing.assert_allclose(face.rect, (100, 50, 180, 120), atol=2.5)
    assert face.keypoints is not None and face.keypoints.shape == (5, 2)
    np.testing.assert_allclose(face.keypoints[0], (100 + 0.3 * 80, 50 + 0.4 * 70), atol=2.5)
    np.testing.assert_allclose(face.keypoints[4], (100 + 0.65 * 80, 50 + 0.8 * 70), atol=2.5)


def test_thresholds_are_applied(model_path: Path) -> None:
    image = np.zeros((300, 150, 3), dtype=np.uint8)  # tall: letterboxed with bars left and right
    image[200:280, 20:90] = 255
    everything = OnnxDetector(model_path, input_size=SIZE, score_threshold=0.0, nms_iou=1.0).detect(image)
    assert sorted(round(d.score, 2) for d in everything) == [0.3, 0.8, 0.9]
    detections = OnnxDetector(model_path, input_size=SIZE, score_threshold=0.85).detect(image)
    assert len(detections) == 1
    np.testing.assert_allclose(detections[0].rect, (20, 200, 90, 280), atol=2.5)


def test_wrong_input_size_is_refused(model_path: Path) -> None:
    with pytest.raises(InputError, match="input_size"):
        OnnxDetector(model_path, input_size=320)


def test_bad_files_are_refused(tmp_path: Path) -> None:
    fake = tmp_path / "detector.onnx"
    fake.write_text("this is not a model\n")
    with pytest.raises(InputError, match="not a valid ONNX model") as info:
        OnnxDetector(fake)
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="not found"):
        OnnxDetector(tmp_path / "missing.onnx")


def test_model_without_contract_outputs_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "identity.onnx"
    torch.onnx.export(
        nn.Identity(),
        (torch.zeros(1, 3, SIZE, SIZE),),
        str(path),
        input_names=["image"],
        output_names=["heatmap"],
        dynamo=False,
    )
    with pytest.raises(InputError, match="boxes"):
        OnnxDetector(path, input_size=SIZE)
