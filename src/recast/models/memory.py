"""How much memory a model needs, per rank, before anything is allocated (no torch here).

An estimate is built from counts that the caller measures without allocating (the model built on
torch's ``meta`` device: see :mod:`recast.models.memory_probe`):

* **parameters** and **trainable** parameters (elements);
* **activation elements per sample**: what autograd keeps for backward in one sample's forward pass
  and loss, and the largest single tensor (the transient peak of backward);
* **input elements per sample**: the batch tensors themselves.

:func:`estimate_training` adds fp32 weights, gradients, optimiser state (slots per trainable
parameter: Adam 2, RMSprop 1; divided over the ranks when the state is sharded), activations
at the per-rank batch, the inputs, communication buffers and the process's own memory.
:func:`estimate_inference` counts weights, one batch's
activations (not kept: only the largest two at once) and inputs. :func:`available_memory`
reads what this process may still allocate on the CPU (free RAM, the cgroup's limit, the
address-space rlimit); GPU callers pass the device's free memory. :func:`resident_memory` is what
this process already holds (counted in a training estimate, not asked for again).
:func:`check_fits` refuses in one line naming the estimate and the setting to change.

>>> estimate = estimate_training(parameters=2_000_000, trainable=2_000_000, activation_elements=3_000_000,
...                              largest_activation=400_000, input_elements=200_000, batch=8)
>>> check_fits(estimate, available_memory(), "training", "lower --batch-size")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

from recast.errors import OptionError

FLOAT_BYTES = 4
"""Bytes per element of weights, gradients, optimiser state and (conservatively) activations."""
OPTIMIZER_SLOTS = {"adam": 2, "adamw": 2, "adabelief": 2, "rmsprop": 1, "sgd": 1}
"""Optimiser state tensors per trainable parameter, by optimiser name (unknown names count 2)."""
HEADROOM = 1.15
"""The estimate is multiplied by this before comparing (allocator fragmentation, small buffers)."""
GIB = float(1 << 30)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one rank needs, by part; :attr:`total` is their sum.

    Attributes:
        weights: parameters (fp32). gradients: one per trainable parameter. optimizer: the
        optimiser's state. activations: kept for backward at the batch (training) or the peak of
        one forward (inference). inputs: the batch tensors. batch: the per-rank batch it was
        computed for. buffers: communication buffers (DDP's gradient buckets, or FSDP2's gathered
        layer and its full gradient). process: what the process already holds before the model
        exists (the interpreter, torch and its libraries: its resident memory when measured; this part
        is already in use, so :func:`check_fits` does not ask for it again).
    """

    weights: int
    gradients: int
    optimizer: int
    activations: int
    inputs: int
    batch: int
    buffers: int = 0
    process: int = 0

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations + self.inputs + self.buffers \
            + self.process

    def describe(self) -> str:
        """``"about 9.1 GiB (weights 0.4, gradients 0.4, optimizer 0.8, activations 7.4, inputs 0.1 at batch 64)"``."""
        parts = [("weights", self.weights), ("gradients", self.gradients), ("optimizer", self.optimizer),
                 ("activations", self.activations), ("inputs", self.inputs), ("buffers", self.buffers),
                 ("process", self.process)]
        shown = ", ".join(f"{name} {size / GIB:.1f}" for name, size in parts if size)
        return f"about {self.total / GIB:.1f} GiB ({shown} GiB at batch {self.batch})"


def estimate_training(*, parameters: int, trainable: int, activation_elements: int, largest_activation: int,
                      input_elements: int, batch: int, optimizer: str = "adam", shards: int = 1,
                      buffer_elements: int = 0, process_bytes: int = 0) -> MemoryEstimate:
    """Memory of one training rank.

    Args:
        parameters, trainable: parameter elements, all and those the optimiser updates.
        activation_elements: activation elements one sample keeps for backward.
        largest_activation: the largest single activation of one sample (elements).
        input_elements: batch tensor elements per sample.
        batch: samples per rank and step.
        optimizer: optimiser name (see :data:`OPTIMIZER_SLOTS`).
        shards: ranks the optimiser state is split over (1 = every rank holds it all).
        buffer_elements: communication buffers (elements).
        process_bytes: what the process holds before the model exists.
    """
    slots = OPTIMIZER_SLOTS.get(optimizer.lower(), 2)
    return MemoryEstimate(
        weights=parameters * FLOAT_BYTES,
        gradients=trainable * FLOAT_BYTES,
        optimizer=-(-trainable * slots * FLOAT_BYTES // max(1, shards)),
        activations=(activation_elements + largest_activation) * batch * FLOAT_BYTES,
        inputs=input_elements * batch * FLOAT_BYTES,
        batch=batch,
        buffers=buffer_elements * FLOAT_BYTES,
        process=process_bytes,
    )


def estimate_inference(*, parameters: int, largest_activation: int, input_elements: int, batch: int
                       ) -> MemoryEstimate:
    """Memory of running a model on ``batch`` samples without gradients (merge, export, live)."""
    return MemoryEstimate(weights=parameters * FLOAT_BYTES, gradients=0, optimizer=0,
                          activations=2 * largest_activation * batch * FLOAT_BYTES,
                          inputs=input_elements * batch * FLOAT_BYTES, batch=batch)


def available_memory() -> int | None:
    """Bytes this process may still allocate in RAM: the least of free memory (``MemAvailable``), the
    cgroup's remaining limit and the address-space rlimit's remainder; None when none is readable."""
    limits = [value for value in (_meminfo_available(), _cgroup_remaining(), _rlimit_remaining()) if value is not None]
    return min(limits) if limits else None


def check_fits(estimate: MemoryEstimate, available: int | None, what: str, change: str) -> None:
    """Refuse when ``estimate`` (times :data:`HEADROOM`; its :attr:`~MemoryEstimate.process` part, already
    resident, left out) exceeds ``available`` bytes.

    Args:
        what: the run, e.g. ``"training saehd at 640 px on cpu"``.
        change: the setting to change, e.g. ``"lower --batch-size (or ae_dims)"``.

    Raises:
        OptionError: one line with the estimate, what is available and ``change``.
    """
    if available is None or (estimate.total - estimate.process) * HEADROOM <= available:
        return
    raise OptionError(f"{what} needs {estimate.describe()}, but only {available / GIB:.1f} GiB is available; "
                      f"{change}")


def resident_memory() -> int | None:
    """This process's resident memory now (``VmRSS``, bytes); None where /proc is not readable."""
    return _proc_kib_field("/proc/self/status", "VmRSS")


def _meminfo_available() -> int | None:
    return _proc_kib_field("/proc/meminfo", "MemAvailable")


def _proc_kib_field(path: str, key: str) -> int | None:
    """The ``key: N kB`` line of a /proc file, in bytes; None where it is missing or unreadable."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_remaining() -> int | None:
    """cgroup v2 ``memory.max - memory.current`` of this process's group, if limited."""
    try:
        group = Path("/proc/self/cgroup").read_text().split("::", 1)[1].strip()
        folder = Path("/sys/fs/cgroup") / group.lstrip("/")
        limit = (folder / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int((folder / "memory.current").read_text())
    except (OSError, ValueError, IndexError):
        return None


def _rlimit_remaining() -> int | None:
    """``RLIMIT_AS`` minus the address space already mapped (``VmSize``), if limited."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return soft - int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
