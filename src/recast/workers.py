"""Worker-process lifetime: worker processes exit when the process that started them dies.

A pool worker blocked on its task queue would otherwise live on, holding its memory, after its
parent was killed (``kill -9``, the OOM killer, a closed terminal). Every pool recast starts runs
:func:`watch_parent` in each worker (as, or from, its initializer).
"""

from __future__ import annotations

import os
import threading
import time

POLL_SECONDS = 0.5
"""How often a worker checks that its parent is alive."""


def watch_parent(parent_pid: int) -> None:
    """Start a daemon thread that ends this process as soon as ``parent_pid`` is no longer its parent.

    When the parent dies the worker is re-parented (to init or a subreaper), so ``os.getppid()``
    changes; this works on every POSIX system, unlike Linux's parent-death signal, which fires when
    the *thread* that started the worker ends.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="recast-parent-watch", daemon=True).start()
