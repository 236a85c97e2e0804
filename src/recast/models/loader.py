"""One entry point for a face model given by path: a trained model folder or a ``.dfm``/``.onnx`` file."""

from __future__ import annotations

from pathlib import Path

from recast.errors import InputError
from recast.models.contract import is_model_file
from recast.models.swapmodel import SwapModel


def load_face_model(path: str | Path, device: str = "cpu", precision: str = "auto",
                    face_type: str | None = None) -> SwapModel:
    """Load ``path`` for the merger: a ``.dfm``/``.onnx`` file runs in onnxruntime (no torch), a model
    folder in PyTorch on ``device`` with ``precision`` (see :mod:`recast.runtime.precision`).

    ``face_type`` names the crop of a ``.dfm``/``.onnx`` file that does not record it (see
    :class:`recast.models.onnx_swapper.OnnxFaceSwapper`); a model folder always knows its own.

    Raises:
        InputError: no such folder or file, or one that is not a face model (one line).
    """
    path = Path(path)
    if is_model_file(path):
        from recast.models.onnx_swapper import OnnxFaceSwapper

        return OnnxFaceSwapper.load(path, face_type=face_type)
    if not path.is_dir():
        raise InputError(path, "no such model folder or .dfm/.onnx face model")
    from recast.models.inference import FaceSwapper  # torch is imported only for model folders

    return FaceSwapper.load(path, device=device, precision=precision)
