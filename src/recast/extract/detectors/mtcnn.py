"""MTCNN face detector (Zhang et al. 2016) in PyTorch, with the weights of the ``mtcnn`` pip package.

Three cascaded networks: P-Net scans an image pyramid for 12 px face candidates, R-Net re-scores
24 px crops of the survivors and O-Net re-scores 48 px crops and regresses five keypoints. Each
stage refines the boxes with its regression output and merges overlaps by non-maximum suppression.

The weights are read from ``<mtcnn package>/assets/weights/{pnet,rnet,onet}.lz4`` without importing
the package (it imports TensorFlow). Those files are joblib pickles of Keras weight lists; they are
read by :func:`load_keras_weights`, an unpickler that only builds numpy arrays and refuses anything
else, so a tampered file cannot run code.
"""

from __future__ import annotations

import importlib.util
import io
import math
import pickle
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler
from torch import nn
from torch.nn import functional as F

from recast.errors import InputError, OptionError
from recast.extract.detectors.base import Detection
from recast.extract.detectors.boxes import nms

_LZ4_MAGIC = b"\x04\x22\x4d\x18"
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
}
_WEIGHT_COUNTS = {"pnet": 13, "rnet": 16, "onet": 21}


class _RestrictedUnpickler(NumpyUnpickler):
    """joblib's array unpickler with a whitelist: only numpy arrays and dtypes can be built."""

    dispatch = NumpyUnpickler.dispatch.copy()

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)

    def load_build(self) -> None:
        """Check a joblib array header before joblib reads the array bytes that follow it."""
        pickle._Unpickler.load_build(self)  # type: ignore[attr-defined]
        wrapper = self.stack[-1]
        if isinstance(wrapper, NumpyArrayWrapper):
            dtype = wrapper.dtype
            if not isinstance(dtype, np.dtype) or dtype.hasobject or wrapper.subclass is not np.ndarray:
                raise pickle.UnpicklingError("refusing to load a non-numeric array")
            self.stack[-1] = wrapper.read(self, True)

    dispatch[pickle.BUILD[0]] = load_build


