"""The live status line of ``recast train``: one line, redrawn in place, instead of a scrolling log.

``iteration 1234 / 5000   phase regular   412 ms/iter   src 0.0231  dst 0.0255   elapsed 0:08:31   ETA 0:25:52   …``

(the phase only with a training recipe of several phases, ``--recipe dfl``; the preview path last).
"""

from __future__ import annotations

import logging
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live
from rich.text import Text

if TYPE_CHECKING:
    from recast.train.options import ProgressEvent


log = logging.getLogger("recast.cli.train")


def is_main_rank() -> bool:
    """False in the non-zero ranks of a ``torchrun`` launch (only rank 0 talks to the user)."""
    return os.environ.get("RANK", "0") == "0"


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=int(max(seconds, 0.0))))


class TrainStatus:
    """Turns training :class:`ProgressEvent` s into one live line plus a printed line per save/info.

    Args:
        console: where to draw (stderr); quiet on non-zero torchrun ranks.
        preview: the preview image path shown on the line.
        iterations: absolute target iteration, or None. more: iterations to add in this run, or None.
        minutes: time budget of this run, or None.
    """

    def __init__(self, console: Console, preview: Path, iterations: int | None, more: int | None,
                 minutes: float | None) -> None:
        self.console = console
        self.preview = preview
        self.iterations, self.more, self.minutes = iterations, more, minutes
        self.started = time.monotonic()
        self.first_iteration: int | None = None
        self.last_draw = 0.0
        # transient: the line is cleared at the end, where the command prints its summary instead.
        self.live = Live(Text(""), console=console, refresh_per_second=4, transient=True)

    def __enter__(self) -> TrainStatus:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.stop()

    def target(self) -> int | None:
        """The iteration this run stops at, once the first iteration is known."""
        if self.iterations is not None:
            return self.iterations
        if self.more is not None and self.first_iteration is not None:
            return self.first_iteration - 1 + self.more
        return None

    def line(self, event: ProgressEvent) -> str:
        """The status text for an ``iteration`` event."""
        elapsed = time.monotonic() - self.started
        target = self.target()
        remaining = []
        if target is not None:
            remaining.append(max(target - event.iteration, 0) * event.ms_per_iter / 1000)
        if self.minutes is not None:
            remaining.append(self.minutes * 60 - elapsed)
        losses = "  ".join(f"{name} {value:.4f}" for name, value in event.losses.items())
        parts = [f"iteration {event.iteration}" + (f" / {target}" if target is not None else ""),
                 f"phase {event.phase}" if event.phase else "",
                 f"{event.ms_per_iter:.0f} ms/iter", losses, f"elapsed {_clock(elapsed)}",
                 f"ETA {_clock(min(remaining))}" if remaining else "no limit (Ctrl-C saves and stops)",
                 f"preview {self.preview}"]
        return "   ".join(part for part in parts if part)

    def __call__(self, event: ProgressEvent) -> None:
        """The ``on_event`` callback."""
        if event.kind == "iteration":
            if self.first_iteration is None:
                self.first_iteration = event.iteration
            now = time.monotonic()
            if now - self.last_draw >= 0.25:
                self.last_draw = now
                self.live.update(Text(self.line(event), no_wrap=True, overflow="ellipsis"))
        elif event.kind in ("info", "diverged", "backup"):
            style = "red" if event.kind == "diverged" else "cyan"
            self.console.print(f"[{style}]{event.kind}[/]: {event.message or event.iteration}")
            log.info("%s: %s", event.kind, event.message or event.iteration)
        elif event.kind == "save":
            self.console.print(f"[green]saved[/] iteration {event.iteration}")
            log.info("saved iteration %d", event.iteration)
