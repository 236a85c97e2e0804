"""``recast eval``'s options, declared once (the command's flags and the studio's eval form)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from recast.options import option


@dataclass(frozen=True)
class EvalOptions:
    """How a result is evaluated: which frames, and whether an existing report is replaced."""

    OPTIONS_NOUN: ClassVar[str] = "eval option"

    every: int = option(1, "Evaluate every N-th frame", ge=1)
    force: bool = option(False, "Replace an existing report in the report folder")
