"""The merge stage: model + destination frames + destination faceset → merged frames, or the result video.

Both entry points run the same per-frame pipeline (:mod:`recast.merge.engine`) and differ only in
where the frames go (:mod:`recast.merge.sinks`):

* :func:`merge` writes ``out_dir/<frame stem>.png`` and ``mask_dir/<frame stem>.png`` (8-bit
  grey), atomically, for users who edit frames before ``recast video``. A run can be interrupted
  and resumed: frames already written are skipped unless ``force``. The weights (sha256 of the
  checkpoint file) and settings used are recorded in ``out_dir/.recast-merge.json``; resuming
  with other weights or settings is refused unless ``force`` (or redone in full with
  ``redo_changed``), so frames of other weights are never reused.
* :func:`merge_to_video` streams the merged frames straight into the labelled result video and
  its mask video (:class:`recast.provenance.writer.ResultWriter`: container tags, watermark,
  destination audio, provenance sidecar), with no PNG written or re-read. It cannot resume: an
  interrupted run leaves no result (nor changes an existing one) and a new run starts over.

Example:
    >>> summary = merge("model/", "data_dst/", "data_dst/aligned", "data_dst/merged",
    ...                 MergeSettings(mode="overlay", color="rct", erode=20, blur=40))
    >>> summary = merge_to_video("model/", "data_dst.mp4", "data_dst/aligned", "result.mp4")
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recast.atomic import atomic_write_text, remove_stale_temp_files_of
from recast.errors import InputError, OptionError
from recast.faceset.files import PACK_NAME
from recast.faceset.journal import JOURNAL_NAME, Journal
from recast.media.images import list_images
from recast.merge.engine import (
    EngineCounts,
    FrameCounts,
    FrameSink,
    MergeInputs,
    every_settings,
    open_inputs,
    run_engine,
)
from recast.merge.settings import MergeSession, MergeSettings
from recast.merge.sinks import PngSink, VideoSink
from recast.merge.xsegmask import XSegMasker
from recast.models.checkpoint import CONFIG_FILE
from recast.models.swapmodel import SwapModel
from recast.paths import check_outputs_not_inputs
from recast.provenance.label import write_sidecar
from recast.provenance.writer import EncodeOptions, EncodeSummary, ResultWriter, check_result_path, mask_output_path
from recast.runtime.options import ComputeOptions

log = logging.getLogger(__name__)

RECORD_NAME = ".recast-merge.json"


@dataclass
class MergeSummary(FrameCounts):
    """What :func:`merge` or :func:`merge_to_video` did.

    Attributes:
        frames_total: frames in the destination sequence.
        frames_merged: frames written this run with at least one face merged.
        frames_passed_through: frames written this run unchanged because they show no face.
        frames_masked_out: frames written unchanged although they show faces, because every face's
            mask was empty (eroded to nothing, or a mask mode that found no face pixels).
        frames_skipped: frames already written by an earlier run (resume; folders only).
        faces_merged: faces merged this run.
        faces_masked_out: faces not merged because their mask was empty.
        faces_unmatched: aligned faces whose source frame is not in the sequence.
        seconds: wall time of the run (for a video: merging and encoding).
        out_dir: merged frames folder, or the result video.
        mask_dir: mask frames folder, or the mask video.
        precision: the model's precision and why it was chosen (empty for models without one).
        weights_sha256: sha256 of the checkpoint weights the frames were merged with (None for a
            model passed in memory).
        video: what the encoder wrote (:func:`merge_to_video` only).
    """

    frames_total: int = 0
    faces_unmatched: int = 0
    seconds: float = 0.0
    out_dir: Path = field(default_factory=Path)
    mask_dir: Path = field(default_factory=Path)
    precision: str = ""
    weights_sha256: str | None = None
    video: EncodeSummary | None = None


def merge(
    model_dir: str | Path | SwapModel,
    frames: str | Path,
    aligned: str | Path,
    out_dir: str | Path,
    settings: MergeSettings | MergeSession | None = None,
    mask_out_dir: str | Path | None = None,
    *,
    workers: int | None = None,
    batch_size: int = ComputeOptions.batch_size,
    force: bool = False,
    redo_changed: bool = False,
    export_dir: str | Path | None = None,
    device: str = "cpu",
    precision: str = "auto",
    xseg: str | Path | XSegMasker | None = None,
    enhance: str | Path | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> MergeSummary:
    """Merge a trained model's faces into every destination frame, writing PNG frames and masks.

    Args:
        model_dir: trained model folder (loaded with ``recast.models.inference.FaceSwapper``), a
            ``.dfm`` / ``.onnx`` face model (``recast.models.onnx_swapper.OnnxFaceSwapper``), or
            an already loaded model (anything with ``resolution``, ``face_type``,
            ``has_learned_mask`` and ``swap``).
        frames: folder of destination frames, or the destination video file (its frames are
            named ``00001.png`` … like extraction names them).
        aligned: folder of the destination's aligned faces (their metadata locates the faces).
        out_dir: folder for the merged frames.
        settings: one :class:`MergeSettings` for all frames, or a :class:`MergeSession` with
            keyframes (frame numbers count from 1 in name order); default settings if None.
        mask_out_dir: folder for the mask frames; default ``<out_dir>_mask`` beside ``out_dir``.
        workers: threads for reading, blending and writing (the model runs in the caller's thread);
            None = the thread plan's I/O threads (:mod:`recast.runtime.threads`).
        batch_size: frames per model batch.
        force: redo frames already written (and accept a change of weights or settings).
        redo_changed: when the output folder was merged with other weights or settings, redo every
            frame instead of refusing; otherwise resume (``recast run`` re-merges after more training).
        export_dir: if set, also write every merged face as RGBA layers + placement JSON there
            (see :mod:`recast.merge.export`).
        device: torch device for the model when ``model_dir`` is a path.
        precision: ``auto`` (bf16 where the hardware has it), ``fp32``, ``bf16`` or ``fp16``
            (CUDA); see :mod:`recast.runtime.precision`.
        xseg: XSeg mask model folder (or a loaded one) for the ``xseg-*`` mask modes.
        enhance: an enhancer folder (:mod:`recast.models.enhancer`, trained by ``recast train-enhancer``):
            faces are cut at its size, swapped at the model's and enhanced back to its size.
        on_progress: called with ``(frames done, frames total or None)``.

    Raises:
        InputError, MetadataError: missing or broken inputs. OptionError: bad settings, a mask
        mode the model cannot serve, or a model face type wider than the faceset's.
    """
    out_dir = Path(out_dir)
    mask_dir = Path(mask_out_dir) if mask_out_dir is not None else out_dir.with_name(out_dir.name + "_mask")
    return _merge(_ToFolders(out_dir, mask_dir, force, redo_changed), model_dir, Path(frames), Path(aligned),
                  settings, workers=workers, batch_size=batch_size, export_dir=export_dir, device=device,
                  precision=precision, xseg=xseg, enhance=enhance, on_progress=on_progress)


def merge_to_video(
    model_dir: str | Path | SwapModel,
    frames: str | Path,
    aligned: str | Path,
    output: str | Path,
    settings: MergeSettings | MergeSession | None = None,
    options: EncodeOptions | None = None,
    *,
    workers: int | None = None,
    batch_size: int = ComputeOptions.batch_size,
    export_dir: str | Path | None = None,
    device: str = "cpu",
    precision: str = "auto",
    xseg: str | Path | XSegMasker | None = None,
    enhance: str | Path | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> MergeSummary:
    """Merge a trained model's faces into every destination frame, straight into the result video.

    Writes ``output``, ``<stem>_mask<suffix>`` and ``<output>.provenance.json``, labelled exactly
    as :func:`recast.provenance.writer.encode_video` labels them; no frame is written to disk.

    Args:
        model_dir, frames, aligned, settings, workers, batch_size, export_dir, device, precision, xseg,
            enhance, on_progress: as for :func:`merge` (``raw-predict`` mode is refused: it makes face
            images, not frames).
        output: the result video (``.mp4``, ``.m4v``, ``.mov``, ``.mkv`` or ``.avi``).
        options: encoding. Defaults filled in here: ``fps`` = the destination video's rate
            (folders: that of ``audio_from``, else 25); ``audio_from`` = the destination video;
            ``provenance`` keys not given = the destination (``dst`` for a video, ``dst_frames``
            for a folder), ``dst_aligned`` and ``model`` inputs, and the settings; the model's
            name, resolution, face type and weights hash are merged under a given ``model``
            entry. ``options.overwrite`` replaces an existing result;
            ``options.mask_dir`` is not used.

    Raises:
        InputError, MetadataError: missing or broken inputs, or an existing result without
        ``overwrite``. OptionError: as for :func:`merge`, ``raw-predict`` mode, or an output that
        is not a video name or would replace an input.
    """
    return _merge(_ToVideo(Path(output), options or EncodeOptions()), model_dir, Path(frames), Path(aligned),
                  settings, workers=workers, batch_size=batch_size, export_dir=export_dir, device=device,
                  precision=precision, xseg=xseg, enhance=enhance, on_progress=on_progress)


def _merge(
    target: _ToFolders | _ToVideo, model_dir: str | Path | SwapModel, frames: Path, aligned: Path,
    settings: MergeSettings | MergeSession | None, *, workers: int | None, batch_size: int,
    export_dir: str | Path | None, device: str, precision: str, xseg: str | Path | XSegMasker | None,
    enhance: str | Path | None, on_progress: Callable[[int, int | None], None] | None,
) -> MergeSummary:
    """The body of :func:`merge` and :func:`merge_to_video`, which differ only in ``target``: where the frames
    go, what it refuses before the model loads (``check``), the sink the engine feeds (``sink``) and how the
    finished run is recorded (``finish``: the video's :class:`EncodeSummary`, or None)."""
    started = time.perf_counter()
    session = settings if settings is not None else MergeSettings()
    target.check(model_dir, frames, aligned, session, enhance)
    _check_export_dir(export_dir, target, model_dir, frames, aligned, xseg, enhance)
    _check_dst_faceset(aligned)
    if isinstance(model_dir, (str, Path)) and (Path(model_dir) / CONFIG_FILE).is_file():
        from recast.models.memory_probe import check_saved_inference

        check_saved_inference(Path(model_dir), batch_size, device)
    inputs = open_inputs(model_dir, frames, aligned, session, device, precision, xseg=xseg, enhance=enhance)
    provenance = _provenance(model_dir, target.frames_role(frames), frames, aligned, inputs, session, xseg, enhance)
    with target.sink(frames, inputs, session, provenance) as sink:
        counts = run_engine(inputs, session, sink, workers=workers, batch_size=batch_size, export_dir=export_dir,
                            on_progress=on_progress)
    summary = _summary(counts, inputs, started, target.out, target.mask)
    summary.video = target.finish(provenance)
    return summary


class _ToFolders:
    """PNG frames and masks in two folders, resumable (the weights and settings recorded beside them)."""

    def __init__(self, out_dir: Path, mask_dir: Path, force: bool, redo_changed: bool) -> None:
        self.out, self.mask, self.force, self.redo_changed = out_dir, mask_dir, force, redo_changed

    def check(self, model_dir: str | Path | SwapModel, frames: Path, aligned: Path,
              session: MergeSettings | MergeSession, enhance: str | Path | None) -> None:
        _check_folders(frames, aligned, self.out, self.mask)
        check_outputs_not_inputs([self.out, self.mask], [*([model_dir] if isinstance(model_dir, (str, Path)) else []),
                                                         *([enhance] if enhance is not None else [])])

    def frames_role(self, frames: Path) -> str:
        return "dst_frames"

    def sink(self, frames: Path, inputs: MergeInputs, session: MergeSettings | MergeSession,
             provenance: dict[str, Any]) -> AbstractContextManager[FrameSink]:
        force = _check_record(self.out, self.mask, session, self.force, self.redo_changed, inputs.weights_sha256,
                              inputs.xseg_sha256)
        return nullcontext(PngSink(self.out, self.mask, force))

    def finish(self, provenance: dict[str, Any]) -> EncodeSummary | None:
        _finish_record(self.out)
        write_sidecar(self.out, provenance["inputs"], provenance["model"], provenance["settings"])
        return None


class _ToVideo:
    """The labelled result video and its mask video, encoded as the frames come (no resume)."""

    def __init__(self, output: Path, options: EncodeOptions) -> None:
        self.out, self.mask, self.options = output, mask_output_path(output), options
        self.protected: list[Path] = []
        self.encoded: EncodeSummary | None = None

    def check(self, model_dir: str | Path | SwapModel, frames: Path, aligned: Path,
              session: MergeSettings | MergeSession, enhance: str | Path | None) -> None:
        _refuse_raw_predict(session)
        if self.options.audio_from is None and frames.is_file():
            self.options = dataclasses.replace(self.options, audio_from=frames)
        self.protected = [frames, aligned, *([Path(model_dir)] if isinstance(model_dir, (str, Path)) else []),
                          *([Path(enhance)] if enhance is not None else [])]
        check_result_path(self.out, self.options, with_mask=True, inputs=self.protected)
        for stale in (*remove_stale_temp_files_of(self.out), *remove_stale_temp_files_of(self.mask)):
            log.info("removed %s, left by a merge that was killed", stale)

    def frames_role(self, frames: Path) -> str:
        return "dst" if frames.is_file() else "dst_frames"

    @contextmanager
    def sink(self, frames: Path, inputs: MergeInputs, session: MergeSettings | MergeSession,
             provenance: dict[str, Any]) -> Iterator[FrameSink]:
        options = self.options
        if options.fps is None and frames.is_file():
            from recast.media.video import probe

            options = dataclasses.replace(options, fps=probe(frames).fps_fraction)
        given = options.provenance  # merged over the merge's own record, keeping its model's weights hash
        options = dataclasses.replace(options, provenance={
            **provenance, **given, "model": {**provenance["model"], **given.get("model", {})}})
        with ResultWriter(self.out, options, with_mask=True, inputs=self.protected) as writer:
            with VideoSink(writer) as sink:
                yield sink
            self.encoded = writer.close()

    def finish(self, provenance: dict[str, Any]) -> EncodeSummary | None:
        return self.encoded


def _summary(counts: EngineCounts, inputs: MergeInputs, started: float, out: Path, mask: Path) -> MergeSummary:
    done = counts.frames_merged + counts.frames_passed_through + counts.frames_masked_out + counts.frames_skipped
    precision = getattr(inputs.model, "precision", None)
    summary = MergeSummary(
        **{item.name: getattr(counts, item.name) for item in dataclasses.fields(FrameCounts)},
        frames_total=max(inputs.total or 0, done),
        faces_unmatched=sum(len(faces) for name, faces in inputs.by_frame.items() if name not in counts.matched),
        seconds=time.perf_counter() - started, out_dir=out, mask_dir=mask,
        precision=precision.describe() if precision is not None else "", weights_sha256=inputs.weights_sha256,
    )
    log.info("merged %d frames (%d faces), %d without a face, %d with empty masks, %d done before → %s",
             summary.frames_merged, summary.faces_merged, summary.frames_passed_through, summary.frames_masked_out,
             summary.frames_skipped, out)
    return summary


def _provenance(model_dir: str | Path | SwapModel, frames_role: str, frames: Path, aligned: Path,
                inputs: MergeInputs, session: MergeSettings | MergeSession,
                xseg: str | Path | XSegMasker | None = None, enhance: str | Path | None = None) -> dict[str, Any]:
    """Sidecar content of a merge: its inputs (role → path), the model's summary, the settings."""
    roles = {frames_role: frames, "dst_aligned": aligned}
    if isinstance(model_dir, (str, Path)):
        roles["model"] = Path(model_dir)
    if enhance is not None:
        roles["enhancer"] = Path(enhance)
    model = {"name": inputs.model_name, "resolution": inputs.model.resolution, "face_type": str(inputs.face_type),
             "weights_sha256": inputs.weights_sha256}
    if inputs.xseg is not None:
        model["xseg_weights_sha256"] = inputs.xseg_sha256
    if isinstance(xseg, (str, Path)):
        roles["xseg"] = Path(xseg)
    return {"inputs": roles, "model": model, "settings": session.to_dict()}


def _refuse_raw_predict(session: MergeSettings | MergeSession) -> None:
    if any(settings.mode == "raw-predict" for settings in every_settings(session)):
        raise OptionError("mode raw-predict writes face images, not frames: merge into a folder, not a video")


def _check_export_dir(export_dir: str | Path | None, target: _ToFolders | _ToVideo, model_dir: str | Path | SwapModel,
                      frames: Path, aligned: Path, xseg: str | Path | XSegMasker | None,
                      enhance: str | Path | None) -> None:
    """``--export-dir`` may be none of the merge's inputs (frames, faceset, model, masks) or other outputs."""
    if export_dir is None:
        return
    inputs = [frames, aligned, target.out, target.mask, *([enhance] if enhance is not None else []),
              *([model_dir] if isinstance(model_dir, (str, Path)) else []),
              *([xseg] if isinstance(xseg, (str, Path)) else [])]
    check_outputs_not_inputs([export_dir], inputs)


def _check_dst_faceset(aligned: Path) -> None:
    """Refuse a destination faceset merge cannot read; finish a sort that was killed in it.

    Raises:
        InputError: the faceset is packed (its faces are inside ``faceset.rfs``), or an
            interrupted sort cannot be rolled forward here.
    """
    if (aligned / PACK_NAME).exists():
        raise InputError(aligned, f"is a packed faceset ({PACK_NAME}): merge reads loose faces; run "
                                  f"`recast faceset unpack {aligned}` first")
    if not (aligned / JOURNAL_NAME).is_file():
        return
    journal = Journal(aligned)
    if journal.pending is None:
        return
    try:
        lost = journal.recover()
    except OSError as error:
        raise InputError(aligned, f"a sort was interrupted here and cannot be finished ({error.strerror or error}); "
                                  f"run `recast faceset sort {aligned}` where it can write, then merge") from None
    log.warning("%s: finished a sort that was interrupted%s", aligned,
                f"; {len(lost)} faces were not found" if lost else "")


def _check_folders(frames: Path, aligned: Path, out_dir: Path, mask_dir: Path) -> None:
    check_outputs_not_inputs([out_dir, mask_dir], [frames, aligned])
    if out_dir.resolve() == mask_dir.resolve():
        raise OptionError(f"the output and mask folders are the same ({out_dir}); choose two folders")


def _check_record(out_dir: Path, mask_dir: Path, session: MergeSettings | MergeSession, force: bool,
                  redo_changed: bool, weights: str | None, xseg_weights: str | None = None) -> bool:
    """Refuse to mix weights or settings in one output folder; record those used. Returns True when
    every frame must be (re)merged.

    ``weights`` is the sha256 of the checkpoint's weights file, so the same model folder trained
    further counts as other weights: frames made by other weights are never reused. With ``force``
    or ``redo_changed`` a change is accepted and every frame redone; until that redo finishes the
    record says ``pending_redo``, so an interrupted redo is redone again rather than resumed.
    """
    record = {"settings": session.to_dict(), "kind": type(session).__name__, "weights_sha256": weights}
    if xseg_weights is not None:
        record["xseg_weights_sha256"] = xseg_weights
    path = out_dir / RECORD_NAME
    if not path.is_file():
        if not force:
            for folder in (out_dir, mask_dir):
                if folder.is_dir() and list_images(folder):
                    raise OptionError(
                        f"{folder} already holds images not written by recast merge; choose an empty folder "
                        "or pass --force"
                    )
        atomic_write_text(path, json.dumps({**record, "pending_redo": True} if force else record, indent=2,
                                           sort_keys=True) + "\n")
        return force
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        previous = None
    if previous == record and not force:
        return False
    if previous != {**record, "pending_redo": True} and not (force or redo_changed):
        if not isinstance(previous, dict) or previous.get("weights_sha256") != weights:
            raise OptionError(
                f"{out_dir} holds frames merged with other model weights (another model, or this one before "
                "more training); pass --force to redo every frame, or choose another output folder"
            )
        raise OptionError(
            f"{out_dir} holds frames merged with other settings; pass --force to redo every frame "
            "with the new settings, or choose another output folder"
        )
    atomic_write_text(path, json.dumps({**record, "pending_redo": True}, indent=2, sort_keys=True) + "\n")
    return True


def _finish_record(out_dir: Path) -> None:
    """Every frame now matches the record: drop its ``pending_redo`` mark."""
    path = out_dir / RECORD_NAME
    record = json.loads(path.read_text(encoding="utf-8"))
    if record.pop("pending_redo", False):
        atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
