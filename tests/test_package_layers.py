"""Package boundaries: what a module may pull in when imported (checked in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# module imported -> modules that must stay unloaded
BOUNDARIES = {
    "recast.models.inference": ("recast.train.trainer", "recast.train.data", "recast.train.step"),
    "recast.models.registry": ("torch", "recast.train.trainer"),
    "recast.models.checkpoint": ("torch",),
    "recast.studio.app": ("torch",),
    "recast.merge.stage": ("recast.train.trainer", "recast.train.data"),
    "recast.faces.metadata": ("torch",),
    "recast.media.video": ("torch",),
    "recast.options": ("torch",),
    "recast.labelling": ("torch",),
    "recast.faceset.labelformats": ("torch",),
    "recast.cli.main": ("torch",),
}


@pytest.mark.parametrize("module", sorted(BOUNDARIES))
def test_import_keeps_out(module: str) -> None:
    forbidden = BOUNDARIES[module]
    code = f"import sys, {module}\nprint(','.join(m for m in {forbidden!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "", f"importing {module} loaded {loaded}"
