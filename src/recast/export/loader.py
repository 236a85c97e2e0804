"""One entry point for a face model given by path: a trained model folder or a ``.dfm``/``.onnx`` file."""

from __future__ import annotations

from pathlib import Path

from recast.errors import InputError
from recast.export.contract import is_model_file
from recast.merge.blend import SwapModel


def load_face_model(path: str | Path, device: str = "cpu", precision: str = "auto") -> SwapModel:
    """Load ``path`` for the merger: a ``.dfm``/``.onnx`` file runs in onnxruntime (no torch), a model
    folder in PyTorch on ``device`` with ``precision`` (see :mod:`recast.runtime.precision`).

    Raises:
        InputError: no such folder or file, or one that is not a face model (one line).
    """
    path = Path(path)
    if is_model_file(path):
        from recast.export.onnx_swapper import OnnxFaceSwapper

        return OnnxFaceSwapper.load(path)
    if not path.is_dir():
        raise InputError(path, "no such model folder or .dfm/.onnx face model")
    from recast.train.inference import FaceSwapper  # torch is imported only for model folders

    return FaceSwapper.load(path, device=device, precision=precision)
