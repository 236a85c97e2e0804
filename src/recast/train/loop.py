"""The one training-loop shell: limits, stop signals, save on error, autosave and backups, status.

Every trainer (face models in :mod:`recast.train.trainer`, XSeg in :mod:`recast.train.xseg_trainer`,
the enhancer in :mod:`recast.train.enhance`) supplies a :class:`LoopBody` — one iteration, a save, a
backup, a finiteness check — and calls :func:`run_loop`, which owns everything around the step:

- stops at ``target`` iterations or after ``minutes`` (counted from ``started``);
- SIGINT (Ctrl-C, also when the process was started with SIGINT ignored) and SIGTERM (``docker stop``,
  systemd, schedulers) finish the current iteration (at least one), save and return ``interrupted``;
  a second signal interrupts the iteration itself (and still saves);
- any other error after an iteration saves (when the weights are finite) before it propagates;
- saves every ``autosave_minutes`` and backs up every ``autobackup_hours``;
- a step that reports divergence ends the run without saving (the body kept or restored its last save).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopLimits:
    """target: stop at this iteration (None: no limit); minutes: stop after this long (None: no limit);
    autosave_minutes: minutes between saves (0: only at the end); autobackup_hours: hours between
    backups (0: none)."""

    target: int | None = None
    minutes: float | None = None
    autosave_minutes: float = 0.0
    autobackup_hours: float = 0.0


@dataclass(frozen=True)
class StepOutcome:
    """What one step did. diverged: why training must stop without saving (empty: it went well);
    saved: the step saved the model itself (the autosave clock restarts)."""

    diverged: str = ""
    saved: bool = False


@dataclass(frozen=True)
class LoopResult:
    """status: ``done``, ``interrupted`` (SIGINT/SIGTERM) or ``diverged``; message: one line for the
    user (empty when done); steps: iterations this run completed."""

    status: str
    message: str
    steps: int


class LoopBody(Protocol):
    """What a trainer supplies to :func:`run_loop`."""

    @property
    def iteration(self) -> int:
        """Iterations trained so far, earlier runs included."""
        ...

    def train_step(self) -> StepOutcome:
        """Train one iteration (and count it, report it, preview it)."""
        ...

    def save(self) -> None:
        """Write the model and its training state (crash-safe)."""
        ...

    def backup(self) -> None:
        """Keep a copy of the last save."""
        ...

    def weights_finite(self) -> bool:
        """Whether every weight is finite (a save after an error must not store NaN)."""
        ...


class StopSignals:
    """While installed (main thread only), SIGINT and SIGTERM ask the loop to stop after the current
    iteration instead of killing it; a second signal raises KeyboardInterrupt at once."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: object) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name

    def install(self) -> None:
        """Take over SIGINT and SIGTERM (a no-op outside the main thread)."""
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        """Put the previous handlers back."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


def run_loop(body: LoopBody, limits: LoopLimits, *, started: float | None = None,
             note: Callable[[str], None] | None = None, clock: Callable[[], float] = time.monotonic) -> LoopResult:
    """Train ``body`` until a limit, a stop signal or divergence; saves at the end unless it diverged.

    ``started``: :func:`time.monotonic` value the ``minutes`` limit counts from (default: now).
    ``note``: receives one line when an error ended training and the work was saved first.
    ``clock``: seconds for the time limits; data-parallel processes pass one they share
    (:func:`recast.train.distributed.shared_clock`), so they save and stop at the same iteration.
    Errors other than a stop propagate (after that save).
    """
    start = clock() if started is None else started
    last_save = last_backup = clock()
    status, message, steps = "done", "", 0
    stop = StopSignals()
    try:
        stop.install()
        log.info("training from iteration %d (SIGINT or SIGTERM saves and stops)", body.iteration)
        while limits.target is None or body.iteration < limits.target:
            outcome = body.train_step()
            if outcome.diverged:
                status, message = "diverged", outcome.diverged
                break
            steps += 1
            now = clock()
            if outcome.saved:
                last_save = now
            if stop.received:
                status, message = "interrupted", f"stopped by {stop.received}; saved"
                break
            if limits.autobackup_hours > 0 and now - last_backup >= limits.autobackup_hours * 3600:
                body.save()
                body.backup()
                last_save = last_backup = now
            elif limits.autosave_minutes > 0 and now - last_save >= limits.autosave_minutes * 60:
                body.save()
                last_save = now
            if limits.minutes is not None and now - start >= limits.minutes * 60:
                break
    except KeyboardInterrupt:
        status, message = "interrupted", f"stopped by {stop.received or 'Ctrl-C'}; saved"
    except Exception as error:
        if stop.received:  # e.g. data workers that died from the same Ctrl-C
            status, message = "interrupted", f"stopped by {stop.received}; saved"
        else:
            _save_after_error(body, error, steps, note)
            raise
    finally:
        stop.restore()
    if status != "diverged":
        body.save()
    return LoopResult(status, message, steps)


def _save_after_error(body: LoopBody, error: Exception, steps: int, note: Callable[[str], None] | None) -> None:
    """Save the work since the last save when an error ends training (never masking ``error``)."""
    if steps == 0 or not body.weights_finite():
        return
    try:
        body.save()
    except Exception:  # the original error is the one to report
        log.exception("saving after %s failed", type(error).__name__)
        return
    message = f"{type(error).__name__} at iteration {body.iteration + 1}; saved iteration {body.iteration}"
    log.info(message)
    if note is not None:
        note(message)
