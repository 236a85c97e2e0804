"""Package boundaries: the layer order and no import cycles (import-linter's contracts in pyproject.toml),
and what a module may pull in when imported (checked in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# module imported -> modules that must stay unloaded
BOUNDARIES = {
    "recast.models.inference": ("recast.train.trainer", "recast.train.data", "recast.train.step"),
    "recast.models.registry": ("torch", "recast.train.trainer"),
    "recast.models.checkpoint": ("torch",),
    "recast.models.loader": ("torch",),
    "recast.studio.app": ("torch",),
    "recast.merge.stage": ("torch", "recast.train.trainer", "recast.train.data"),
    "recast.faces.metadata": ("torch",),
    "recast.faces.crop": ("torch",),
    "recast.media.video": ("torch",),
    "recast.options": ("torch",),
    "recast.faceset.labelling": ("torch",),
    "recast.faceset.labelformats": ("torch",),
    "recast.cli.main": ("torch",),
}


@pytest.mark.parametrize("module", sorted(BOUNDARIES))
def test_import_keeps_out(module: str) -> None:
    forbidden = BOUNDARIES[module]
    code = f"import sys, {module}\nprint(','.join(m for m in {forbidden!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "", f"importing {module} loaded {loaded}"


def test_import_contracts_hold() -> None:
    """Every import points down the layers (lazy and type-only imports count) and no package, nor any
    module inside one, is in an import cycle: the ``layers`` and ``acyclic_siblings`` contracts."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout
