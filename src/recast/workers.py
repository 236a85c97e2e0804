"""Worker-process lifetime: worker processes exit when the process that started them dies.

A pool worker blocked on its task queue would otherwise live on, holding its memory, after its
parent was killed (``kill -9``, the OOM killer, a closed terminal). Every pool recast starts runs
:func:`init_pool_worker` in each worker (as, or from, its initializer).
"""

from __future__ import annotations

import os
import threading
import time

from recast.runtime.threads import init_worker_process

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


def init_pool_worker(parent_pid: int) -> None:
    """Pool ``initializer`` for recast's worker processes: exit when ``parent_pid`` dies
    (:func:`watch_parent`) and use one torch / OpenCV / OpenMP thread
    (:func:`recast.runtime.threads.init_worker_process`)."""
    watch_parent(parent_pid)
    init_worker_process()
