"""Torch device names as users give them: ``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``.

>>> resolve_device("auto")   # "cuda" when a CUDA GPU is usable, else "cpu"
'cpu'

Every problem (a CPU-only torch asked for CUDA, a GPU index that does not exist, a typo) is an
:class:`~recast.errors.OptionError` naming ``--device``, raised before any file is written.
"""

from __future__ import annotations

import logging

import torch

from recast.errors import OptionError

log = logging.getLogger(__name__)

_CHOICES = "auto, cpu, cuda, cuda:N or mps"


def resolve_device(name: str) -> str:
    """Check that ``name`` is usable here and return the concrete torch device string.

    ``auto`` becomes ``cuda`` when torch sees a CUDA GPU, else ``cpu``. ``cuda`` without an index
    stays ``cuda`` (the trainer picks the rank's GPU under torchrun).

    Raises:
        OptionError: unknown name, CUDA/MPS not available in this torch build or machine, or a
            GPU index beyond the GPUs present.
    """
    text = str(name).strip().lower()
    if text == "auto":
        chosen = "cuda" if torch.cuda.is_available() else "cpu"
        log.info("--device auto: using %s", chosen)
        return chosen
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise OptionError(f"--device {name!r}: not a device; use {_CHOICES}") from None
    if device.type == "cpu":
        return "cpu"
    if device.type == "cuda":
        if torch.version.cuda is None and torch.version.hip is None:
            raise OptionError(f"--device {name}: this torch build has no CUDA support (install a CUDA build of "
                              "torch, see the README), or use --device cpu / auto")
        if not torch.cuda.is_available():
            raise OptionError(f"--device {name}: no CUDA GPU is usable (driver missing or CUDA_VISIBLE_DEVICES "
                              "hides it); use --device cpu / auto")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise OptionError(f"--device {name}: this machine has {count} CUDA GPU(s), numbered 0–{count - 1}")
        return str(device)
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise OptionError(f"--device {name}: Apple MPS is not available here; use --device cpu / auto")
        return "mps"
    raise OptionError(f"--device {name}: {device.type} devices are not supported; use {_CHOICES}")
