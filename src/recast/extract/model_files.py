"""Locate model files shipped by installed packages, without importing those packages.

``face_recognition_models`` imports ``pkg_resources`` (gone from setuptools ≥ 81) and ``mtcnn``
imports TensorFlow, so both are found through their import spec instead.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from recast.errors import RecastError


def package_dir(package: str) -> Path:
    """The folder of an installed package; raises :class:`RecastError` when it is missing."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RecastError(f"the package {package!r} is not installed (pip install {package.replace('_', '-')})")
    return Path(next(iter(spec.submodule_search_locations)))


def dlib_model(name: str) -> Path:
    """Path of a dlib model file from ``face_recognition_models`` (e.g. ``shape_predictor_68_face_landmarks.dat``)."""
    path = package_dir("face_recognition_models") / "models" / name
    if not path.is_file():
        raise RecastError(f"dlib model {name} is missing from face_recognition_models")
    return path
