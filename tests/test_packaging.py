"""What the package declares matches what it needs and ships: imports, package data, licence.

The plain-install smoke (``make smoke-install``, run by ``.ci/run``) installs the wheel without extras
and runs every command; these checks are the fast, static half of the same promise.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "recast"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

MODULE_DISTRIBUTIONS = {"dlib": "dlib-bin"}
"""Top-level modules whose distribution importlib.metadata cannot name (dlib-bin ships a bare extension)."""

FOUND_AT_RUN_TIME = {"pyvirtualcam": "live's v4l2 sink: looked up with importlib.util.find_spec, refused in one line"}
"""Optional packages no extra installs; the module that uses them checks for them first."""

RUNTIME_EXTRAS = ("tensorboard", "c2pa")
"""Extras a user installs for a feature; ``dev`` is for working on recast and never imported by it."""


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imports() -> dict[str, list[tuple[Path, bool]]]:
    """Third-party top-level module → (file, imported inside a function) for every import in src/recast."""
    found: dict[str, list[tuple[Path, bool]]] = {}

    def visit(node: ast.AST, path: Path, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [child.module]
            for name in names:
                top = name.split(".")[0]
                if top != "recast" and top not in sys.stdlib_module_names:
                    found.setdefault(top, []).append((path, nested))
            visit(child, path, inner)

    for path in sorted(PACKAGE.rglob("*.py")):
        visit(ast.parse(path.read_text(encoding="utf-8")), path, False)
    return found


def _distribution(module: str) -> str:
    names = importlib.metadata.packages_distributions().get(module) or [MODULE_DISTRIBUTIONS.get(module, module)]
    return names[0].lower().replace("_", "-")


def test_every_import_is_a_declared_dependency() -> None:
    core = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    extras = {_name(r): extra for extra in RUNTIME_EXTRAS for r in PYPROJECT["project"]["optional-dependencies"][extra]}
    problems = []
    for module, places in sorted(_imports().items()):
        dist = _distribution(module)
        if dist in core or module in FOUND_AT_RUN_TIME:
            continue
        where = ", ".join(sorted({str(p.relative_to(ROOT)) for p, _ in places}))
        if dist not in extras:
            problems.append(f"{module} ({dist}) is imported by {where} but is not a core dependency")
        elif not all(nested for _, nested in places):
            problems.append(f"{module} (extra [{extras[dist]}]) is imported at module level by {where}: "
                            "a plain install cannot import that module")
    assert not problems, "\n".join(problems)


def test_the_dev_extra_is_never_imported() -> None:
    runtime = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    runtime |= {_name(r) for extra in RUNTIME_EXTRAS for r in PYPROJECT["project"]["optional-dependencies"][extra]}
    dev_only = {_name(r) for r in PYPROJECT["project"]["optional-dependencies"]["dev"]} - runtime
    used = {_distribution(module): module for module in _imports()}
    assert not dev_only & set(used), f"src/recast imports dev-only packages: {sorted(dev_only & set(used))}"


@pytest.mark.parametrize("pattern", PYPROJECT["tool"]["setuptools"]["package-data"]["recast"])
def test_every_package_data_glob_matches_a_file(pattern: str) -> None:
    assert any(path.is_file() for path in PACKAGE.glob(pattern)), f"package-data {pattern!r} matches no file"


def test_licence_file_matches_pyproject() -> None:
    declared = PYPROJECT["project"]["license"]["text"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith(f"{declared} License"), f"LICENSE does not start with the declared {declared} licence"
    assert "shape_predictor_68_face_landmarks" in text, "the third-party model licences are not noted"
