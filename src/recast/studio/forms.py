"""The option schemas the studio's forms are generated from — the CLI's own declarations."""

from __future__ import annotations

from typing import Any

from recast.options import json_schema


def _schemas() -> dict[str, type]:
    from recast.extract.stage import ExtractOptions
    from recast.merge.settings import MergeSettings
    from recast.train.options import TrainSettings

    return {"extract": ExtractOptions, "train": TrainSettings, "merge": MergeSettings}


def form_names() -> list[str]:
    """The forms the studio offers."""
    return sorted(_schemas())


def form_schema(name: str) -> dict[str, Any]:
    """JSON schema of form ``name`` (KeyError when there is none)."""
    return json_schema(_schemas()[name])
