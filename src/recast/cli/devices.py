"""``--device`` for the commands that run a model: the console line naming the choice (the flag itself is
declared once, in :class:`recast.runtime.options.ComputeOptions`)."""

from __future__ import annotations

from recast.cli.progress import console
from recast.cli.trainstatus import is_main_rank


def pick_device(name: str) -> str:
    """Resolve ``name`` (see :func:`recast.runtime.devices.resolve_device`) and say which device runs."""
    from recast.runtime.devices import resolve_device  # imports torch: only when a command runs

    device = resolve_device(name)
    if is_main_rank():
        console.print(f"device: {device}" + (" (auto)" if name.strip().lower() == "auto" else ""))
    return device
