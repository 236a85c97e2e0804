"""The studio's task options: the few that are the studio's own (which side, which model folder),
declared with :func:`recast.options.option`, and for each task the option groups it accepts — the
CLI's own declarations (:class:`~recast.extract.stage.ExtractOptions`,
:class:`~recast.faceset.sort.SortOptions`, :class:`~recast.merge.settings.MergeSettings`,
:class:`~recast.runtime.options.ComputeOptions`, …). The forms (:mod:`recast.studio.forms`) and the
validation of a job's options (:func:`split`, :func:`checked`) come from the same groups
(:func:`form_groups`), so a default or bound changed in a declaration changes the CLI help, the form
and the check at once.

A task's options are one flat object; :func:`split` hands each key to the group that declares it
and refuses any other key in one line (``unknown render option 'x'; known: …``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from recast.errors import OptionError
from recast.options import OptionField, option, option_fields, select
from recast.options.check import check_value
from recast.studio.files import check_name

SIDES = ("src", "dst")


def in_workspace(root: Path, value: str | Path, what: str) -> Path:
    """``root/value`` resolved by the studio's one containment check (:func:`recast.studio.files.inside`):
    :class:`~recast.studio.files.NotInWorkspace`, an InputError, when it would leave the workspace."""
    from recast.studio.files import inside

    return inside(root, *Path(value).parts, what=what)


def _model_names() -> tuple[str, ...]:
    from recast.models.registry import list_models

    return tuple(list_models())


@dataclass(frozen=True)
class ExtractJob:
    """Which faces to extract (the other options are ``recast extract``'s)."""

    OPTIONS_NOUN: ClassVar[str] = "extract option"

    side: str = option("src", "Whose faces: src (the face put in) or dst (the face replaced)", choices=SIDES,
                       group="Input")
    source: str = option("auto", "Read the frames folder or the video (auto: the frames when there are any)",
                         choices=("auto", "frames", "video"), group="Input")


@dataclass(frozen=True)
class SortJob:
    """Which faceset ``recast sort`` works on (the method and its options are ``recast sort``'s)."""

    OPTIONS_NOUN: ClassVar[str] = "sort option"

    side: str = option("src", "Which faceset: src or dst", choices=SIDES)
    restore: bool = option(False, "Undo every sort instead: put back the original names")


@dataclass(frozen=True)
class TrainJob:
    """Which model folder the train task trains (the run's other options are ``recast train``'s)."""

    OPTIONS_NOUN: ClassVar[str] = "train option"

    name: str = option("default", "Model folder under model/", parse=check_name, group="Model")
    model: str | None = option(None, "Registered model for a new model (a saved model keeps its own)",
                               choices=_model_names, default_text="saehd", group="Model")


@dataclass(frozen=True)
class LiveJob:
    """What the Live page swaps and for how long (the swap's options are ``recast live``'s)."""

    OPTIONS_NOUN: ClassVar[str] = "live option"

    model: str = option("default", "Model folder under model/, or a .dfm/.onnx file in the workspace", group="Input")
    input: str = option("camera:0", "camera:N or a video file in the workspace (played at its own rate)",
                        group="Input")
    seconds: float | None = option(None, "Stop after this many seconds", gt=0, le=86_400, default_text="until stopped",
                                   group="Input")


@dataclass(frozen=True)
class RenderJob:
    """Merge into the labelled result video (``recast merge -o result.mp4``), then verify its labels;
    the merge settings, the video options and the merge's compute options are given beside these.
    The workspace page's render form and the merge tuner's Render button both start it."""

    OPTIONS_NOUN: ClassVar[str] = "render option"

    model: str = option("default", "Model folder under model/", group="Model")
    session: str | None = option(None, "Merge session JSON in the workspace (keyframes); the settings given "
                                 "here replace its base settings", default_text="none", group="Model")
    xseg: str | None = option(None, "XSeg mask model under model/ (for the xseg mask modes)", default_text="none",
                              group="Model")
    output: str = option("result.mp4", "Result video, inside the workspace", group="Encode")
    force: bool = option(False, "Replace an existing result (the old one is moved to .recast/backup/ first, "
                         "and back if the render fails)", group="Encode")


def _xseg_presets() -> tuple[str, ...]:
    from recast.models.xseg_config import XSEG_PRESETS

    return tuple(sorted(XSEG_PRESETS))


XSEG_FACES = ("both", "src", "dst")
XSEG_COMPUTE = ("device", "threads", "workers", "seed")
"""The :class:`~recast.runtime.options.ComputeOptions` an XSeg training run takes."""


@dataclass(frozen=True)
class XSegTrainJob:
    """Which XSeg model folder the xseg-train task trains, on which facesets (the settings, limits and
    compute options are ``recast xseg train``'s)."""

    OPTIONS_NOUN: ClassVar[str] = "xseg-train option"

    name: str = option("xseg", "XSeg model folder under model/", parse=check_name, group="Model")
    model: str | None = option(None, "Preset of a new XSeg model (a saved model keeps its own)",
                               choices=_xseg_presets, default_text="xseg-cpu", group="Model")
    faces: str = option("both", "Facesets it trains on: both, src or dst", choices=XSEG_FACES, group="Model")
    preview_every: int = option(100, "Iterations between preview images (0 = off)", ge=0, le=1_000_000,
                                group="Model")


@dataclass(frozen=True)
class XSegApplyJob:
    """Which faceset gets which XSeg model's masks (``recast xseg apply``)."""

    OPTIONS_NOUN: ClassVar[str] = "xseg-apply option"

    side: str = option("dst", "Which faceset: src or dst", choices=SIDES)
    name: str = option("xseg", "XSeg model folder under model/", parse=check_name)
    batch_size: int = option(16, "Faces per model batch", ge=1, le=256)


@dataclass(frozen=True)
class XSegSideJob:
    """Which faceset ``recast xseg remove`` / ``recast xseg fetch`` works on."""

    OPTIONS_NOUN: ClassVar[str] = "xseg option"

    side: str = option("dst", "Which faceset: src or dst", choices=SIDES)


@dataclass(frozen=True)
class Group:
    """Options of class ``cls`` a form takes: all of them, or the ``names`` given."""

    cls: type
    names: tuple[str, ...] | None = None

    def fields(self) -> tuple[OptionField, ...]:
        """The options, in declaration order (or in ``names``' order)."""
        return option_fields(self.cls) if self.names is None else select(self.cls, *self.names)


def _forms() -> dict[str, tuple[Group, ...]]:
    from recast.eval.options import EvalOptions
    from recast.extract.stage import ExtractOptions
    from recast.faceset.sort import SortOptions
    from recast.live.engine import LIVE_FLAGS, LIVE_SETTINGS, LiveOptions
    from recast.merge.settings import MERGE_COMPUTE, MergeSettings
    from recast.provenance.verify import VerifyOptions
    from recast.provenance.writer import EncodeOptions
    from recast.runtime.options import ComputeOptions, Limits
    from recast.train.options import TRAIN_COMPUTE, TrainOptions, TrainSettings
    from recast.train.xseg_options import XSegSettings

    return {
        "extract": (Group(ExtractJob), Group(ExtractOptions)),
        "sort": (Group(SortJob), Group(SortOptions)),
        "train": (Group(TrainSettings),),
        "train-run": (Group(TrainJob), Group(Limits), Group(TrainOptions), Group(ComputeOptions, TRAIN_COMPUTE)),
        "merge": (Group(MergeSettings),),
        "render": (Group(MergeSettings), Group(EncodeOptions), Group(RenderJob), Group(ComputeOptions, MERGE_COMPUTE)),
        "eval": (Group(EvalOptions),),
        "verify": (Group(VerifyOptions),),
        "live": (Group(LiveJob), Group(LiveOptions, LIVE_FLAGS)),
        "live-settings": (Group(MergeSettings, LIVE_SETTINGS),),
        "xseg-train": (Group(XSegTrainJob), Group(XSegSettings), Group(Limits), Group(ComputeOptions, XSEG_COMPUTE)),
        "xseg-apply": (Group(XSegApplyJob), Group(ComputeOptions, ("device",))),
        "xseg-remove": (Group(XSegSideJob),),
        "xseg-fetch": (Group(XSegSideJob),),
    }


def form_groups(name: str) -> tuple[Group, ...]:
    """The option groups of form ``name`` (KeyError when there is none)."""
    return _forms()[name]


def form_names() -> list[str]:
    """Every form's name."""
    return sorted(_forms())


def split(options: Any, form: str) -> list[dict[str, Any]]:
    """``options`` split into one dict per group of form ``form``; OptionError for anything but an
    object, or for a key no group declares."""
    groups = form_groups(form)
    noun = f"{form.split('-')[0]} option"
    if not isinstance(options, Mapping):
        raise OptionError(f"{noun}s must be an object of name: value, got {str(options)[:40]!r}")
    names = [[item.name for item in group.fields()] for group in groups]
    known = [name for group in names for name in group]
    unknown = sorted(str(key) for key in options if key not in known)
    if unknown:
        raise OptionError(f"unknown {noun} {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}")
    return [{key: value for key, value in options.items() if key in group} for group in names]


def checked(options: Any, form: str) -> list[dict[str, Any]]:
    """:func:`split`, each given value checked and parsed by its declaration (OptionError naming it)."""
    groups = form_groups(form)
    parts = split(options, form)
    out = []
    for group, part in zip(groups, parts, strict=True):
        by_name = {item.name: item for item in group.fields()}
        out.append({key: check_value(group.cls, by_name[key], value) for key, value in part.items()})
    return out
