"""Rich progress bars shared by the CLI commands."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def new_console(*, stderr: bool = True, quiet: bool = False, highlight: bool = True) -> Console:
    """A console that never breaks a line itself (``soft_wrap``): a command or path it prints copies whole."""
    return Console(stderr=stderr, quiet=quiet, highlight=highlight, soft_wrap=True)


console = new_console()


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int | None], None]]:
    """Yield an ``update(done, total_or_None)`` callback that drives a progress bar.

    The bar appears on the first update, so a command that fails while checking its inputs
    prints only its error.
    """
    columns = (
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(),
    )
    progress = Progress(*columns, console=console, transient=False)
    task = progress.add_task(description, total=None)
    started = False

    def update(done: int, total: int | None) -> None:
        nonlocal started
        if not started:
            progress.start()
            started = True
        progress.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if started:
            progress.stop()
