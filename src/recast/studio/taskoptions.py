"""The options of the studio's tasks that are not a stage's own options type: which side, which
model, the encoding of the result. Declared with :func:`recast.options.option`, so they validate,
describe themselves in forms and refuse unknown keys exactly as the stages' options do.

A task's options are one flat object; :func:`split_options` hands each key to the options class that
declares it (``render``: :class:`~recast.merge.settings.MergeSettings` fields + :class:`RenderJob`
fields) and refuses any other key in one line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from recast.errors import OptionError
from recast.options import option, option_fields

SIDES = ("src", "dst")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _sort_methods() -> tuple[str, ...]:
    from recast.faceset.sort import SORT_METHODS

    return tuple(SORT_METHODS)


def check_name(value: Any, what: str = "model") -> str:
    """``value`` as a plain file or folder name (letters, digits, ``.``, ``_``, ``-``; no path), or OptionError."""
    if not isinstance(value, str) or not _NAME.fullmatch(value) or value in (".", ".."):
        raise OptionError(f"{what} must be a plain name (letters, digits, '.', '_', '-'), got {str(value)[:40]!r}")
    return value


def in_workspace(root: Path, value: str | Path, what: str) -> Path:
    """``root/value`` resolved, or OptionError when it would leave the workspace."""
    base = Path(root).resolve()
    path = (base / value).resolve()
    if base != path and base not in path.parents:
        raise OptionError(f"{what} must name a file inside the workspace, got {str(value)[:60]!r}")
    return path


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
    """``recast sort`` on one side's aligned faces."""

    OPTIONS_NOUN: ClassVar[str] = "sort option"

    side: str = option("src", "Which faceset: src or dst", choices=SIDES)
    method: str = option("blur", "Sort method (renames to 00000_<name>…; rejects → the trash folder)",
                         choices=_sort_methods)
    target: int = option(2000, "best / best-fast: number of faces to keep", ge=1)
    max_distance: float | None = option(None, "face: move faces farther than this to the trash", ge=0,
                                        default_text="keep all")
    workers: int = option(2, "Processes computing per-face scores", ge=1, le=64)
    restore: bool = option(False, "Undo every sort instead: put back the original names")


@dataclass(frozen=True)
class RenderJob:
    """Merge into the labelled result video (``recast merge -o result.mp4``), then verify its labels;
    the merge settings (:class:`~recast.merge.settings.MergeSettings`) and the video options
    (:class:`~recast.pipeline.encode.EncodeOptions`: crf, lossless, preset, visible_label) are given
    beside these. The workspace page's render form and the merge tuner's Render button both start it."""

    OPTIONS_NOUN: ClassVar[str] = "render option"

    model: str = option("default", "Model folder under model/", group="Model")
    session: str | None = option(None, "Merge session JSON in the workspace (keyframes); the settings given "
                                 "here replace its base settings", default_text="none", group="Model")
    xseg: str | None = option(None, "XSeg mask model under model/ (for the xseg mask modes)", default_text="none",
                              group="Model")
    output: str = option("result.mp4", "Result video, inside the workspace", group="Encode")
    force: bool = option(False, "Replace an existing result (the old one is moved to .studio/backup/ first, "
                         "and back if the render fails)", group="Encode")
    batch_size: int = option(8, "Faces per model batch", ge=1, le=256, group="Run")
    workers: int = option(2, "Threads for reading, blending and writing", ge=1, le=64, group="Run")
    device: str = option("auto", "Torch device: auto, cpu, cuda, cuda:N or mps", group="Run")
    precision: str = option("auto", "Model precision", choices=PRECISIONS, group="Run")


@dataclass(frozen=True)
class EvalJob:
    """``recast eval`` of result.mp4 against the destination (report in result_eval/)."""

    OPTIONS_NOUN: ClassVar[str] = "eval option"

    every: int = option(1, "Evaluate every N-th frame", ge=1)
    force: bool = option(False, "Replace an existing report")


@dataclass(frozen=True)
class VerifyJob:
    """``recast verify`` of result.mp4."""

    OPTIONS_NOUN: ClassVar[str] = "verify option"

    frames: int = option(50, "Frames to sample for the watermark", ge=1, le=10000)


def split_options(options: Any, noun: str, *classes: type) -> list[dict[str, Any]]:
    """``options`` split into one dict per class of ``classes`` (by the options each declares);
    OptionError for anything but an object, or for a key none declares (``unknown render option 'x';
    known: …``)."""
    if not isinstance(options, Mapping):
        raise OptionError(f"{noun}s must be an object of name: value, got {str(options)[:40]!r}")
    names = [[item.name for item in option_fields(cls)] for cls in classes]
    known = [name for group in names for name in group]
    unknown = sorted(str(key) for key in options if key not in known)
    if unknown:
        raise OptionError(f"unknown {noun} {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}")
    return [{key: value for key, value in options.items() if key in group} for group in names]
