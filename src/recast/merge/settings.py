"""Merge settings, and session files that animate them over the frames with keyframes.

A session file is JSON (never pickle)::

    {
      "format": "recast.merge-session", "version": 1,
      "base": {"mode": "overlay", "color": "rct"},
      "keyframes": {"1": {"erode": 0}, "120": {"erode": 40, "blur": 20}}
    }

``base`` (optional) overrides the defaults of :class:`MergeSettings`; each keyframe, keyed by
frame number (1 = the first frame in name order), overrides some fields from that frame on.
Numeric fields are interpolated linearly between the keyframes that set them (integers are
rounded); other fields hold their value until the next keyframe that sets them. Before the
first keyframe that sets a field, the field has its ``base`` value.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

from recast.atomic import atomic_write_text
from recast.color import COLOR_TRANSFERS
from recast.errors import InputError, OptionError
from recast.merge.effects import SHARPEN_MODES
from recast.merge.maskops import MASK_MODES
from recast.options import option, unknown_keys, validate

#: Overlay modes: how the predicted face is put into the frame.
MODES = ("original", "overlay", "hist-match", "seamless", "seamless-hist-match", "raw-rgb", "raw-predict")
COLOR_MODES = ("none", *COLOR_TRANSFERS)

SESSION_FORMAT = "recast.merge-session"
SESSION_VERSION = 1

_MASK, _COLOUR, _EFFECTS = "Mask", "Colour", "Effects"


MERGE_COMPUTE = ("device", "precision", "workers", "batch_size")
"""The :class:`~recast.runtime.options.ComputeOptions` a merge takes (``recast merge``, the studio's render)."""


@dataclass(frozen=True)
class MergeSettings:
    """Everything that controls how a face is merged into a frame (validated on creation).

    Each field declares its help, range and choices (:mod:`recast.options`). erode and blur are in
    DeepFaceLab pixels (at 4 × model resolution); hist_match_threshold: see
    :func:`recast.merge.effects.hist_match`; denoise, bicubic_degrade and color_degrade act on the
    frame's background (the last reduces it to 256 colours); morph only applies to AMP models.
    """

    OPTIONS_NOUN: ClassVar[str] = "merge setting"
    OPTIONS_LABEL: ClassVar[str] = "{noun} {name}"

    mode: str = option("overlay", "Overlay mode", choices=MODES)
    mask_mode: str = option("dst", "Mask (xseg modes need an XSeg model: --xseg)", choices=MASK_MODES, group=_MASK)
    color: str = option("rct", "Colour transfer of the face to the frame", choices=COLOR_MODES, group=_COLOUR)
    erode: int = option(0, "Mask erode (>0) / dilate (<0), DFL units", ge=-400, le=400, group=_MASK)
    blur: int = option(0, "Mask feather, DFL units", ge=0, le=400, group=_MASK)
    motion_blur: int = option(0, "Blur the face along its motion", ge=0, le=100, group=_EFFECTS)
    output_face_scale: int = option(0, "Output face scale in percent (>0 pastes it smaller)", ge=-50, le=50,
                                    flag="face-scale", group=_MASK)
    masked_hist_match: bool = option(True, "hist-match in the mask only", flag="masked-hist", group=_COLOUR)
    hist_match_threshold: int = option(238, "hist-match threshold", ge=0, le=255, flag="hist-threshold",
                                       group=_COLOUR)
    sharpen_mode: str = option("none", "Sharpen mode", choices=SHARPEN_MODES, group=_EFFECTS)
    sharpen_amount: int = option(0, "Sharpen amount (<0 blurs)", ge=-100, le=100, flag="sharpen", group=_EFFECTS)
    denoise: int = option(0, "Background denoise", ge=0, le=500, group=_EFFECTS)
    bicubic_degrade: int = option(0, "Background bicubic degrade", ge=0, le=100, group=_EFFECTS)
    color_degrade: int = option(0, "Colour degrade (256 colours)", ge=0, le=100, group=_EFFECTS)
    morph: float = option(1.0, "Identity morph for morphable (AMP) models", ge=0.0, le=1.0)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def is_raw(self) -> bool:
        """True for ``raw-rgb`` and ``raw-predict`` (no erode/blur, no colour transfer)."""
        return self.mode.startswith("raw")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, base: MergeSettings | None = None) -> MergeSettings:
        """Build from a (possibly partial) dict on top of ``base`` (defaults); rejects unknown keys."""
        return (base or cls()).updated(data)

    def updated(self, changes: Any) -> MergeSettings:
        """A copy with the fields in ``changes`` (a dict) replaced and validated."""
        if not isinstance(changes, dict):
            raise OptionError(f"merge settings must be a JSON object, got {type(changes).__name__}")
        unknown_keys(MergeSettings, changes)
        return replace(self, **changes)

    def to_json(self) -> str:
        """Indented JSON text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MergeSettings:
        """Parse :meth:`to_json` output (or any partial settings object)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise OptionError(f"merge settings are not valid JSON: {error}") from None
        return cls.from_dict(data)


