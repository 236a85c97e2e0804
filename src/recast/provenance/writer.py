"""The encode stage: merged frames (+ mask frames) → a labelled result video (+ mask video).

Every video written here is labelled as synthetic media: container tags, the invisible watermark
in every frame, a ``<result>.provenance.json`` sidecar, and (with c2pa-python, for .mp4/.mov) a
signed C2PA manifest.
:class:`ResultWriter` does the labelling; :func:`encode_video` feeds it a folder of frames, and
:func:`recast.merge.stage.merge_to_video` feeds it merged frames as they come out of the merger.

>>> encode_video("ws/data_dst/merged", "ws/result.mp4", audio_from="ws/data_dst.mp4")
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

import numpy as np

from recast import DISTRIBUTION
from recast.errors import InputError, OptionError
from recast.media.images import list_images, read_image
from recast.media.video import probe
from recast.media.video_encode import VideoWriter
from recast.options import option, validate
from recast.paths import check_outputs_not_inputs
from recast.provenance import contentcred
from recast.provenance.label import container_metadata, mark_frame, sidecar_path, write_sidecar

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi")
"""Result file names the encoder writes (H.264 MP4/MKV, ProRes MOV, MJPEG AVI)."""

_VIDEO = "Video output"

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


@dataclass
class EncodeOptions:
    """Options of :func:`encode_video` and :class:`ResultWriter`.

    Attributes:
        fps: frame rate; None = the ``audio_from`` video's rate (25 when there is none).
        audio_from: file whose audio track is copied in (normally the destination video).
        mask_dir: mask frames to encode as ``<result stem>_mask<suffix>`` (None = none); only
            :func:`encode_video` reads it.
        crf: H.264 quality (lower = better); ignored for lossless, ProRes and MJPEG.
        lossless: lossless H.264 (mp4) or FFV1 (mkv).
        preset: x264 speed preset for H.264. ``veryfast`` (the default, as FaceFusion's) encodes 720p
            about 2.5× faster than ``medium`` and lets merging stream at 22 frames/s on 2 cores
            (``benchmarks/merge.py --end-to-end``); ``medium`` gives a little more quality per bit.
        visible_label: also burn a small "SYNTHETIC" label into a corner of every frame.
        overwrite: replace an existing result.
        provenance: extra sidecar content: ``inputs`` (role → path), ``model`` and ``settings`` dicts.
        c2pa: also sign a C2PA manifest into the result (:mod:`recast.provenance.contentcred`); None
            = when ``c2pa-python`` is installed and the container can carry one (.mp4, .mov).
    """

    fps: float | Fraction | None = None
    audio_from: Path | None = None
    mask_dir: Path | None = None
    OPTIONS_NOUN: ClassVar[str] = "video option"
    OPTIONS_LABEL: ClassVar[str] = "{flag}"

    crf: int = option(18, "H.264 quality (lower is better)", ge=0, le=51, group=_VIDEO)
    lossless: bool = option(False, "Lossless H.264 (.mp4) or FFV1 (.mkv)", group=_VIDEO)
    preset: str = option("veryfast", "x264 preset (medium: ~2.5x slower, a little more quality per bit)",
                         choices=X264_PRESETS, group=_VIDEO)
    visible_label: bool = option(False, "Also burn a visible 'SYNTHETIC' label into a corner", group=_VIDEO)
    overwrite: bool = False
    provenance: dict[str, Any] = field(default_factory=dict)
    c2pa: bool | None = None


@dataclass
class EncodeSummary:
    """What :func:`encode_video` or :class:`ResultWriter` wrote."""

    output: Path
    frames: int
    fps: float
    has_audio: bool
    mask_output: Path | None
    sidecar: Path
    c2pa: bool = False


def mask_output_path(output: Path) -> Path:
    """``result.mp4`` → ``result_mask.mp4``."""
    return output.with_name(f"{output.stem}_mask{output.suffix}")


def result_files(output: Path) -> list[Path]:
    """The files a labelled result is made of: the video, its mask video and its provenance sidecar."""
    return [Path(output), mask_output_path(Path(output)), sidecar_path(Path(output))]


def is_video_path(path: str | Path) -> bool:
    """Whether ``path`` names a result video (by its suffix, see :data:`VIDEO_SUFFIXES`), not a folder."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


class ResultWriter:
    """A labelled result video (+ its mask video), written frame by frame.

    Labels: the container tags of :func:`recast.provenance.label.container_metadata`, the
    invisible watermark (and the optional visible label) in every frame by :meth:`label`, and
    the provenance sidecar written by :meth:`close` (inputs from ``options.provenance["inputs"]``
    plus ``dst`` = ``options.audio_from``). Both videos go to hidden temporary files that
    :meth:`close` renames into place (the mask video first, the result last, then the sidecar);
    :meth:`abort`, or leaving the ``with`` block by an exception, leaves neither behind and an
    existing result untouched. Leaving the ``with`` block normally closes the writer; its
    summary is then :attr:`summary`.

    Args:
        output: the result video (``.mp4``, ``.mov``, ``.mkv`` or ``.avi``).
        options: encoding options (``mask_dir`` is not used here).
        with_mask: also write ``<stem>_mask<suffix>`` from the masks given to :meth:`write`.
        inputs: files and folders the result is made from, besides ``audio_from`` and the
            provenance inputs; the result, mask video and sidecar may not replace any of them.

    Raises:
        OptionError: a result path that is not a video name, or one that would replace an input.
        InputError: an existing result without ``overwrite``; an unreadable ``audio_from``.
    """

    def __init__(self, output: str | Path, options: EncodeOptions, *, with_mask: bool,
                 inputs: Iterable[Path] = ()) -> None:
        self.output = Path(output)
        self.options = options
        self.mask_output = mask_output_path(self.output) if with_mask else None
        check_result_path(self.output, options, with_mask=with_mask, inputs=inputs)
        self.c2pa = _c2pa_wanted(options.c2pa, self.output)
        fps = options.fps
        if fps is None:
            fps = probe(options.audio_from).fps_fraction if options.audio_from is not None else Fraction(25)
        self.fps = fps
        self.summary: EncodeSummary | None = None
        common: dict[str, Any] = {"crf": options.crf, "lossless": options.lossless, "preset": options.preset,
                  "metadata": container_metadata(), "overwrite": options.overwrite}
        self._result = VideoWriter(self.output, fps, audio_from=options.audio_from, **common)
        self._mask: VideoWriter | None = None
        if self.mask_output is not None:
            try:
                self._mask = VideoWriter(self.mask_output, fps, **common)
            except BaseException:
                self._result.abort()
                raise

    def label(self, frame: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Label one frame and its mask for :meth:`write` (safe to call from several threads).

        Args:
            frame: ``(H, W, 3)`` uint8 BGR result frame.
            mask: ``(H, W, 3)`` uint8 BGR (grey) mask frame, or None.

        Returns:
            New arrays: the frame with the optional visible label and the invisible watermark,
            the mask with the watermark (None if no mask was given).
        """
        marked = mark_frame(frame, visible=self.options.visible_label)
        return marked, (mark_frame(mask) if mask is not None else None)

    def write(self, frame: np.ndarray, mask: np.ndarray | None = None) -> None:
        """Append one frame (and its mask, required when writing a mask video), labelled by :meth:`label`."""
        self._result.write(frame)
        if self._mask is not None:
            if mask is None:
                raise ValueError("this ResultWriter writes a mask video: every frame needs its mask")
            self._mask.write(mask)

    @property
    def frames_written(self) -> int:
        """Frames written so far."""
        return self._result.frames_written

    def close(self) -> EncodeSummary:
        """Finish both videos, move them into place, and write the provenance sidecar.

        Raises:
            InputError: no frame was written, or an input to record has gone.
        """
        if self.summary is not None:
            return self.summary
        try:
            if self._mask is not None:
                self._mask.close()
        except BaseException:
            self._result.abort()
            raise
        try:
            self._result.close()
            sidecar = self._label()
        except BaseException:  # a result without its labels (disk full, a vanished input) must not stay
            for path in (self.output, self.mask_output):
                if path is not None:
                    path.unlink(missing_ok=True)
            raise
        self.summary = EncodeSummary(self.output, self._result.frames_written, float(self.fps),
                                     self._result.has_audio, self.mask_output, sidecar, self.c2pa)
        log.info("encoded %d frames at %s fps → %s (provenance %s)", self.summary.frames, self.fps, self.output,
                 sidecar)
        return self.summary

    def _label(self) -> Path:
        """Embed the C2PA manifest (when asked for) and write the provenance sidecar; returns its path."""
        if self.c2pa:
            contentcred.embed_manifest(self.output)
        extra = dict(self.options.provenance)
        inputs = {role: Path(p) for role, p in extra.pop("inputs", {}).items()}
        if self.options.audio_from is not None:
            inputs.setdefault("dst", Path(self.options.audio_from))
        return write_sidecar(self.output, inputs, extra.get("model", {}), extra.get("settings", {}),
                             visible_label=self.options.visible_label)

    def abort(self) -> None:
        """Stop without producing the result or the mask video."""
        self._result.abort()
        if self._mask is not None:
            self._mask.abort()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()


def encode_video(
    frames_dir: str | Path, output: str | Path, options: EncodeOptions | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> EncodeSummary:
    """Encode a folder of frames (``00001.png`` …) into a labelled video (see :class:`ResultWriter`).

    Raises:
        InputError: no frames, an unreadable frame, a mask folder with another frame count, an
            unreadable ``audio_from``, an existing output without ``overwrite``, or an output that
            would replace an input.
        OptionError: an output that would be written inside an input folder.
    """
    options = options or EncodeOptions()
    frames_dir, output = Path(frames_dir), Path(output)
    if not frames_dir.is_dir():
        raise InputError(frames_dir, "not a folder of frames")
    paths = list_images(frames_dir)
    if not paths:
        raise InputError(frames_dir, "holds no frames to encode")
    mask_paths: list[Path | None] = [None] * len(paths)
    if options.mask_dir is not None:
        mask_paths = list(list_images(options.mask_dir))
        if len(mask_paths) != len(paths):
            raise InputError(options.mask_dir, f"holds {len(mask_paths)} mask frames for {len(paths)} frames")
    inputs = [frames_dir, *([options.mask_dir] if options.mask_dir is not None else [])]
    with ResultWriter(output, options, with_mask=options.mask_dir is not None, inputs=inputs) as writer:
        for index, (path, mask_path) in enumerate(zip(paths, mask_paths, strict=True), start=1):
            mask = read_image(mask_path) if mask_path is not None else None
            writer.write(*writer.label(read_image(path), mask))
            if on_progress is not None:
                on_progress(index, len(paths))
        return writer.close()


def check_result_path(output: Path, options: EncodeOptions, *, with_mask: bool, inputs: Iterable[Path] = ()) -> None:
    """Check, before any work, that :class:`ResultWriter` may write ``output`` (same arguments).

    Raises:
        OptionError: not a video name, a folder, or the result, mask video or sidecar would be
            written inside one of ``inputs``, ``options.audio_from`` or the provenance inputs; an
            unknown x264 preset; C2PA asked for and impossible.
        InputError: the result, mask video or sidecar would replace an input; the result or its
            mask video exists and not ``options.overwrite``; a path the UTF-8 sidecar cannot record.
    """
    validate(options)
    provenance_inputs = [Path(p) for p in options.provenance.get("inputs", {}).values()]
    audio = [Path(options.audio_from)] if options.audio_from is not None else []
    mask_output = mask_output_path(output) if with_mask else None
    _check_outputs(output, mask_output, [*inputs, *audio, *provenance_inputs])
    for recorded in (output, *audio, *provenance_inputs):
        _check_recordable(recorded)
    _c2pa_wanted(options.c2pa, output)
    if not options.overwrite:
        for target in (output, mask_output):
            if target is not None and target.exists():
                raise InputError(target, "already exists; pass --force to replace it")


def _check_outputs(output: Path, mask_output: Path | None, inputs: list[Path]) -> None:
    """Refuse a result name that is not a video, or outputs that would replace or sit inside an input."""
    if not is_video_path(output):
        raise OptionError(f"the result {output} needs a video name ending in {', '.join(VIDEO_SUFFIXES)}")
    if output.is_dir():
        raise OptionError(f"the result {output} is a folder; name a video file")
    outputs = [output, *([mask_output] if mask_output is not None else []), sidecar_path(output)]
    check_outputs_not_inputs(outputs, inputs)
    resolved = [p.resolve() for p in inputs]
    for target in outputs:
        path = target.resolve()
        for source in resolved:
            if source in path.parents:
                raise OptionError(f"the output {target} would write into the input {source}; "
                                  "choose another output name")


def _check_recordable(path: Path) -> None:
    """Refuse, before writing anything, a path the UTF-8 provenance sidecar could not record."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(path, "the name is not valid UTF-8, so the provenance sidecar cannot record it; "
                               "rename it") from None


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
