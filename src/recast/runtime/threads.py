"""How many threads and processes each part of recast uses, decided in one place.

The count starts from the cores this process may actually use: its CPU affinity
(``os.sched_getaffinity``, which ``taskset``, cgroup cpusets and schedulers set) and a cgroup CPU
quota (``docker run --cpus``), never ``os.cpu_count()``, which counts the whole machine.

=======================  =================================================================
part                     threads / processes
=======================  =================================================================
torch (the network)      one per usable core (``--threads`` overrides)
training data workers    1 process on ≤ 4 cores (the network needs the rest), else cores/2, ≤ 6
analysis workers         one process per usable core, at most 8 (extract; sort, dedupe, cluster)
merge / encode I/O       2 threads on ≤ 2 cores, else up to 4 (reading, blending, writing)
worker processes         1 torch / OpenCV / OpenMP thread each (:func:`init_worker_process`)
=======================  =================================================================

OpenMP reads its environment (``OMP_NUM_THREADS``, ``OMP_WAIT_POLICY``) once, when torch is first
imported; :func:`init_worker_process` therefore sets it before a worker imports torch, and calls
``torch.set_num_threads`` (which takes effect at any time) where torch is already loaded.
This module does not import torch or OpenCV itself.
"""

from __future__ import annotations

import math
import os
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Cores a cgroup CPU quota allows (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``), rounded up; None = no quota."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota == "max":
            return None
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return max(1, math.ceil(quota_us / period_us)) if quota_us > 0 and period_us > 0 else None


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup CPU quota."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = cgroup_cpu_limit()
    return max(1, min(cores, limit) if limit else cores)


@dataclass(frozen=True)
class ThreadPlan:
    """Thread and process counts for one machine (see the module table).

    Attributes:
        cores: usable cores the plan was made for.
        torch_threads: intra-op threads of the network.
        data_workers: training data-loader processes.
        analysis_workers: processes analysing frames or faces (extract, sort, dedupe, cluster).
        io_threads: merge / encode threads for reading, blending and writing frames.
    """

    cores: int
    torch_threads: int
    data_workers: int
    analysis_workers: int
    io_threads: int

    def describe(self) -> str:
        """One line for the console and the benchmark tables."""
        return (f"{self.cores} usable cores: {self.torch_threads} torch threads, {self.data_workers} data "
                f"workers, {self.analysis_workers} analysis workers, {self.io_threads} I/O threads")


