"""Run a user-supplied ONNX face detector with onnxruntime (CPU).

Model contract — any face detector exported to ONNX works if it follows it:

* **Input** ``"image"``: float32 ``(1, 3, S, S)``, RGB, values in [0, 1]. ``S`` is the
  detector's ``input_size``. The frame is *letterboxed*: scaled (keeping its aspect ratio) so that
  its longer side is ``S``, centred in the square, and the border filled with 0 (black). The spatial
  dimensions may be dynamic or fixed; when fixed they must equal ``S``.
* **Output** ``"boxes"``: float ``(N, 4)`` — ``x1, y1, x2, y2`` in pixels of the ``S × S`` input.
* **Output** ``"scores"``: float ``(N,)`` — confidence, higher is better (e.g. a probability).
* **Optional output** ``"keypoints"``: float ``(N, 5, 2)`` (or ``(N, 10)`` as ``x1, y1, x2, y2, …``)
  — ``(x, y)`` input pixels of left eye, right eye, nose, left and right mouth corner as seen in
  the image.

A leading batch axis of size 1 on the outputs (``(1, N, 4)`` …) is accepted. The model may return
raw candidates: the detector drops those below ``score_threshold``, merges overlaps by
non-maximum suppression, maps boxes back to the original frame and clips them to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from recast.errors import InputError, OptionError
from recast.extract.detectors.base import Detection
from recast.extract.detectors.boxes import nms

if TYPE_CHECKING:
    import onnxruntime

INPUT_NAME = "image"
REQUIRED_OUTPUTS = ("boxes", "scores")
KEYPOINTS_OUTPUT = "keypoints"


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Fit an ``(H, W, 3)`` uint8 BGR image into the model's square input.

    Returns the input tensor ``(1, 3, size, size)`` float32 RGB in [0, 1], the scale applied to the
    image and the ``(x, y)`` offset of its top-left corner in the square; an input pixel ``p`` maps
    back to ``(p - offset) / scale``.
    """
    height, width = image.shape[:2]
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
    left, top = (size - new_w) // 2, (size - new_h) // 2
    canvas = np.zeros((size, size, 3), dtype=np.float32)
    canvas[top : top + new_h, left : left + new_w] = resized[:, :, ::-1] / np.float32(255.0)
    return canvas.transpose(2, 0, 1)[None].copy(), scale, (float(left), float(top))


class OnnxDetector:
    """A face detector from an ONNX file that follows the contract in this module's docstring.

    Args:
        model_path: the ``.onnx`` file.
        input_size: side ``S`` of the square model input, in pixels.
        score_threshold: minimum ``scores`` value for a detection to be kept.
        nms_iou: boxes overlapping a better one by more than this IoU are dropped.

    Raises:
        InputError: the file is missing, is not a loadable ONNX model, or its inputs/outputs do
            not follow the contract.
        OptionError: an argument is out of range.
    """

    name = "onnx"

    def __init__(
        self,
        model_path: str | Path,
        input_size: int = 320,
        score_threshold: float = 0.5,
        nms_iou: float = 0.4,
    ) -> None:
        if input_size < 16:
            raise OptionError(f"onnx detector input_size must be at least 16, got {input_size}")
        if not 0.0 <= score_threshold <= 1.0:
            raise OptionError(f"onnx detector score_threshold must be in [0, 1], got {score_threshold}")
        if not 0.0 < nms_iou <= 1.0:
            raise OptionError(f"onnx detector nms_iou must be in (0, 1], got {nms_iou}")
        self.model_path = Path(model_path)
        self.input_size = int(input_size)
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self._session = self._open(self.model_path)
        self._outputs = [o.name for o in self._session.get_outputs()]
        self._has_keypoints = KEYPOINTS_OUTPUT in self._outputs
        self._check_contract()

    @staticmethod
    def _open(path: Path) -> onnxruntime.InferenceSession:
        if not path.is_file():
            raise InputError(path, "ONNX model file not found" if not path.exists() else "not a file")
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            reason = lines[0] if lines else type(exc).__name__
            raise InputError(path, f"not a valid ONNX model ({reason})") from None

    def _check_contract(self) -> None:
        inputs = {i.name: i for i in self._session.get_inputs()}
        if INPUT_NAME not in inputs:
            raise InputError(
                self.model_path, f"model has no input named {INPUT_NAME!r} (inputs: {', '.join(inputs)})"
            )
        missing = [name for name in REQUIRED_OUTPUTS if name not in self._outputs]
        if missing:
            raise InputError(
                self.model_path,
                f"model lacks output(s) {', '.join(missing)} (outputs: {', '.join(self._outputs)})",
            )
        shape = inputs[INPUT_NAME].shape
        if len(shape) != 4:
            raise InputError(self.model_path, f"input {INPUT_NAME!r} must be 4-D (1, 3, S, S), got {shape}")
        fixed = [d for d in shape[2:] if isinstance(d, int)]
        if any(d != self.input_size for d in fixed):
            wanted = f"{self.input_size}x{self.input_size}"
            raise InputError(
                self.model_path, f"model input is {shape[2]}x{shape[3]}, not {wanted}; set input_size"
            )

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Find faces in an ``(H, W, 3)`` uint8 BGR image; detections sorted by decreasing box area."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) BGR image, got shape {image.shape}")
        tensor, scale, (left, top) = letterbox(image, self.input_size)
        results = dict(zip(self._outputs, self._session.run(None, {INPUT_NAME: tensor}), strict=True))
        boxes = np.asarray(results["boxes"], dtype=np.float32).reshape(-1, 4)
        scores = np.asarray(results["scores"], dtype=np.float32).reshape(-1)
        if len(scores) != len(boxes):
            raise InputError(self.model_path, f"model returned {len(boxes)} boxes but {len(scores)} scores")
        points = None
        if self._has_keypoints:
            points = np.asarray(results[KEYPOINTS_OUTPUT], dtype=np.float32).reshape(-1, 5, 2)
            if len(points) != len(boxes):
                raise InputError(
                    self.model_path, f"model returned {len(boxes)} boxes but {len(points)} keypoint sets"
                )

        keep = np.flatnonzero(np.isfinite(boxes).all(axis=1) & (scores >= self.score_threshold))
        keep = keep[nms(boxes[keep], scores[keep], self.nms_iou)]
        offset = np.array([left, top], dtype=np.float32)
        height, width = image.shape[:2]
        mapped = ((boxes[keep].reshape(-1, 2, 2) - offset) / scale).reshape(-1, 4)
        mapped[:, 0::2] = mapped[:, 0::2].clip(0, width)
        mapped[:, 1::2] = mapped[:, 1::2].clip(0, height)
        areas = (mapped[:, 2] - mapped[:, 0]) * (mapped[:, 3] - mapped[:, 1])
        detections = []
        for k in np.argsort(-areas, kind="stable"):
            x1, y1, x2, y2 = (float(v) for v in mapped[k])
            if x2 <= x1 or y2 <= y1:
                continue
            kps = ((points[keep[k]] - offset) / scale).astype(np.float32) if points is not None else None
            detections.append(Detection(rect=(x1, y1, x2, y2), score=float(scores[keep[k]]), keypoints=kps))
        return detections
