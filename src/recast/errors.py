"""Exceptions that recast raises for problems the user can fix.

Every message is a single line that names the file (or option) and what is wrong with it; the
CLI prints it as ``error: <message>`` and exits with status 1, without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class RecastError(Exception):
    """Base class: a problem with the user's input, files or options (not a bug in recast)."""


class InputError(RecastError):
    """An input file or folder is missing, unreadable, or not what it claims to be."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class MetadataError(InputError):
    """An aligned-face file has missing, corrupt, oversized or hostile metadata."""


class OptionError(RecastError):
    """A command-line option or config value is invalid or conflicts with saved state."""