def plan_threads(threads: int | None = None, cores: int | None = None, processes: int = 1) -> ThreadPlan:
    """The thread plan for ``cores`` usable cores (default: :func:`usable_cores`).

    Args:
        threads: torch threads asked for by the user (``--threads``); None = one per usable core.
        cores: usable cores, for tests and what-if tables.
        processes: processes of one job sharing those cores (torchrun's ``LOCAL_WORLD_SIZE``);
            each gets an equal share.
    """
    cores = max(1, (cores or usable_cores()) // max(1, processes))
    return ThreadPlan(
        cores=cores,
        torch_threads=threads if threads else cores,
        data_workers=1 if cores <= 4 else min(6, cores // 2),
        analysis_workers=min(cores, 8),
        io_threads=2 if cores <= 2 else min(4, cores),
    )


def apply_torch_threads(plan: ThreadPlan) -> None:
    """Set torch's intra-op thread count from ``plan`` in this process."""
    import torch

    if torch.get_num_threads() != plan.torch_threads:
        torch.set_num_threads(plan.torch_threads)


def init_worker_process(*_: object) -> None:
    """Make this (worker) process use one thread in torch, OpenCV and OpenMP.

    Call it first thing in a spawned worker (as a pool ``initializer`` or DataLoader
    ``worker_init_fn``; extra arguments are ignored): before torch is imported it sets the OpenMP
    environment, after, ``torch.set_num_threads(1)``. N worker processes on N cores then do not start
    N threads each.
    """
    for name in _THREAD_ENV:
        os.environ[name] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    import cv2

    cv2.setNumThreads(1)


def thread_ladder(max_threads: int) -> list[int]:
    """Thread counts worth trying, from ``max_threads`` halving down to 1 (``8 → [8, 4, 2, 1]``)."""
    ladder = [max(1, max_threads)]
    while ladder[-1] > 1:
        ladder.append(ladder[-1] // 2)
    return ladder


class ThreadTuner:
    """Keeps the torch thread count that gives the shortest steps under the machine's current load.

    Why: torch's OpenMP threads meet at a barrier after every layer. When another program takes a
    core, one of them is descheduled and the others wait for it at each of the hundreds of barriers
    of a step: measured on 2 cores, training the ``cpu`` preset with 2 threads went from 320 to
    4,060 ms/iter beside one busy process, while 1 thread ran at 590 ms/iter (``benchmarks/train.py
    --background``). Fewer threads than cores is the cure under load and a loss when idle, so the
    tuner measures instead of guessing.

    How: call :meth:`observe` with each step's wall time. After ``warmup`` steps, and again every
    ``recheck_every`` steps or as soon as the mean of the last ``window`` steps moves by more than
    ``change`` × from the last settled mean, it tries the neighbouring counts on the
    :func:`thread_ladder` (half and double the current one), then the current count again, for
    ``window`` steps each (after one step to settle in), and moves only to a count faster by more
    than ``margin``. The current count is re-measured because a trial often starts right after a
    slow spell: its own earlier steps would make any other count look faster. Pure logic: the
    thread count is set through ``set_threads``, so tests drive it with synthetic step times.

    Example:
        >>> tuner = ThreadTuner(2, torch.set_num_threads)
        >>> for batch in batches:
        ...     t = time.perf_counter(); step(batch); tuner.observe(time.perf_counter() - t)
    """

    def __init__(self, max_threads: int, set_threads: Callable[[int], None], *, window: int = 4,
                 warmup: int = 3, recheck_every: int = 200, change: float = 1.3, margin: float = 0.1) -> None:
        self.ladder = thread_ladder(max_threads)
        self.threads = self.ladder[0]
        self._set_threads = set_threads
        self.window, self.warmup, self.recheck_every = window, warmup, recheck_every
        self.change, self.margin = change, margin
        self._recent: deque[float] = deque(maxlen=window)
        self._settled: float | None = None
        self._since_check = recheck_every - warmup - window  # first check right after warm-up
        self._trial: list[int] = []
        self._trial_samples: list[float] = []
        self._results: dict[int, float] = {}
        self._incumbent = self.threads
        self.switches = 0
        """How many times a trial moved to another thread count."""

    @property
    def trying(self) -> bool:
        """Whether a trial of another thread count is under way (:attr:`threads` is then the candidate)."""
        return bool(self._trial)

    def observe(self, seconds: float) -> None:
        """Record one step's wall time; may change the thread count for the next step."""
        if self._trial:
            self._observe_trial(seconds)
            return
        self._recent.append(seconds)
        self._since_check += 1
        if len(self._recent) < self.window:
            return
        mean = sum(self._recent) / len(self._recent)
        if self._settled is None:
            self._settled = mean
        moved = mean > self.change * self._settled or mean * self.change < self._settled
        if moved or self._since_check >= self.recheck_every:
            self._start_trial(mean)

    def _neighbours(self) -> list[int]:
        i = self.ladder.index(self.threads)
        return [self.ladder[j] for j in (i + 1, i - 1) if 0 <= j < len(self.ladder)]

    def _start_trial(self, current_mean: float) -> None:
        candidates = self._neighbours()
        if not candidates:
            self._settle(self.threads, current_mean)
            return
        self._incumbent = self.threads
        self._results = {}
        self._trial = [*candidates, self.threads]
        self._trial_samples = []
        self._set(candidates[0])

    def _observe_trial(self, seconds: float) -> None:
        self._trial_samples.append(seconds)
        if len(self._trial_samples) <= self.window:  # the first step after a switch settles in
            return
        self._results[self._trial.pop(0)] = sum(self._trial_samples[1:]) / self.window
        self._trial_samples = []
        if self._trial:
            self._set(self._trial[0])
            return
        best = min(self._results, key=self._results.__getitem__)
        if self._results[best] > (1 - self.margin) * self._results[self._incumbent]:
            best = self._incumbent
        self.switches += best != self._incumbent
        self._settle(best, self._results[best])

    def _settle(self, threads: int, mean: float) -> None:
        self._set(threads)
        self._settled = mean
        self._recent.clear()
        self._since_check = 0

    def _set(self, threads: int) -> None:
        if threads != self.threads:
            self._set_threads(threads)
            self.threads = threads
