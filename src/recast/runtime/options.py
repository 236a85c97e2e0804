"""The run knobs every command that runs a network shares, declared once (no torch: help and forms read them).

:class:`ComputeOptions` says where and how a run computes (device, precision, threads, workers,
batch size, seed); :class:`Limits` says when a training run stops (target iteration, iterations to
add, minutes). Each command takes the subset it uses with :func:`recast.options.select`, so
``recast train``, ``recast xseg train``, ``recast merge``, ``recast live``, ``recast run``,
``recast train-enhancer`` and the studio's forms show the same flag, help, range and default, and
validate the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from recast.errors import OptionError
from recast.options import option

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
"""Precisions a user can ask for: ``auto`` (see :mod:`recast.runtime.precision`), or one of the three forced."""

_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d{1,3})?")
_COMPUTE, _LIMITS = "Compute", "Limits"


def parse_device(value: Any) -> str:
    """``value`` as a device name (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``; lower-cased), or OptionError.

    Only the spelling is checked here (no torch); whether the device is usable on this machine is
    :func:`recast.runtime.devices.resolve_device`'s check when the run starts.
    """
    text = str(value).strip().lower()
    if not _DEVICE.fullmatch(text):
        raise OptionError(f"not a device: {str(value)[:40]!r}; use auto, cpu, cuda, cuda:N or mps")
    return text


@dataclass(frozen=True)
class ComputeOptions:
    """Where and how a run computes: device, precision, threads, workers, batch size, seed."""

    OPTIONS_NOUN: ClassVar[str] = "compute option"
    OPTIONS_LABEL: ClassVar[str] = "{flag}"

    device: str = option("auto", "Torch device: auto (CUDA when usable, else CPU), cpu, cuda, cuda:N or mps",
                         parse=parse_device, group=_COMPUTE)
    precision: str = option("auto", "Model precision (auto: bf16 where the hardware computes it natively, fp16 on "
                            "older CUDA GPUs, else fp32; fp16 needs CUDA)", choices=PRECISIONS,
                            group=_COMPUTE)
    threads: int | None = option(None, "Torch CPU threads, fixed", ge=1, le=1024, group=_COMPUTE,
                                 default_text="one per usable core, fewer while other programs load the CPU")
    workers: int | None = option(None, "Helper processes or threads (training: data loading; merging: reading, "
                                 "blending and writing)", ge=0, le=64, group=_COMPUTE, default_text="automatic")
    batch_size: int = option(8, "Faces per model batch when merging", ge=1, le=256, group=_COMPUTE)
    seed: int = option(0, "Seed for initialisation, sampling and augmentation", ge=0, le=2**32 - 1, group=_COMPUTE)
    nproc: int = option(1, "Training processes on this machine (more than 1: the command runs itself under "
                        "torchrun, one process per GPU or a share of the CPU cores)", ge=1, le=1024, group=_COMPUTE)


@dataclass(frozen=True)
class Limits:
    """When a training run stops; with none of them it trains until Ctrl-C (which saves)."""

    OPTIONS_NOUN: ClassVar[str] = "limit"
    OPTIONS_LABEL: ClassVar[str] = "{flag}"

    iterations: int | None = option(None, "Target iteration: stop when the model reaches it, counting earlier runs "
                                    "(DeepFaceLab's meaning)", ge=0, group=_LIMITS, default_text="no limit")
    more: int | None = option(None, "Stop after this many more iterations (instead of --iterations)", ge=0,
                              group=_LIMITS, default_text="no limit")
    minutes: float | None = option(None, "Stop after this many minutes of this run", ge=0, group=_LIMITS,
                                   default_text="no limit")

    def check(self) -> None:
        """Raise :class:`OptionError` when both --iterations and --more are given (they contradict)."""
        if self.iterations is not None and self.more is not None:
            raise OptionError("give --iterations (the target iteration) or --more (iterations to add), not both")
