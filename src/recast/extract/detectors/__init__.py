"""Face detectors, registered by name (like timm's model registry).

>>> from recast.extract.detectors import create_detector
>>> detector = create_detector("dlib-hog")
>>> detections = detector.detect(image_bgr)   # list[Detection], largest first

Each factory imports its backend lazily so that ``recast --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recast.errors import OptionError
from recast.extract.detectors.base import Detection, Detector


def _dlib_hog(**kwargs: Any) -> Detector:
    from recast.extract.detectors.dlib_detectors import DlibHogDetector

    return DlibHogDetector(**kwargs)


def _dlib_cnn(**kwargs: Any) -> Detector:
    from recast.extract.detectors.dlib_detectors import DlibCnnDetector

    return DlibCnnDetector(**kwargs)


def _mtcnn(**kwargs: Any) -> Detector:
    from recast.extract.detectors.mtcnn import MtcnnDetector

    return MtcnnDetector(**kwargs)


def _onnx(**kwargs: Any) -> Detector:
    if kwargs.get("model_path") is None:
        raise OptionError("--detector onnx needs its model file: add --detector-model FILE.onnx")
    from recast.extract.detectors.onnx import OnnxDetector

    return OnnxDetector(**kwargs)


DETECTORS: dict[str, Callable[..., Detector]] = {
    "dlib-hog": _dlib_hog,
    "mtcnn": _mtcnn,
    "dlib-cnn": _dlib_cnn,
    "onnx": _onnx,
}


def list_detectors() -> list[str]:
    """Names accepted by :func:`create_detector`."""
    return list(DETECTORS)


def create_detector(name: str, **kwargs: Any) -> Detector:
    """Build the detector registered as ``name``; ``kwargs`` go to its constructor."""
    try:
        factory = DETECTORS[name]
    except KeyError:
        raise OptionError(f"--detector {name!r}: unknown detector; choose one of {', '.join(DETECTORS)}") from None
    return factory(**kwargs)


__all__ = ["DETECTORS", "Detection", "Detector", "create_detector", "list_detectors"]