def load_keras_weights(path: str | Path) -> list[np.ndarray]:
    """Read a joblib (optionally lz4-compressed) pickle holding a list of numeric numpy arrays.

    Raises:
        InputError: the file is missing or holds anything other than a list of numeric arrays
            (for example a payload that would call a function); nothing in it is executed.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read weights file ({exc.strerror or exc})") from None
    try:
        if raw.startswith(_LZ4_MAGIC):
            import lz4.frame

            raw = lz4.frame.decompress(raw)
        weights = _RestrictedUnpickler(str(path), io.BytesIO(raw), True).load()
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(path, f"not a valid weights file: {reason}") from None
    if not isinstance(weights, list) or not all(isinstance(w, np.ndarray) for w in weights):
        raise InputError(path, "not a valid weights file: expected a list of numpy arrays")
    return [np.asarray(w, dtype=np.float32) for w in weights]


def _weights_dir() -> Path:
    spec = importlib.util.find_spec("mtcnn")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("mtcnn", "the mtcnn package (which ships the MTCNN weights) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / "weights"


def _conv(weights: np.ndarray, bias: np.ndarray) -> nn.Conv2d:
    """A Conv2d from a Keras kernel ``(kh, kw, in, out)`` and bias ``(out,)``."""
    kh, kw, cin, cout = weights.shape
    conv = nn.Conv2d(cin, cout, (kh, kw))
    conv.weight.data = torch.from_numpy(np.ascontiguousarray(weights.transpose(3, 2, 0, 1)))
    assert conv.bias is not None
    conv.bias.data = torch.from_numpy(bias)
    return conv


def _linear(weights: np.ndarray, bias: np.ndarray) -> nn.Linear:
    """A Linear layer from a Keras dense kernel ``(in, out)`` and bias ``(out,)``."""
    cin, cout = weights.shape
    linear = nn.Linear(cin, cout)
    linear.weight.data = torch.from_numpy(np.ascontiguousarray(weights.T))
    linear.bias.data = torch.from_numpy(bias)
    return linear


def _prelu(alpha: np.ndarray) -> nn.PReLU:
    """A per-channel PReLU from a Keras alpha of shape ``(1, 1, C)`` or ``(C,)``."""
    alpha = alpha.reshape(-1)
    prelu = nn.PReLU(alpha.size)
    prelu.weight.data = torch.from_numpy(alpha.copy())
    return prelu


def _flatten_keras(x: torch.Tensor) -> torch.Tensor:
    """Flatten ``(N, C, H, W)`` the way the Keras nets do: ``Permute((2, 1, 3))`` of NHWC, then flatten."""
    return x.permute(0, 3, 2, 1).flatten(1)


class _PNet(nn.Module):
    """Proposal net: ``(N, 3, H, W)`` → box offsets ``(N, 4, h, w)`` and face probability ``(N, h, w)``."""

    def __init__(self, w: Sequence[np.ndarray]) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(w[0], w[1]), _prelu(w[2]), nn.MaxPool2d(2, 2, ceil_mode=True),
            _conv(w[3], w[4]), _prelu(w[5]),
            _conv(w[6], w[7]), _prelu(w[8]),
        )  # fmt: skip
        self.box = _conv(w[9], w[10])
        self.cls = _conv(w[11], w[12])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.body(x)
        return self.box(x), F.softmax(self.cls(x), dim=1)[:, 1]


class _RNet(nn.Module):
    """Refine net: ``(N, 3, 24, 24)`` → box offsets ``(N, 4)`` and face probability ``(N,)``."""

    def __init__(self, w: Sequence[np.ndarray]) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(w[0], w[1]), _prelu(w[2]), nn.MaxPool2d(3, 2, ceil_mode=True),
            _conv(w[3], w[4]), _prelu(w[5]), nn.MaxPool2d(3, 2),
            _conv(w[6], w[7]), _prelu(w[8]),
        )  # fmt: skip
        self.fc = nn.Sequential(_linear(w[9], w[10]), _prelu(w[11]))
        self.box = _linear(w[12], w[13])
        self.cls = _linear(w[14], w[15])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.fc(_flatten_keras(self.body(x)))
        return self.box(x), F.softmax(self.cls(x), dim=1)[:, 1]


class _ONet(nn.Module):
    """Output net: ``(N, 3, 48, 48)`` → box offsets ``(N, 4)``, keypoints ``(N, 10)`` as
    ``x1..x5, y1..y5`` relative to the crop, and face probability ``(N,)``."""

    def __init__(self, w: Sequence[np.ndarray]) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(w[0], w[1]), _prelu(w[2]), nn.MaxPool2d(3, 2, ceil_mode=True),
            _conv(w[3], w[4]), _prelu(w[5]), nn.MaxPool2d(3, 2),
            _conv(w[6], w[7]), _prelu(w[8]), nn.MaxPool2d(2, 2, ceil_mode=True),
            _conv(w[9], w[10]), _prelu(w[11]),
        )  # fmt: skip
        self.fc = nn.Sequential(_linear(w[12], w[13]), _prelu(w[14]))
        self.box = _linear(w[15], w[16])
        self.landmarks = _linear(w[17], w[18])
        self.cls = _linear(w[19], w[20])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.fc(_flatten_keras(self.body(x)))
        return self.box(x), self.landmarks(x), F.softmax(self.cls(x), dim=1)[:, 1]


@cache
def _load_networks(device: str) -> tuple[_PNet, _RNet, _ONet]:
    """The three networks with the mtcnn package's weights, loaded once per process and device."""
    folder = _weights_dir()
    nets = []
    for name, cls in (("pnet", _PNet), ("rnet", _RNet), ("onet", _ONet)):
        path = folder / f"{name}.lz4"
        weights = load_keras_weights(path)
        if len(weights) != _WEIGHT_COUNTS[name]:
            raise InputError(path, f"expected {_WEIGHT_COUNTS[name]} weight arrays, found {len(weights)}")
        # channels-last runs these small convolutions and poolings about twice as fast on CPU
        nets.append(cls(weights).to(device, memory_format=torch.channels_last).eval())  # type: ignore[call-overload]
    return nets[0], nets[1], nets[2]


