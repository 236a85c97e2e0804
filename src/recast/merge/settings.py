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
from typing import Any

from recast.atomic import atomic_write_text
from recast.color import COLOR_TRANSFERS
from recast.errors import InputError, OptionError
from recast.merge.effects import SHARPEN_MODES
from recast.merge.maskops import MASK_MODES

#: Overlay modes: how the predicted face is put into the frame.
MODES = ("original", "overlay", "hist-match", "seamless", "seamless-hist-match", "raw-rgb", "raw-predict")
COLOR_MODES = ("none", *COLOR_TRANSFERS)

SESSION_FORMAT = "recast.merge-session"
SESSION_VERSION = 1

# Numeric ranges (inclusive), following DeepFaceLab's merger.
_RANGES: dict[str, tuple[float, float]] = {
    "erode": (-400, 400),
    "blur": (0, 400),
    "motion_blur": (0, 100),
    "output_face_scale": (-50, 50),
    "hist_match_threshold": (0, 255),
    "sharpen_amount": (-100, 100),
    "denoise": (0, 500),
    "bicubic_degrade": (0, 100),
    "color_degrade": (0, 100),
    "morph": (0.0, 1.0),
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "mode": MODES,
    "mask_mode": MASK_MODES,
    "color": COLOR_MODES,
    "sharpen_mode": SHARPEN_MODES,
}


@dataclass(frozen=True)
class MergeSettings:
    """Everything that controls how a face is merged into a frame (validated on creation).

    Attributes:
        mode: overlay mode, one of :data:`MODES`.
        mask_mode: one of :data:`recast.merge.maskops.MASK_MODES`.
        color: colour transfer of the face to the frame, one of :data:`COLOR_MODES`.
        erode: mask erosion (> 0) or dilation (< 0), DeepFaceLab pixels (at 4 × model resolution).
        blur: mask feathering, same unit.
        motion_blur: 0–100, blur the face along its motion between frames.
        output_face_scale: −50…50 percent; > 0 pastes the face smaller.
        masked_hist_match: hist-match only inside the mask.
        hist_match_threshold: 0–255, see :func:`recast.merge.effects.hist_match`.
        sharpen_mode: ``none``, ``box`` or ``gaussian``.
        sharpen_amount: −100…100; < 0 blurs the face.
        denoise: 0–500, median-denoise the frame's background.
        bicubic_degrade: 0–100, soften the frame's background.
        color_degrade: 0–100, reduce the final frame to 256 colours.
        morph: 0–1, identity morph factor for morphable (AMP) models.
    """

    mode: str = "overlay"
    mask_mode: str = "dst"
    color: str = "rct"
    erode: int = 0
    blur: int = 0
    motion_blur: int = 0
    output_face_scale: int = 0
    masked_hist_match: bool = True
    hist_match_threshold: int = 238
    sharpen_mode: str = "none"
    sharpen_amount: int = 0
    denoise: int = 0
    bicubic_degrade: int = 0
    color_degrade: int = 0
    morph: float = 1.0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in _CHOICES:
                if value not in _CHOICES[item.name]:
                    choices = ", ".join(_CHOICES[item.name])
                    raise OptionError(f"merge setting {item.name}={value!r} is not one of {choices}")
            elif isinstance(item.default, bool):
                if not isinstance(value, bool):
                    raise OptionError(f"merge setting {item.name}={value!r} must be true or false")
            else:
                _check_number(item.name, value, isinstance(item.default, int))

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
        known = {item.name for item in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise OptionError(f"unknown merge setting {unknown[0]!r}; known: {', '.join(sorted(known))}")
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


def _check_number(name: str, value: Any, integer: bool) -> None:
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise OptionError(f"merge setting {name}={value!r} must be {kind}")
    low, high = _RANGES[name]
    if not (math.isfinite(value) and low <= value <= high):
        raise OptionError(f"merge setting {name}={value!r} is outside {low}…{high}")