@dataclass(frozen=True)
class MergeSession:
    """Base settings plus per-frame keyframes (frame number → partial settings dict)."""

    base: MergeSettings = field(default_factory=MergeSettings)
    keyframes: dict[int, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for frame, changes in self.keyframes.items():
            if not isinstance(frame, int) or frame < 1:
                raise OptionError(f"session keyframe {frame!r} is not a frame number ≥ 1")
            try:
                self.base.updated(changes)
            except OptionError as error:
                raise OptionError(f"session keyframe {frame}: {error}") from None

    def with_keyframe(self, frame: int, settings: MergeSettings) -> MergeSession:
        """A copy with a keyframe at ``frame`` (replacing one there) such that ``settings`` are in
        effect at that frame: it records each field that differs from ``base`` or that another
        keyframe animates (so that field's interpolation passes through this value)."""
        others = {number: changes for number, changes in self.keyframes.items() if number != frame}
        animated = {name for changes in others.values() for name in changes}
        values = settings.to_dict()
        base = self.base.to_dict()
        changes = {name: value for name, value in values.items() if value != base[name] or name in animated}
        return MergeSession(self.base, {**others, frame: changes})

    def without_keyframe(self, frame: int) -> MergeSession:
        """A copy without the keyframe at ``frame`` (KeyError when there is none)."""
        if frame not in self.keyframes:
            raise KeyError(frame)
        return MergeSession(self.base, {n: changes for n, changes in self.keyframes.items() if n != frame})

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict with the format name and version."""
        return {
            "format": SESSION_FORMAT,
            "version": SESSION_VERSION,
            "base": self.base.to_dict(),
            "keyframes": {str(frame): dict(self.keyframes[frame]) for frame in sorted(self.keyframes)},
        }

    @classmethod
    def from_dict(cls, data: Any) -> MergeSession:
        """Validate and build from a parsed session object."""
        if not isinstance(data, dict):
            raise OptionError("a merge session must be a JSON object")
        if data.get("format", SESSION_FORMAT) != SESSION_FORMAT:
            raise OptionError(f"not a merge session (format {data.get('format')!r})")
        version = data.get("version", SESSION_VERSION)
        if not isinstance(version, int) or version > SESSION_VERSION:
            raise OptionError(f"merge session version {version!r} is not supported (max {SESSION_VERSION})")
        extra = sorted(set(data) - {"format", "version", "base", "keyframes"})
        if extra:
            raise OptionError(f"unknown merge session key {extra[0]!r}")
        base = MergeSettings.from_dict(data.get("base", {}))
        raw = data.get("keyframes", {})
        if not isinstance(raw, dict):
            raise OptionError("session keyframes must be an object mapping frame numbers to settings")
        keyframes: dict[int, dict[str, Any]] = {}
        for key, changes in raw.items():
            if not (isinstance(key, str) and key.isdigit()):
                raise OptionError(f"session keyframe key {key!r} is not a frame number")
            keyframes[int(key)] = changes
        return cls(base=base, keyframes=keyframes)


def load_session(path: str | Path) -> MergeSession:
    """Read a session JSON file; errors name the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(path, f"cannot read the merge session ({error.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(path, f"the merge session is not valid JSON ({error})") from None
    try:
        return MergeSession.from_dict(data)
    except OptionError as error:
        raise InputError(path, str(error)) from None


def save_session(session: MergeSession, path: str | Path) -> None:
    """Write a session JSON file atomically."""
    atomic_write_text(path, json.dumps(session.to_dict(), indent=2) + "\n")


def settings_for_frame(session: MergeSession | MergeSettings, frame_number: int) -> MergeSettings:
    """The settings in effect at ``frame_number`` (1-based), interpolating the keyframes.

    A plain :class:`MergeSettings` is returned as is.
    """
    if isinstance(session, MergeSettings):
        return session
    base = session.base
    changes: dict[str, Any] = {}
    for item in fields(base):
        keys = sorted(frame for frame, values in session.keyframes.items() if item.name in values)
        before = [frame for frame in keys if frame <= frame_number]
        if not before:
            continue
        previous = before[-1]
        value = session.keyframes[previous][item.name]
        after = [frame for frame in keys if frame > frame_number]
        numeric = isinstance(item.default, (int, float)) and not isinstance(item.default, bool)
        if numeric and after and previous != frame_number:
            following = after[0]
            end = session.keyframes[following][item.name]
            t = (frame_number - previous) / (following - previous)
            value = value + (end - value) * t
            if isinstance(item.default, int):
                value = int(math.floor(value + 0.5))
        changes[item.name] = value
    return base.updated(changes)

