"""Which arithmetic precision a network runs in, chosen from what the hardware computes natively.

Autocast runs convolutions and matrix products in a 16-bit type while weights, optimiser state and
losses stay float32. It pays only where the hardware has that arithmetic; emulated, it is slower
than float32. ``auto`` therefore decides by hardware *capabilities*, never by a check that counts
emulation (``torch.ops.mkldnn._is_mkldnn_bf16_supported()`` is true on any AVX512BW CPU, and
``torch.cuda.is_bf16_supported()`` on Volta/Turing):

================================  ==========================  ================================
device                            ``auto`` for training        ``auto`` for inference (merge)
================================  ==========================  ================================
x86 CPU with AVX512-BF16 or AMX   bfloat16                    bfloat16
any other CPU                     float32                     float32
CUDA, compute capability ≥ 8.0    bfloat16                    bfloat16
CUDA, compute capability < 8.0    float16 + loss scaling      float16
================================  ==========================  ================================

Measured on a 2-core AMD EPYC (Zen 4) with AVX512-BF16, 2 threads: the ``cpu`` preset trained at
216 ms/iter in bf16 vs 314 in float32 (batch 8), a 128 px SAEHD forward pass about 2× faster. On a
2-core x86 CPU with AVX512 but without AVX512-BF16, bf16 was emulated: 815 vs 260 ms/iter (3.1×
slower). The CUDA rows follow NVIDIA's hardware tables (bf16 tensor cores from Ampere, fp16 from
Volta); they were not measured by this project.

Example:
    >>> choice = choose_precision("auto", torch.device("cpu"))
    >>> choice.describe()      # on a CPU without AVX512-BF16 or AMX
    'float32 (this CPU has no AVX512-BF16 or AMX: bf16 would be emulated)'
    >>> with choice.autocast(torch.device("cpu")):
    ...     out = model(x)
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from recast.errors import OptionError
from recast.runtime.options import PRECISIONS

Purpose = Literal["train", "infer"]

_DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
_CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "amx_tile")


@dataclass(frozen=True)
class Precision:
    """A precision decision: the autocast dtype (None = float32) and why it was chosen.

    Attributes:
        dtype: ``torch.bfloat16`` / ``torch.float16`` for autocast, or None for plain float32.
        reason: one clause for the console ("this CPU computes bf16 natively (avx512_bf16)").
        requested: the name asked for (``auto``, ``fp32``, ``bf16``, ``fp16``).
    """

    dtype: torch.dtype | None
    reason: str
    requested: str = "auto"

    @property
    def name(self) -> str:
        """``"float32"``, ``"bfloat16"`` or ``"float16"``."""
        return dtype_name(self.dtype)

    @property
    def loss_scaling(self) -> bool:
        """Whether training needs a gradient scaler (float16's narrow exponent underflows gradients)."""
        return self.dtype == torch.float16

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        """``torch.autocast`` to :attr:`dtype` on ``device``; a no-op context for float32."""
        return contextlib.nullcontext() if self.dtype is None else torch.autocast(device.type, dtype=self.dtype)

    def describe(self) -> str:
        """One line for the console: ``"bfloat16 autocast (…reason…)"``."""
        kind = "float32" if self.dtype is None else f"{self.name} autocast"
        return f"{kind} ({self.reason})"


def dtype_name(dtype: torch.dtype | None) -> str:
    """``"float32"`` for None, else the dtype's name (``"bfloat16"``), for messages and tables."""
    return "float32" if dtype is None else str(dtype).removeprefix("torch.")


@functools.cache
def cpu_flags() -> frozenset[str]:
    """Instruction-set flags of this CPU that matter for bf16: a subset of ``avx512_bf16``, ``amx_bf16``,
    ``amx_tile``, read from PyTorch's cpuinfo probes and, on Linux, ``/proc/cpuinfo``.

    Both sources report hardware instructions, not what oneDNN can emulate. Tests fake this function.
    """
    flags = set()
    probes = {"avx512_bf16": "_is_avx512_bf16_supported", "amx_tile": "_is_amx_tile_supported"}
    for flag, probe in probes.items():
        check = getattr(torch.cpu, probe, None)
        if check is not None and check():
            flags.add(flag)
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("flags"):
                flags.update(set(line.split(":", 1)[1].split()) & set(_CPU_BF16_FLAGS))
                break
    return frozenset(flags)


def cuda_capability(device: torch.device) -> tuple[int, int]:
    """``(major, minor)`` compute capability of a CUDA device. Tests fake this function."""
    return torch.cuda.get_device_capability(device)


def cpu_native_bf16() -> tuple[bool, str]:
    """Whether this CPU computes bf16 natively, and the reason in words."""
    found = sorted(cpu_flags() & set(_CPU_BF16_FLAGS))
    if found and torch.backends.mkldnn.is_available():
        return True, f"this CPU computes bf16 natively: {', '.join(found)}"
    if found:
        return False, "this PyTorch build has no oneDNN, which the CPU's bf16 instructions need"
    return False, "this CPU has no AVX512-BF16 or AMX: bf16 would be emulated"


def choose_precision(requested: str, device: torch.device, purpose: Purpose = "train") -> Precision:
    """The precision for running a network on ``device`` (see the module table for ``auto``).

    A forced name is obeyed where it can run; the reason then says whether the hardware has it.

    Raises:
        OptionError: an unknown name, or fp16 asked for on a CPU (emulated, and no CPU loss scaling).
    """
    if requested not in PRECISIONS:
        raise OptionError(f"--precision {requested!r}: choose one of {', '.join(PRECISIONS)}")
    if device.type == "cuda":
        major, minor = cuda_capability(device)
        native_bf16 = major >= 8
        hardware = f"CUDA compute capability {major}.{minor}"
        if requested == "auto":
            if native_bf16:
                return Precision(torch.bfloat16, f"{hardware} has bf16 tensor cores", requested)
            if major >= 7:
                scaled = " with loss scaling" if purpose == "train" else ""
                return Precision(torch.float16, f"{hardware} has fp16 but no bf16 tensor cores; fp16{scaled}",
                                 requested)
            return Precision(None, f"{hardware} has no tensor cores", requested)
        if requested == "bf16" and not native_bf16:
            return Precision(torch.bfloat16, f"asked for; {hardware} emulates bf16, expect it to be slow", requested)
        return Precision(_DTYPES[requested], "asked for", requested)
    if requested == "fp16":
        raise OptionError("--precision fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
    if device.type != "cpu":
        if requested == "auto":
            return Precision(None, f"reduced precision is not chosen automatically on {device.type}", requested)
        return Precision(_DTYPES[requested], f"asked for on {device.type}", requested)
    native, why = cpu_native_bf16()
    if requested == "auto":
        return Precision(torch.bfloat16 if native else None, why, requested)
    if requested == "bf16" and not native:
        return Precision(torch.bfloat16, f"asked for; {why}, expect about 3× slower than float32", requested)
    return Precision(_DTYPES[requested], "asked for", requested)
