"""The encode stage: merged frames (+ mask frames) → a labelled result video (+ mask video).

Every video written here is labelled as synthetic media three ways: container tags, the
invisible watermark in every frame, and a ``<result>.provenance.json`` sidecar.

>>> encode_video("ws/data_dst/merged", "ws/result.mp4", audio_from="ws/data_dst.mp4")
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from recast import DISTRIBUTION
from recast.errors import InputError, OptionError
from recast.media.images import list_images, read_image
from recast.media.video import VideoWriter, probe
from recast.paths import check_outputs_not_inputs
from recast.provenance import contentcred
from recast.provenance.label import container_metadata, mark_frame, sidecar_path, write_sidecar

log = logging.getLogger(__name__)


@dataclass
class EncodeOptions:
    """Options of :func:`encode_video`.

    Attributes:
        fps: frame rate; None = the ``audio_from`` video's rate (25 when there is none).
        audio_from: file whose audio track is copied in (normally the destination video).
        mask_dir: mask frames to encode as ``<result stem>_mask<suffix>`` (None = none).
        crf: H.264 quality (lower = better); ignored for lossless, ProRes and MJPEG.
        lossless: lossless H.264 (mp4) or FFV1 (mkv).
        visible_label: also burn a small "SYNTHETIC" label into a corner of every frame.
        overwrite: replace an existing result.
        provenance: extra sidecar content: ``inputs`` (role → path), ``model`` and ``settings`` dicts.
        c2pa: also sign a C2PA manifest into the result (:mod:`recast.provenance.contentcred`); None
            = when ``c2pa-python`` is installed and the container can carry one (.mp4, .mov).
    """

    fps: float | Fraction | None = None
    audio_from: Path | None = None
    mask_dir: Path | None = None
    crf: int = 18
    lossless: bool = False
    visible_label: bool = False
    overwrite: bool = False
    provenance: dict[str, Any] = field(default_factory=dict)
    c2pa: bool | None = None


@dataclass
class EncodeSummary:
    """What :func:`encode_video` wrote."""

    output: Path
    frames: int
    fps: float
    has_audio: bool
    mask_output: Path | None
    sidecar: Path
    c2pa: bool = False


def _check_recordable(path: str | Path | None) -> None:
    """Refuse, before writing anything, a path the UTF-8 provenance sidecar could not record."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(path or "", "the name is not valid UTF-8, so the provenance sidecar cannot record it; "
                                     "rename it") from None


def mask_output_path(output: Path) -> Path:
    """``result.mp4`` → ``result_mask.mp4``."""
    return output.with_name(f"{output.stem}_mask{output.suffix}")


def encode_video(
    frames_dir: str | Path, output: str | Path, options: EncodeOptions | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> EncodeSummary:
    """Encode a folder of frames (``00001.png`` …) into a labelled video.

    Raises:
        InputError: no frames, an unreadable frame, an unreadable ``audio_from``, an existing
            output without ``overwrite``, or an output path that is one of the inputs.
    """
    options = options or EncodeOptions()
    frames_dir, output = Path(frames_dir), Path(output)
    if not frames_dir.is_dir():
        raise InputError(frames_dir, "not a folder of frames")
    check_outputs_not_inputs(
        [output, sidecar_path(output), mask_output_path(output) if options.mask_dir is not None else None],
        [frames_dir, options.mask_dir, options.audio_from])
    for recorded in (output, options.audio_from, *options.provenance.get("inputs", {}).values()):
        _check_recordable(recorded)
    paths = list_images(frames_dir)
    if not paths:
        raise InputError(frames_dir, "holds no frames to encode")
    c2pa = _c2pa_wanted(options.c2pa, output)
    fps = options.fps
    if fps is None:
        fps = probe(options.audio_from).fps_fraction if options.audio_from is not None else Fraction(25)
    tags = container_metadata()
    mask_output = None
    total = len(paths) * (2 if options.mask_dir is not None else 1)
    with VideoWriter(output, fps, crf=options.crf, lossless=options.lossless, audio_from=options.audio_from,
                     metadata=tags, overwrite=options.overwrite) as writer:
        for index, path in enumerate(paths, start=1):
            writer.write(mark_frame(read_image(path), visible=options.visible_label))
            if on_progress is not None:
                on_progress(index, total)
        has_audio = writer.has_audio
    if options.mask_dir is not None:
        mask_paths = list_images(options.mask_dir)
        if len(mask_paths) != len(paths):
            raise InputError(options.mask_dir, f"holds {len(mask_paths)} mask frames for {len(paths)} frames")
        mask_output = mask_output_path(output)
        with VideoWriter(mask_output, fps, crf=options.crf, lossless=options.lossless, metadata=tags,
                         overwrite=options.overwrite) as writer:
            for index, path in enumerate(mask_paths, start=1):
                writer.write(mark_frame(read_image(path)))
                if on_progress is not None:
                    on_progress(len(paths) + index, total)
    if c2pa:
        contentcred.embed_manifest(output)
    extra = dict(options.provenance)
    inputs = {role: Path(p) for role, p in extra.pop("inputs", {}).items()}
    if options.audio_from is not None:
        inputs.setdefault("dst", Path(options.audio_from))
    sidecar = write_sidecar(output, inputs, extra.get("model", {}), extra.get("settings", {}),
                            visible_label=options.visible_label)
    log.info("encoded %d frames at %s fps → %s (provenance %s)", len(paths), fps, output, sidecar)
    return EncodeSummary(output, len(paths), float(fps), has_audio, mask_output, sidecar, c2pa)


def _c2pa_wanted(asked: bool | None, output: Path) -> bool:
    """Whether to sign a C2PA manifest; raises OptionError when asked for and impossible."""
    video_types = {".mp4", ".mov", ".m4v"}
    if asked is None:
        return contentcred.available() and output.suffix.lower() in video_types
    if asked and not contentcred.available():
        raise OptionError(f"--c2pa needs c2pa-python: pip install '{DISTRIBUTION}[c2pa]'")
    if asked and output.suffix.lower() not in video_types:
        raise OptionError(f"--c2pa: {output.suffix} files cannot carry a C2PA manifest; use .mp4 or .mov")
    return asked
