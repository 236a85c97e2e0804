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
  its mask video (:class:`recast.pipeline.encode.ResultWriter`: container tags, watermark,
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recast.atomic import atomic_write_text
from recast.errors import OptionError
from recast.media.images import list_images
from recast.merge.blend import SwapModel
from recast.merge.engine import EngineCounts, FrameCounts, MergeInputs, every_settings, open_inputs, run_engine
from recast.merge.settings import MergeSession, MergeSettings
from recast.merge.sinks import PngSink, VideoSink
from recast.merge.xsegmask import XSegMasker
from recast.paths import check_outputs_not_inputs
from recast.pipeline.encode import EncodeOptions, EncodeSummary, ResultWriter, check_result_path, mask_output_path
from recast.provenance.label import write_sidecar

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
    batch_size: int = 8,
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
            ``.dfm`` / ``.onnx`` face model (``recast.export.onnx_swapper.OnnxFaceSwapper``), or
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
    started = time.perf_counter()
    session = settings if settings is not None else MergeSettings()
    frames, aligned, out_dir = Path(frames), Path(aligned), Path(out_dir)
    mask_dir = Path(mask_out_dir) if mask_out_dir is not None else out_dir.with_name(out_dir.name + "_mask")
    _check_folders(frames, aligned, out_dir, mask_dir)
    inputs = open_inputs(model_dir, frames, aligned, session, device, precision, xseg=xseg, enhance=enhance)
    force = _check_record(out_dir, mask_dir, session, force, redo_changed, inputs.weights_sha256, inputs.xseg_sha256)
    counts = run_engine(inputs, session, PngSink(out_dir, mask_dir, force), workers=workers,
                        batch_size=batch_size, export_dir=export_dir, on_progress=on_progress)
    _finish_record(out_dir)
    provenance = _provenance(model_dir, "dst_frames", frames, aligned, inputs, session, xseg, enhance)
    write_sidecar(out_dir, provenance["inputs"], provenance["model"], provenance["settings"])
    return _summary(counts, inputs, started, out_dir, mask_dir)


def merge_to_video(
    model_dir: str | Path | SwapModel,
    frames: str | Path,
    aligned: str | Path,
    output: str | Path,
    settings: MergeSettings | MergeSession | None = None,
    options: EncodeOptions | None = None,
    *,
    workers: int | None = None,
    batch_size: int = 8,
    export_dir: str | Path | None = None,
    device: str = "cpu",
    precision: str = "auto",
    xseg: str | Path | XSegMasker | None = None,
    enhance: str | Path | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> MergeSummary:
    """Merge a trained model's faces into every destination frame, straight into the result video.

    Writes ``output``, ``<stem>_mask<suffix>`` and ``<output>.provenance.json``, labelled exactly
    as :func:`recast.pipeline.encode.encode_video` labels them; no frame is written to disk.

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
    started = time.perf_counter()
    session = settings if settings is not None else MergeSettings()
    frames, aligned, output = Path(frames), Path(aligned), Path(output)
    _refuse_raw_predict(session)
    options = options or EncodeOptions()
    if options.audio_from is None and frames.is_file():
        options = dataclasses.replace(options, audio_from=frames)
    protected = [frames, aligned, *([Path(model_dir)] if isinstance(model_dir, (str, Path)) else []),
                 *([Path(enhance)] if enhance is not None else [])]
    check_result_path(output, options, with_mask=True, inputs=protected)
    inputs = open_inputs(model_dir, frames, aligned, session, device, precision, xseg=xseg, enhance=enhance)
    if options.fps is None and frames.is_file():
        from recast.media.video import probe

        options = dataclasses.replace(options, fps=probe(frames).fps_fraction)
    role = "dst" if frames.is_file() else "dst_frames"
    base = _provenance(model_dir, role, frames, aligned, inputs, session, xseg, enhance)
    provenance = {**base, **options.provenance,
                  "model": {**base["model"], **options.provenance.get("model", {})}}  # keeps the weights hash
    options = dataclasses.replace(options, provenance=provenance)
    with ResultWriter(output, options, with_mask=True, inputs=protected) as writer:
        with VideoSink(writer) as sink:
            counts = run_engine(inputs, session, sink, workers=workers, batch_size=batch_size,
                                export_dir=export_dir, on_progress=on_progress)
        encoded = writer.close()
    summary = _summary(counts, inputs, started, output, mask_output_path(output))
    summary.video = encoded
    return summary


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
