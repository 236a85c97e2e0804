"""The workspace lock for commands that write: one writer per workspace, the studio's jobs included."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from recast.cli.trainstatus import is_main_rank
from recast.locking import lock_workspace_of

F = TypeVar("F", bound=Callable[..., Any])


def writes_into(*params: str, what: str) -> Callable[[F], F]:
    """Run the command holding the lock of the workspace its output lies in: the first of the
    parameters ``params`` that is given names the output (see :func:`recast.locking.find_workspace`).
    When the studio or another command holds it, the command stops at once with a one-line
    ``error: … in use by studio job N: train …``. Ranks other than 0 of a ``torchrun`` launch share
    rank 0's lock."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def command(*args: Any, **kwargs: Any) -> Any:
            target = next((kwargs[name] for name in params if kwargs.get(name) is not None), None)
            if target is None or not is_main_rank():
                return func(*args, **kwargs)
            with lock_workspace_of(Path(target), what):
                return func(*args, **kwargs)

        return command  # type: ignore[return-value]

    return decorate
