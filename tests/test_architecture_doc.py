"""docs/architecture.md's package table names every package and module of ``recast`` (none invented) in the
layers of the import-linter contract in pyproject.toml."""

from __future__ import annotations

import pkgutil
import re
import tomllib
from pathlib import Path

import recast

ROOT = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^\| (\d+) \| `recast\.(\w+)` \|")


def _table_layers() -> dict[int, set[str]]:
    """Layer number → names in that layer, from the table rows ``| N | `recast.NAME` | … |``."""
    layers: dict[int, set[str]] = {}
    for line in (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            layers.setdefault(int(match.group(1)), set()).add(match.group(2))
    return layers


def _contract_layers() -> list[set[str]]:
    """The ``layers`` contract's layers, lowest first."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    assert contract["containers"] == ["recast"] and contract["exhaustive"]
    return [{name.strip() for name in re.split(r"[|:]", layer)} for layer in reversed(contract["layers"])]


def test_table_lists_every_package_and_module_and_no_other() -> None:
    listed = set().union(*_table_layers().values())
    real = {module.name for module in pkgutil.iter_modules(recast.__path__)}
    assert listed == real, f"missing from the table: {sorted(real - listed)}; not in recast: {sorted(listed - real)}"


def test_table_layers_are_the_contract_layers() -> None:
    table = _table_layers()
    assert sorted(table) == list(range(len(table)))
    assert [table[number] for number in sorted(table)] == _contract_layers()
