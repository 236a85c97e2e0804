"""The option schemas the studio's forms are generated from — the CLI's own declarations.

A form is one options class (``train``: :class:`~recast.train.options.TrainSettings`; ``merge``:
:class:`~recast.merge.settings.MergeSettings`) or, for a task whose options are a stage's plus the
studio's (which side, which model, the encoding), the classes' options in one schema: its
properties are exactly the keys the task accepts (see :mod:`recast.studio.taskoptions`).
"""

from __future__ import annotations

from typing import Any

from recast.options import json_schema


def _schemas() -> dict[str, tuple[type, ...]]:
    from recast.extract.stage import ExtractOptions
    from recast.merge.settings import MergeSettings
    from recast.pipeline.encode import EncodeOptions
    from recast.studio.taskoptions import EvalJob, ExtractJob, RenderJob, SortJob, VerifyJob
    from recast.train.options import TrainSettings

    return {"extract": (ExtractJob, ExtractOptions), "train": (TrainSettings,), "merge": (MergeSettings,),
            "sort": (SortJob,), "render": (MergeSettings, EncodeOptions, RenderJob), "eval": (EvalJob,),
            "verify": (VerifyJob,)}


def form_names() -> list[str]:
    """The forms the studio offers."""
    return sorted(_schemas())


def form_schema(name: str) -> dict[str, Any]:
    """JSON schema of form ``name`` (KeyError when there is none)."""
    classes = _schemas()[name]
    schema = json_schema(classes[-1])
    if len(classes) > 1:
        schema["properties"] = {key: value for cls in classes for key, value in json_schema(cls)["properties"].items()}
    return schema
