"""Parse untrusted JSON (face metadata, state and config files, journals, pack headers) safely.

:func:`loads` is :func:`json.loads` that first bounds the nesting depth with a flat scan (so a
100,000-deep ``[[[[…`` costs no recursion), and refuses ``NaN``/``Infinity``, which are not JSON and
which recast never writes. Every error is a ``ValueError`` for the caller to turn into one line.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted; recast's own files nest at most 6 deep."""
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_DELTA = np.zeros(256, np.int8)
_DELTA[[ord("["), ord("{")]] = 1
_DELTA[[ord("]"), ord("}")]] = -1


def nesting_depth(text: str | bytes) -> int:
    """Deepest ``[``/``{`` nesting of JSON ``text``, brackets inside strings ignored (no parsing)."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    codes = np.frombuffer(_STRING.sub(b'""', raw), np.uint8)
    if codes.size == 0:
        return 0
    return int(np.cumsum(_DELTA[codes], dtype=np.int64).max(initial=0))


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON ``text`` nested at most ``max_depth`` deep, without NaN or Infinity.

    Raises:
        ValueError: invalid JSON (``json.JSONDecodeError`` is one), too deep, NaN/Infinity, or
            bytes that are not UTF-8 (``UnicodeDecodeError`` is one).
    """
    depth = nesting_depth(text)
    if depth > max_depth:
        raise ValueError(f"JSON nested {depth} deep, over the limit of {max_depth}")
    return json.loads(text, parse_constant=_refuse_constant)


def check_finite(value: Any, name: str, max_depth: int = MAX_DEPTH) -> None:
    """Raise ``ValueError`` unless ``value`` is JSON data (dict with str keys, list, str, finite
    number, bool, None) nested at most ``max_depth`` deep; ``name`` is used in the message."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise ValueError(f"{name} is nested over {max_depth} deep")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"{name} holds {item}, which is not a JSON number")
        if isinstance(item, dict):
            if not all(isinstance(key, str) for key in item):
                raise ValueError(f"{name} has a key that is not a string")
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((child, depth + 1) for child in item)
        elif item is not None and not isinstance(item, (str, int, float)):
            raise ValueError(f"{name} holds a {type(item).__name__}, which is not JSON data")


def _refuse_constant(name: str) -> None:
    raise ValueError(f"holds {name}, which is not a JSON number")
