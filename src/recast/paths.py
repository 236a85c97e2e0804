"""Output-path safety: no command may write over one of its own inputs, ``--force`` or not.

Every stage that writes files calls :func:`check_outputs_not_inputs` with all the paths it will
write (result, mask video, sidecar, output and workspace folders) and all the paths it reads
(videos, frame folders, audio source, reference photos, model folder), before it writes anything.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from recast.errors import InputError


def check_outputs_not_inputs(outputs: Iterable[str | Path | None], inputs: Iterable[str | Path | None]) -> None:
    """Raise if any output is (or would replace) any input.

    Paths are compared after resolving symbolic links and ``..``; existing files are also compared
    by identity, so a hard link or a differently spelled path to the same file is caught. ``None``
    entries are skipped (optional paths).

    Raises:
        InputError: naming the output and the input it would replace.
    """
    sources = [Path(p) for p in inputs if p is not None]
    resolved = [(p, _resolve(p)) for p in sources]
    for output in (Path(p) for p in outputs if p is not None):
        target = _resolve(output)
        for source, source_resolved in resolved:
            if target == source_resolved or _same_file(output, source):
                raise InputError(output, f"is also an input ({source}); choose another output "
                                         "(--force never replaces an input)")


def _resolve(path: Path) -> Path:
    return Path(os.path.normcase(path.expanduser().resolve(strict=False)))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False
