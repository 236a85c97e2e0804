"""Check a file for recast's three "synthetic media" labels: container tag, sidecar, watermark.

:func:`verify` works on a video file, a single image, or a folder of frames, and never needs the
original: the watermark is found frame by frame, blind.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from recast.errors import InputError, OptionError
from recast.media.images import IMAGE_EXTENSIONS, list_images, read_image
from recast.media.video import iter_frames, probe
from recast.options import option
from recast.provenance.contentcred import ContentCredentials, read_manifest
from recast.provenance.label import (
    PROVENANCE_LABEL,
    SIDECAR_SUFFIX,
    has_label_tag,
    read_sidecar,
    sha256_path,
    sidecar_path,
)
from recast.provenance.watermark import SCORE_THRESHOLD, detect_watermark

MIN_FOUND_FRACTION = 0.2
"""Share of sampled frames that must carry the watermark for it to count as present."""
HASH_SECONDS = 120.0
"""Time allowed for hashing the result, and again for hashing all recorded inputs together."""
MAX_HASH_BYTES = 16 << 30
"""Largest file (or frame folder) verify hashes; a recorded input over it is reported unchecked."""


@dataclass(frozen=True)
class VerifyOptions:
    """How ``recast verify`` (and the studio's verify task) checks a result."""

    OPTIONS_NOUN: ClassVar[str] = "verify option"

    frames: int = option(50, "Frames to sample for the watermark", ge=1, le=10000)


@dataclass(frozen=True)
class HashCheck:
    """One recorded input (or the result itself) compared with the file now at its path.

    ``status``: ``"ok"`` (same sha256), ``"mismatch"`` (the file changed), ``"missing"`` (no file
    of the recorded name beside the result or in the folders searched, so it cannot be checked),
    ``"unchecked"`` (not a regular file or folder, unreadable, over :data:`MAX_HASH_BYTES`, or past
    the time limit; see ``reason``). Sidecars record names, not paths; ``path`` is where the input
    was found (or its name).
    """

    role: str
    path: str
    status: str
    reason: str = ""


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify` found.

    Attributes:
        path: the file or folder checked.
        kind: ``"video"``, ``"image"`` or ``"frames"`` (a folder of images).
        container_tag: the container carries the label tag; None where there is no container
            tag to check (images, frame folders).
        sidecar: path of the provenance sidecar, or None when there is none.
        sidecar_ok: the sidecar is a valid recast record carrying the label *and* the sha256 it
            records for the result matches this file (a sidecar copied beside another file, or
            left beside a re-encoded one, does not count).
        sidecar_problem: why the sidecar could not be used, or None.
        result_hash: ``"ok"`` (the result is byte-identical to what was labelled), ``"changed"``
            (re-encoded or edited since), or None (no sidecar / no hash recorded).
        input_checks: each recorded input compared with the file now at its path.
        frames_checked: how many frames were sampled for the watermark.
        frames_marked: how many of them carry it.
        scores: per sampled frame watermark score (see :mod:`recast.provenance.watermark`).
        watermark: ``frames_marked >= max(1, MIN_FOUND_FRACTION * frames_checked)``.
        c2pa: the file's C2PA manifest (see :mod:`recast.provenance.contentcred`), or None when it
            has none (or ``c2pa-python`` is not installed).
    """

    path: Path
    kind: str
    container_tag: bool | None
    sidecar: Path | None
    sidecar_ok: bool
    sidecar_problem: str | None
    result_hash: str | None
    input_checks: list[HashCheck] = field(default_factory=list)
    frames_checked: int = 0
    frames_marked: int = 0
    scores: list[float] = field(default_factory=list)
    watermark: bool = False
    c2pa: ContentCredentials | None = None

    @property
    def labelled(self) -> bool:
        """Any label says this is synthetic media: recast's three, or a C2PA trained-algorithmic-media manifest."""
        return bool(self.container_tag) or self.sidecar_ok or self.watermark or bool(self.c2pa and self.c2pa.synthetic)

    @property
    def failed(self) -> dict[str, str]:
        """Each label that was not found → why (empty when all three were found)."""
        reasons: dict[str, str] = {}
        if self.container_tag is False:
            reasons["container tag"] = "the container carries no recast label tag"
        if not self.sidecar_ok:
            reasons["sidecar"] = self.sidecar_problem or f"no {self.path.name}{SIDECAR_SUFFIX} beside the file"
        if not self.watermark:
            needed = max(1, math.ceil(MIN_FOUND_FRACTION * self.frames_checked))
            reasons["watermark"] = (f"found in {self.frames_marked} of {self.frames_checked} sampled frames, "
                                    f"{needed} needed")
        return reasons

    @property
    def verdict(self) -> str:
        """One line: which labels were found, or that none was."""
        if not self.labelled:
            return "no recast label found"
        found = []
        if self.container_tag:
            found.append("container tag")
        if self.sidecar_ok:
            found.append("sidecar")
        if self.watermark:
            found.append(f"watermark in {self.frames_marked}/{self.frames_checked} frames")
        if self.c2pa is not None and self.c2pa.synthetic:
            found.append("C2PA manifest")
        return f"{PROVENANCE_LABEL}: " + ", ".join(found)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form of the report (paths as strings), with ``labelled`` and ``verdict``."""
        return {
            "path": str(self.path),
            "kind": self.kind,
            "labelled": self.labelled,
            "verdict": self.verdict,
            "container_tag": self.container_tag,
            "sidecar": None if self.sidecar is None else str(self.sidecar),
            "sidecar_ok": self.sidecar_ok,
            "sidecar_problem": self.sidecar_problem,
            "result_hash": self.result_hash,
            "input_checks": [vars(c) for c in self.input_checks],
            "failed": self.failed,
            "watermark": self.watermark,
            "frames_checked": self.frames_checked,
            "frames_marked": self.frames_marked,
            "median_score": float(np.median(self.scores)) if self.scores else None,
            "score_threshold": SCORE_THRESHOLD,
            "c2pa": None if self.c2pa is None else {**vars(self.c2pa), "synthetic": self.c2pa.synthetic,
                                                    "signature_valid": self.c2pa.signature_valid},
        }


def verify(path: str | Path, sample_frames: int = 50, input_dirs: Sequence[str | Path] = ()) -> VerifyReport:
    """Look for recast's labels on a video file, an image file, or a folder of frames.

    Args:
        path: the result to check.
        sample_frames: how many frames, spread evenly over the whole result, to test for the
            watermark (all of them when there are fewer).
        input_dirs: folders to look in for the recorded inputs (by name), after the result's own.

    Raises:
        InputError: ``path`` is missing or is not a readable video, image or image folder.
        OptionError: ``sample_frames`` < 1.
    """
    if sample_frames < 1:
        raise OptionError(f"--frames must be at least 1, got {sample_frames}")
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    container_tag: bool | None = None
    if path.is_dir():
        kind = "frames"
        frames = _folder_frames(path, sample_frames)
    elif path.suffix.lower() in IMAGE_EXTENSIONS:
        kind = "image"
        frames = [read_image(path)]
    else:
        kind = "video"
        info = probe(path)
        container_tag = has_label_tag(info.metadata)
        frames = _video_frames(path, info.frame_count, info.duration, sample_frames)
    results = [detect_watermark(frame) for frame in frames]
    marked = sum(r.found for r in results)
    sidecar, sidecar_ok, problem, result_hash, checks = _check_sidecar(path, [Path(d) for d in input_dirs])
    return VerifyReport(
        path=path,
        kind=kind,
        container_tag=container_tag,
        sidecar=sidecar,
        sidecar_ok=sidecar_ok,
        sidecar_problem=problem,
        result_hash=result_hash,
        input_checks=checks,
        frames_checked=len(results),
        frames_marked=marked,
        scores=[round(r.score, 3) for r in results],
        watermark=marked >= max(1, math.ceil(MIN_FOUND_FRACTION * len(results))),
        c2pa=read_manifest(path) if path.is_file() else None,
    )


def _folder_frames(folder: Path, count: int) -> list[np.ndarray]:
    files = list_images(folder)
    if not files:
        raise InputError(folder, "folder holds no images to check")
    picks = np.unique(np.linspace(0, len(files) - 1, min(count, len(files))).round().astype(int))
    return [read_image(files[i]) for i in picks]


def _video_frames(path: Path, frame_count: int, duration: float, count: int) -> list[np.ndarray]:
    """About ``count`` frames spread evenly over the video (every frame when it has fewer)."""
    if frame_count <= count or duration <= 0:
        frames = [frame for _, frame in iter_frames(path)]
        if len(frames) > count:
            picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
            frames = [frames[i] for i in np.unique(picks)]
        return frames
    return [frame for _, frame in iter_frames(path, fps=count / duration)][:count]


def _find_input(entry: dict[str, Any], folders: list[Path]) -> Path | None:
    """Where a recorded input is now: by name in ``folders`` (a sidecar of recast ≤ 0.1 recorded a path)."""
    if "name" in entry:
        name = Path(str(entry["name"])).name
        return next((folder / name for folder in folders if name and (folder / name).exists()), None)
    source = Path(str(entry.get("path", "")))
    return source if str(source) and source.exists() else None


def _check_sidecar(
    result: Path, input_dirs: list[Path],
) -> tuple[Path | None, bool, str | None, str | None, list[HashCheck]]:
    """(sidecar path, usable, problem, result hash status, input checks) for ``result``."""
    side = sidecar_path(result)
    if not side.exists() and not side.is_symlink():
        return None, False, None, None, []
    try:
        record = read_sidecar(side)
    except InputError as error:
        return side, False, str(error), None, []
    recorded = record.get("result", {}).get("sha256") if isinstance(record.get("result"), dict) else None
    result_hash, hash_problem = None, None
    if isinstance(recorded, str):
        try:
            result_hash = "ok" if _bounded_sha256(result, time.monotonic() + HASH_SECONDS) == recorded else "changed"
        except InputError as error:
            hash_problem = f"the result could not be hashed: {error.problem}"
    if record.get("label") != PROVENANCE_LABEL or record.get("synthetic") is not True:
        problem = "sidecar does not carry the synthetic-media label"
    elif hash_problem is not None:
        problem = hash_problem
    elif result_hash is None:
        problem = "sidecar records no sha256 of the result, so it cannot be tied to this file"
    elif result_hash == "changed":
        problem = ("the sha256 the sidecar records is not this file's (a copied sidecar, or the file was "
                   "re-encoded or edited after labelling)")
    else:
        problem = None
    inputs = record.get("inputs", {})
    return side, problem is None, problem, result_hash, _check_inputs(inputs if isinstance(inputs, dict) else {},
                                                                      [side.parent, *input_dirs])


def _check_inputs(inputs: dict[str, Any], folders: list[Path]) -> list[HashCheck]:
    """Compare each recorded input with the file of its name in ``folders``, within one time budget."""
    deadline = time.monotonic() + HASH_SECONDS
    checks = []
    for role, entry in inputs.items():
        if not isinstance(entry, dict) or not ({"name", "path"} & set(entry)) or "sha256" not in entry:
            checks.append(HashCheck(str(role), "", "missing", "the sidecar entry has no name and sha256"))
            continue
        shown = str(entry.get("name", entry.get("path")))[:200]
        try:
            source = _find_input(entry, folders)
            if source is None:
                checks.append(HashCheck(str(role), shown, "missing", "not found beside the result or in the "
                                                                     "folders searched"))
                continue
            same = _bounded_sha256(source, deadline) == entry["sha256"]
        except InputError as error:
            checks.append(HashCheck(str(role), shown, "unchecked", error.problem))
            continue
        except (OSError, ValueError) as error:  # e.g. a name too long, or holding NUL
            checks.append(HashCheck(str(role), shown, "unchecked", str(error)[:200]))
            continue
        checks.append(HashCheck(str(role), str(source), "ok" if same else "mismatch"))
    return checks


def _bounded_sha256(path: Path, deadline: float) -> str:
    """:func:`sha256_path` of a regular file or a folder of them, refusing anything over the limits."""
    if path.is_dir():
        size = sum(p.stat().st_size for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    elif path.is_file():
        size = path.stat().st_size
    else:
        raise InputError(path, "not a regular file or folder (a device, pipe or socket); not read")
    if size > MAX_HASH_BYTES:
        raise InputError(path, f"{size} bytes, over the {MAX_HASH_BYTES} byte limit for hashing")
    return sha256_path(path, deadline)