def _square(boxes: np.ndarray) -> np.ndarray:
    """Grow each ``x1, y1, x2, y2`` box to a square around its centre (side = longer side)."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + (w - side) / 2
    out[:, 1] = boxes[:, 1] + (h - side) / 2
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Apply MTCNN box regression: each edge moves by its offset times the (inclusive) box size."""
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    return boxes + offsets * np.stack([w, h, w, h], axis=1)


def _normalise(bgr: np.ndarray) -> np.ndarray:
    """``(..., H, W, 3)`` uint8 BGR → ``(..., H, W, 3)`` float32 RGB scaled as ``(x - 127.5) / 128``."""
    return (bgr[..., ::-1].astype(np.float32) - 127.5) / 128.0


def _crops(image: np.ndarray, boxes: np.ndarray, size: int, pyramid: Sequence[np.ndarray] = ()) -> np.ndarray:
    """Cut each box out of the ``(H, W, 3)`` uint8 BGR image and area-resize it to ``size``².

    ``pyramid`` optionally holds downscaled copies of ``image`` (any order); a box is cut from the
    smallest copy in which it still spans at least ``size`` pixels, which costs far less than
    area-averaging a large box of the full image and gives nearly the same crop. Boxes are rounded
    to whole pixels of their source; parts outside the image are black. Returns the normalised
    network input ``(N, size, size, 3)`` float32 RGB.
    """
    height, width = image.shape[:2]
    sources = sorted([image, *pyramid], key=lambda level: -level.shape[1])
    scales = np.array([level.shape[1] / width for level in sources])
    sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    picks = np.maximum((sides[:, None] * scales[None, :] >= size).sum(axis=1) - 1, 0)
    out = np.empty((len(boxes), size, size, 3), dtype=np.uint8)
    for k, pick in enumerate(picks):
        source = sources[pick]
        sh, sw = source.shape[:2]
        x1, y1, x2, y2 = np.rint(boxes[k] * (sw / width, sh / height, sw / width, sh / height)).astype(int)
        cw, ch = max(x2 - x1, 1), max(y2 - y1, 1)
        sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, sw), min(y2, sh)
        if sx1 == x1 and sy1 == y1 and sx2 == x2 and sy2 == y2:
            patch = source[y1:y2, x1:x2]
        else:
            patch = np.zeros((ch, cw, 3), dtype=np.uint8)
            if sx2 > sx1 and sy2 > sy1:
                patch[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = source[sy1:sy2, sx1:sx2]
        interp = cv2.INTER_AREA if cw > size else cv2.INTER_LINEAR
        out[k] = cv2.resize(patch, (size, size), interpolation=interp)
    return _normalise(out)


class MtcnnDetector:
    """MTCNN: P-Net pyramid → R-Net → O-Net, boxes plus five keypoints per face.

    Args:
        min_face_size: smallest face side (pixels of the input image) to look for; the pyramid
            starts at the scale that maps this size to P-Net's 12 px window, so larger values
            are faster.
        thresholds: face-probability cut-offs for P-Net, R-Net and O-Net.
        scale_factor: ratio between successive pyramid levels, in (0, 1).
        device: torch device for the networks (``"cpu"`` or e.g. ``"cuda"``).

    ``score`` in each :class:`Detection` is O-Net's face probability in [0, 1]; boxes are clipped
    to the image.
    """

    name = "mtcnn"

    def __init__(
        self,
        min_face_size: int = 40,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        scale_factor: float = 0.709,
        device: str = "cpu",
    ) -> None:
        if min_face_size < 1:
            raise OptionError(f"mtcnn min_face_size must be at least 1, got {min_face_size}")
        if len(thresholds) != 3 or not all(0.0 <= t < 1.0 for t in thresholds):
            raise OptionError(f"mtcnn thresholds must be three values in [0, 1), got {tuple(thresholds)}")
        if not 0.1 <= scale_factor < 1.0:
            raise OptionError(f"mtcnn scale_factor must be in [0.1, 1), got {scale_factor}")
        self.min_face_size = int(min_face_size)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.scale_factor = float(scale_factor)
        try:
            self.device = torch.device(device)
        except RuntimeError:
            raise OptionError(f"mtcnn device {device!r} is not a valid torch device") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise OptionError(f"mtcnn device {device!r} requested but CUDA is not available")
        self._pnet, self._rnet, self._onet = _load_networks(str(self.device))

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Find faces in an ``(H, W, 3)`` uint8 BGR image; detections sorted by decreasing box area."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) BGR image, got shape {image.shape}")
        image = np.ascontiguousarray(image)
        with torch.inference_mode():
            boxes, pyramid = self._propose(image)
            if len(boxes):
                boxes = self._refine(image, boxes, pyramid)
            if not len(boxes):
                return []
            boxes, scores, points = self._output(image, boxes)
        height, width = image.shape[:2]
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        return [
            Detection(
                rect=(float(boxes[i, 0]), float(boxes[i, 1]), float(boxes[i, 2]), float(boxes[i, 3])),
                score=float(scores[i]),
                keypoints=points[i],
            )
            for i in np.argsort(-areas, kind="stable")
        ]

    def _scales(self, height: int, width: int) -> list[float]:
        scale = 12.0 / self.min_face_size
        scales = []
        while min(height, width) * scale >= 12.0:
            scales.append(scale)
            scale *= self.scale_factor
        return scales

    def _run(self, net: nn.Module, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        """Run a network on an ``(N, H, W, 3)`` float32 batch (passed as channels-last NCHW)."""
        tensor = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device).permute(0, 3, 1, 2)
        return tuple(o.float().cpu().numpy() for o in net(tensor))

    def _propose(self, image: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """P-Net over the pyramid → square candidate boxes ``(N, 5)`` (``x1, y1, x2, y2, score``)
        and the pyramid's downscaled uint8 BGR levels."""
        height, width = image.shape[:2]
        found = []
        pyramid = []
        source = image  # each downscaled level is made from the previous one (cheaper, same result)
        for scale in self._scales(height, width):
            sh, sw = math.ceil(height * scale), math.ceil(width * scale)
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            level = cv2.resize(source, (sw, sh), interpolation=interp)
            if scale < 1:
                source = level
                pyramid.append(level)
            offsets, prob = self._run(self._pnet, _normalise(level)[None])
            ys, xs = np.nonzero(prob[0] > self.thresholds[0])
            if not len(ys):
                continue
            cells = np.stack([xs, ys, xs, ys], axis=1).astype(np.float32) * 2
            cells[:, 2:] += 12
            boxes = (cells + offsets[0][:, ys, xs].T * 12) / scale
            scores = prob[0, ys, xs]
            keep = nms(boxes, scores, 0.5)
            found.append(np.column_stack([boxes[keep], scores[keep]]))
        if not found:
            return np.empty((0, 5), dtype=np.float32), pyramid
        boxes = np.concatenate(found)
        boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]
        boxes[:, :4] = _square(boxes[:, :4])
        return boxes, pyramid

    def _refine(self, image: np.ndarray, boxes: np.ndarray, pyramid: Sequence[np.ndarray]) -> np.ndarray:
        """R-Net on 24 px crops (cut from the cheapest pyramid level) → refined square boxes ``(M, 5)``."""
        offsets, prob = self._run(self._rnet, _crops(image, boxes[:, :4], 24, pyramid))
        keep = prob > self.thresholds[1]
        refined = _regress(boxes[keep, :4], offsets[keep])
        scores = prob[keep]
        order = nms(refined, scores, 0.7)
        return np.column_stack([_square(refined[order]), scores[order]])

    def _output(self, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """O-Net on 48 px crops of the full image (for precise keypoints).

        Returns boxes ``(K, 4)``, scores ``(K,)`` and keypoints ``(K, 5, 2)`` float32.
        """
        offsets, landmarks, prob = self._run(self._onet, _crops(image, boxes[:, :4], 48))
        keep = prob > self.thresholds[2]
        crops, offsets, landmarks, scores = boxes[keep, :4], offsets[keep], landmarks[keep], prob[keep]
        w = (crops[:, 2] - crops[:, 0] + 1)[:, None]
        h = (crops[:, 3] - crops[:, 1] + 1)[:, None]
        xs = landmarks[:, :5] * w + crops[:, 0:1] - 1
        ys = landmarks[:, 5:] * h + crops[:, 1:2] - 1
        points = np.stack([xs, ys], axis=2).astype(np.float32)
        refined = _regress(crops, offsets)
        order = nms(refined, scores, 0.7, mode="min")
        return refined[order], scores[order], points[order]
