"""Every option name the studio's JavaScript names exists in the schema it belongs to.

The pages name options in a few places: the fields a form shows (``only: [...]``, ``except: [...]``,
a task panel's ``main: [...]``), and the keys of the options a page starts a job with
(``startJob("render", {...})``, ``options.xseg = ...``). Each name is checked against the form the
page loads (``/api/forms/<name>``) or the options the task accepts (generated from the same
declarations), so a renamed or removed option cannot leave a page filtering or sending a name that
no longer exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import recast.studio
from recast.studio.forms import form_names, form_schema

STATIC = Path(recast.studio.__file__).parent / "static"
SCRIPTS = sorted(STATIC.rglob("*.js"))

NESTED = {"train": {"settings", "model_config"}, "live": {"settings"}}
"""Keys a task takes besides its form's: option groups given as nested objects."""
TASK_FORMS = {"train": "train-run", "faceset-landmarks": None}
LANDMARK_KEYS = {"side", "frame", "rect"}  # the landmark task's keys (checked by check_landmarks)


def _properties(form: str) -> set[str]:
    return set(form_schema(form)["properties"])


def _task_keys(task: str) -> set[str]:
    form = TASK_FORMS.get(task, task)
    if form is None:
        return LANDMARK_KEYS
    return _properties(form) | NESTED.get(task, set())


def _names(array: str) -> list[str]:
    return re.findall(r'"([A-Za-z_][\w-]*)"', array)


def _keys(literal: str) -> list[str]:
    """The keys of a one-level JavaScript object literal (``{ a: 1, b, c: f(x) }`` → a, b, c)."""
    depth, part, parts = 0, "", []
    for char in literal:
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            parts.append(part)
            part = ""
        else:
            part += char
    parts.append(part)
    keys = [re.match(r"\s*([A-Za-z_]\w*)\s*(?::|$)", p) for p in parts if p.strip() and "..." not in p]
    return [key.group(1) for key in keys if key]


def _form_before(text: str, position: int) -> str | None:
    found = re.findall(r"/api/forms/([a-z-]+)", text[:position])
    return found[-1] if found else None


def _checks(path: Path) -> list[tuple[str, str, set[str]]]:
    """(name, where, the names it must be among) for every option name ``path`` mentions."""
    text = path.read_text()
    out = []
    for match in re.finditer(r"\b(only|except|main):\s*\[([^\]]*)\]", text):
        kind, names = match.group(1), _names(match.group(2))
        if not names:
            continue
        if kind == "main":
            task = re.findall(r'task:\s*"([\w-]+)"', text[:match.start()].splitlines()[-1])
            allowed, where = _task_keys(task[-1]), f"task {task[-1]}"
        else:
            form = _form_before(text, match.start())
            assert form is not None, f"{path.name}: '{kind}' names options of no form"
            allowed, where = _properties(form), f"form {form}"
        out += [(name, where, allowed) for name in names]
    started = set(re.findall(r'(?:startJob|runJob)\("([\w-]+)"', text))
    started |= set(re.findall(r'"([\w-]+)",\s*\(\)\s*=>\s*\(\{', text))
    for match in re.finditer(r'(?:startJob|runJob)\("([\w-]+)",\s*\{([^}]*)\}', text):
        out += [(key, f"task {match.group(1)}", _task_keys(match.group(1))) for key in _keys(match.group(2))]
    for match in re.finditer(r'"([\w-]+)",\s*\(\)\s*=>\s*\(\{([^}]*)\}\)', text):
        out += [(key, f"task {match.group(1)}", _task_keys(match.group(1))) for key in _keys(match.group(2))]
    if started:
        accepted = set().union(*(_task_keys(task) for task in started))
        keys = re.findall(r"\boptions\.([A-Za-z_]\w*)\s*=[^=]", text)
        for match in re.finditer(r"\bconst options = \{([^}]*)\}", text):
            keys += _keys(match.group(1))
        out += [(key, f"tasks {', '.join(sorted(started))}", accepted) for key in keys]
    return out


def test_the_scripts_name_options() -> None:
    """The check below looks where option names are (it must find some, or it checks nothing)."""
    found = {path.name: len(_checks(path)) for path in SCRIPTS}
    assert found["workspace.js"] >= 10 and found["merge.js"] >= 3 and found["training.js"] >= 4, found
    assert {"train", "train-run", "render", "sort", "live"} <= set(form_names())


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: path.name)
def test_every_option_the_javascript_names_exists(path: Path) -> None:
    missing = [f"{name!r} ({where})" for name, where, allowed in _checks(path) if name not in allowed]
    assert not missing, f"{path.relative_to(STATIC)} names options its schema lacks: {', '.join(missing)}"
