"""The option schemas the studio's forms are generated from — the CLI's own declarations.

A form is one or more option groups (:func:`recast.studio.tasks.options.form_groups`): ``train`` is
:class:`~recast.train.options.TrainSettings`, ``merge`` :class:`~recast.merge.settings.MergeSettings`,
``render`` the merge settings, the video options, the render's own and the merge's compute options.
Its properties are exactly the keys the task accepts and validates with the same declarations.
"""

from __future__ import annotations

from typing import Any

from recast.options import json_schema
from recast.studio.tasks.options import form_groups, form_names

__all__ = ["form_names", "form_schema"]


def form_schema(name: str, model: str | None = None) -> dict[str, Any]:
    """JSON schema of form ``name`` (KeyError when there is none).

    ``model`` (the ``train`` form only): a registered model whose training defaults replace the
    declared ones, so the form shows what that model trains with (OptionError for an unknown name).
    """
    groups = form_groups(name)
    schema = json_schema(groups[-1].cls)
    properties: dict[str, Any] = {}
    for group in groups:
        described = json_schema(group.cls)["properties"]
        properties.update({item.name: described[item.name] for item in group.fields()})
    schema["properties"] = properties
    if model is not None and name == "train":
        from recast.models.registry import get_entry

        for key, value in get_entry(model).train_defaults.items():
            properties[key] = {**properties[key], "default": value}
    return schema
