"""The merge stage: model + destination frames + destination faceset → merged frames and masks.

For every destination frame, its faces are found through the aligned faces' metadata (source
frame name and landmarks; there is no re-detection), cut out at the model's resolution and face
type, swapped by the model in batches, and blended back (:mod:`recast.merge.blend`). Frames
without faces are copied through with an empty mask.

Output: ``out_dir/<frame stem>.png`` and ``mask_dir/<frame stem>.png`` (8-bit grey), written
atomically. A run can be interrupted and resumed: frames already written are skipped unless
``force``. The settings used are recorded in ``out_dir/.recast-merge.json``; resuming with other
settings is refused unless ``force``.

Example:
    >>> summary = merge("model/", "data_dst/", "data_dst/aligned", "data_dst/merged",
    ...                 MergeSettings(mode="overlay", color="rct", erode=20, blur=40))
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from recast.atomic import atomic_write_bytes, atomic_write_text
from recast.errors import InputError, OptionError
from recast.faces.aligned import is_face_file, read_meta
from recast.faces.facetype import FaceType, parse_face_type
from recast.faces.metadata import FaceMeta
from recast.media.images import FAST_PNG_PARAMS, list_images, read_image
from recast.merge.blend import FaceCrop, Prediction, SwapModel, crop_face, face_center, merge_frame, predict
from recast.merge.export import export_patch
from recast.merge.maskops import check_mask_mode, needs_learned_mask
from recast.merge.settings import MergeSession, MergeSettings, settings_for_frame
from recast.provenance.label import mark_frame, write_sidecar
from recast.runtime.threads import plan_threads

RECORD_NAME = ".recast-merge.json"


@dataclass
class MergeSummary:
    """What :func:`merge` did.

    Attributes:
        frames_total: frames in the destination sequence.
        frames_merged: frames written this run with at least one face merged.
        frames_passed_through: frames written this run unchanged (no face).
        frames_skipped: frames already written by an earlier run (resume).
        faces_merged: faces merged this run.
        faces_unmatched: aligned faces whose source frame is not in the sequence.
        seconds: wall time of the run.
        out_dir: merged frames folder; mask_dir: mask frames folder.
        precision: the model's precision and why it was chosen (empty for models without one).
    """

    frames_total: int = 0
    frames_merged: int = 0
    frames_passed_through: int = 0
    frames_skipped: int = 0
    faces_merged: int = 0
    faces_unmatched: int = 0
    seconds: float = 0.0
    out_dir: Path = field(default_factory=Path)
    mask_dir: Path = field(default_factory=Path)
    precision: str = ""


@dataclass
class _Job:
    """One destination frame on its way through the pipeline."""

    number: int
    name: str
    load: Callable[[], np.ndarray]
    source_path: Path | None
    faces: list[FaceMeta]
    settings: MergeSettings
    motion: tuple[float, float] | None = None
    frame: np.ndarray | None = None
    crops: list[FaceCrop] = field(default_factory=list)
    predictions: list[Prediction] = field(default_factory=list)


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
    export_dir: str | Path | None = None,
    device: str = "cpu",
    precision: str = "auto",
    on_progress: Callable[[int, int | None], None] | None = None,
) -> MergeSummary:
    """Merge a trained model's faces into every destination frame.

    Args:
        model_dir: trained model folder (loaded with ``recast.train.inference.FaceSwapper``), a
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
        force: redo frames already written (and accept a change of settings).
        export_dir: if set, also write every merged face as RGBA layers + placement JSON there
            (see :mod:`recast.merge.export`).
        device: torch device for the model when ``model_dir`` is a path.
        precision: ``auto`` (bf16 where the hardware has it), ``fp32``, ``bf16`` or ``fp16``
            (CUDA); see :mod:`recast.runtime.precision`.
        on_progress: called with ``(frames done, frames total or None)``.

    Raises:
        InputError, MetadataError: missing or broken inputs. OptionError: bad settings, a mask
        mode the model cannot serve, or a model face type wider than the faceset's.
    """
    started = time.perf_counter()
    session = settings if settings is not None else MergeSettings()
    out_dir = Path(out_dir)
    mask_dir = Path(mask_out_dir) if mask_out_dir is not None else out_dir.with_name(out_dir.name + "_mask")
    _check_folders(Path(frames), Path(aligned), out_dir, mask_dir)
    model, model_name = _load_model(model_dir, device, precision)
    model_face_type = parse_face_type(model.face_type)
    _check_settings(session, model, model_name)
    by_frame = _read_faces(Path(aligned), model_face_type, model_name)
    names, loaders, total = _frame_source(Path(frames))
    _check_record(out_dir, mask_dir, session, force)

    precision_choice = getattr(model, "precision", None)
    summary = MergeSummary(frames_total=total or 0, out_dir=out_dir, mask_dir=mask_dir,
                           precision=precision_choice.describe() if precision_choice is not None else "")
    matched: set[str] = set()
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, workers or plan_threads().io_threads)) as pool:
        pending: list[Future[int]] = []

        def finish(limit: int) -> None:
            nonlocal done
            while len(pending) > limit:
                faces = pending.pop(0).result()
                if faces:
                    summary.frames_merged += 1
                    summary.faces_merged += faces
                else:
                    summary.frames_passed_through += 1
                done += 1
                if on_progress is not None:
                    on_progress(done + summary.frames_skipped, total)

        def run(chunk: list[Future[_Job]]) -> None:
            prepared = [future.result() for future in chunk]
            _predict_chunk(model, prepared, batch_size)
            pending.extend(pool.submit(_finish, job, out_dir, mask_dir, export_dir) for job in prepared)
            finish(batch_size)

        # Pipeline: chunk k+1 is read and cropped while chunk k is predicted and k-1 is written.
        previous: list[Future[_Job]] | None = None
        jobs = _jobs(loaders, by_frame, session, out_dir, mask_dir, force, matched, summary)
        for chunk in _chunks(jobs, batch_size):
            for job in chunk:
                _set_motion(job, by_frame, names)
            current = [pool.submit(_prepare, job, model) for job in chunk]
            if previous is not None:
                run(previous)
            previous = current
        if previous is not None:
            run(previous)
        finish(0)
    summary.frames_total = max(summary.frames_total, done + summary.frames_skipped)
    if on_progress is not None:
        on_progress(done + summary.frames_skipped, summary.frames_total)
    summary.faces_unmatched = sum(len(faces) for name, faces in by_frame.items() if name not in matched)
    inputs = {"dst_frames": Path(frames), "dst_aligned": Path(aligned)}
    if isinstance(model_dir, (str, Path)):
        inputs["model"] = Path(model_dir)
    write_sidecar(out_dir, inputs, {"name": model_name, "resolution": model.resolution,
                                    "face_type": str(model_face_type)}, session.to_dict())
    summary.seconds = time.perf_counter() - started
    return summary


def _jobs(
    loaders: Iterator[tuple[str, Callable[[], np.ndarray], Path | None]],
    by_frame: dict[str, list[FaceMeta]],
    session: MergeSettings | MergeSession,
    out_dir: Path,
    mask_dir: Path,
    force: bool,
    matched: set[str],
    summary: MergeSummary,
) -> Iterator[_Job]:
    for number, (name, load, path) in enumerate(loaders, start=1):
        faces = by_frame.get(name, [])
        if faces:
            matched.add(name)
        settings = settings_for_frame(session, number)
        if not force and _is_done(name, faces, settings, out_dir, mask_dir):
            summary.frames_skipped += 1
            continue
        yield _Job(number, name, load, path, faces, settings)


def _chunks(jobs: Iterator[_Job], size: int) -> Iterator[list[_Job]]:
    chunk: list[_Job] = []
    for job in jobs:
        chunk.append(job)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _prepare(job: _Job, model: SwapModel) -> _Job:
    """Read the frame and cut its faces out (worker thread)."""
    if not job.faces and job.source_path is not None and job.source_path.suffix.lower() == ".png":
        return job  # copied through byte for byte, never decoded
    job.frame = job.load()
    height, width = job.frame.shape[:2]
    for meta in job.faces:
        if tuple(meta.source_size) != (width, height):
            raise InputError(
                job.source_path or job.name,
                f"frame is {width}x{height} but its aligned face was extracted from a "
                f"{meta.source_size[0]}x{meta.source_size[1]} frame",
            )
        face_type = parse_face_type(model.face_type)
        job.crops.append(crop_face(job.frame, meta.source_landmarks, model.resolution, face_type))
    return job


def _predict_chunk(model: SwapModel, jobs: list[_Job], batch_size: int) -> None:
    """Run the model on every crop of the chunk, batched (caller's thread).

    Crops are grouped by morph value and by whether their mask mode uses the learned masks (the
    model skips its mask decoders for the others).
    """
    groups: dict[tuple[float, bool], list[tuple[_Job, int]]] = defaultdict(list)
    for job in jobs:
        job.predictions = [Prediction(crop.image) for crop in job.crops]
        for index in range(len(job.crops)):
            groups[job.settings.morph, needs_learned_mask(job.settings.mask_mode)].append((job, index))
    for (morph, masks), items in groups.items():
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            outputs = predict(model, [job.crops[index] for job, index in batch], morph, masks)
            for (job, index), output in zip(batch, outputs, strict=True):
                job.predictions[index] = output


def _finish(job: _Job, out_dir: Path, mask_dir: Path, export_dir: str | Path | None) -> int:
    """Blend, post-process and write one frame (worker thread); returns the faces merged."""
    stem = Path(job.name).stem
    if not job.faces:
        _pass_through(job, out_dir / f"{stem}.png", mask_dir / f"{stem}.png")
        return 0
    assert job.frame is not None
    items = [(crop, pred, job.motion) for crop, pred in zip(job.crops, job.predictions, strict=True)]
    merged, mask, patches = merge_frame(job.frame, items, job.settings)
    if job.settings.mode == "raw-predict":
        for index, pred in enumerate(job.predictions):
            alpha = patches[index].face_alpha if index < len(patches) else np.ones(pred.face.shape[:2], np.float32)
            _write_png(out_dir / f"{stem}_{index}.png", _to_uint8(pred.face))
            _write_png(mask_dir / f"{stem}_{index}.png", _to_uint8(alpha))
    else:
        _write_png(out_dir / f"{stem}.png", mark_frame(merged))
        _write_png(mask_dir / f"{stem}.png", _to_uint8(mask))
    if export_dir is not None:
        height, width = job.frame.shape[:2]
        for index, patch in enumerate(patches):
            export_patch(export_dir, job.name, index, patch, (width, height))
    return len(patches)


def _pass_through(job: _Job, out_path: Path, mask_path: Path) -> None:
    """A frame without a face: written unchanged except for the invisible provenance watermark."""
    frame = job.frame if job.frame is not None else job.load()
    _write_png(out_path, mark_frame(frame))
    _write_png(mask_path, np.zeros(frame.shape[:2], np.uint8))


def _set_motion(job: _Job, by_frame: dict[str, list[FaceMeta]], names: list[str] | None) -> None:
    """Face motion between the neighbouring frames, when they each show exactly one face."""
    if job.settings.motion_blur <= 0 or len(job.faces) != 1:
        return
    centres = []
    for number in (job.number - 1, job.number, job.number + 1):
        if names is None:  # a video: frames are named by number
            name = f"{number:05d}.png" if number >= 1 else ""
        else:
            name = names[number - 1] if 1 <= number <= len(names) else ""
        faces = by_frame.get(name, [])
        centres.append(face_center(faces[0].source_landmarks) if len(faces) == 1 else None)
    before, current, after = centres
    if before is not None and after is not None:
        delta = after - before
    elif after is not None:
        delta = (after - current) * 2.0
    elif before is not None:
        delta = (current - before) * 2.0
    else:
        return
    job.motion = (float(delta[0]), float(delta[1]))


def _is_done(name: str, faces: list[FaceMeta], settings: MergeSettings, out_dir: Path, mask_dir: Path) -> bool:
    stem = Path(name).stem
    if settings.mode == "raw-predict" and faces:
        names = [f"{stem}_{index}.png" for index in range(len(faces))]
    else:
        names = [f"{stem}.png"]
    return all((out_dir / n).is_file() and (mask_dir / n).is_file() for n in names)


def _load_model(model_dir: str | Path | SwapModel, device: str, precision: str) -> tuple[SwapModel, str]:
    if not isinstance(model_dir, (str, Path)):
        return model_dir, "the model"
    from recast.export.loader import load_face_model  # a folder (torch) or a .dfm/.onnx (onnxruntime)

    return load_face_model(model_dir, device, precision), str(model_dir)


def _check_settings(session: MergeSettings | MergeSession, model: SwapModel, model_name: str) -> None:
    every = [session] if isinstance(session, MergeSettings) else [session.base]
    if isinstance(session, MergeSession):
        every += [session.base.updated(changes) for changes in session.keyframes.values()]
    for settings in every:
        check_mask_mode(settings.mask_mode, bool(model.has_learned_mask), model_name)


def _check_folders(frames: Path, aligned: Path, out_dir: Path, mask_dir: Path) -> None:
    if not frames.exists():
        raise InputError(frames, "no such frames folder or video")
    if not aligned.is_dir():
        raise InputError(aligned, "no such aligned-faces folder")
    inputs = {frames.resolve(), aligned.resolve()}
    for target, option in ((out_dir, "output"), (mask_dir, "mask output")):
        if target.resolve() in inputs:
            raise OptionError(f"the {option} folder {target} is an input folder; choose another one")
    if out_dir.resolve() == mask_dir.resolve():
        raise OptionError(f"the output and mask folders are the same ({out_dir}); choose two folders")


def _read_faces(aligned: Path, model_face_type: FaceType, model_name: str) -> dict[str, list[FaceMeta]]:
    """Aligned faces' metadata grouped by source frame name, each group in file-name order."""
    by_frame: dict[str, list[FaceMeta]] = defaultdict(list)
    files = sorted(p for p in aligned.iterdir() if is_face_file(p) and not p.name.startswith("."))
    for path in files:
        meta = read_meta(path)
        if not meta.face_type.covers(model_face_type):
            raise OptionError(
                f"{model_name} uses face type {model_face_type.value!r}, wider than the "
                f"{meta.face_type.value!r} faces in {aligned} ({path.name}); re-extract the destination "
                f"with --face-type {model_face_type.value} or wider"
            )
        by_frame[meta.source_filename].append(meta)
    return dict(by_frame)


def _frame_source(
    frames: Path,
) -> tuple[list[str] | None, Iterator[tuple[str, Callable[[], np.ndarray], Path | None]], int | None]:
    """``(names or None, iterator of (name, loader, path), total or None)`` for a folder or a video."""
    if frames.is_dir():
        paths = list_images(frames)
        names = [p.name for p in paths]

        def folder_items() -> Iterator[tuple[str, Callable[[], np.ndarray], Path | None]]:
            for path in paths:
                yield path.name, (lambda p=path: read_image(p)), path

        return names, folder_items(), len(paths)
    from recast.media.video import iter_frames, probe

    info = probe(frames)
    names = [f"{index:05d}.png" for index in range(1, info.frame_count + 1)] if info.frame_count_exact else None

    def video_items() -> Iterator[tuple[str, Callable[[], np.ndarray], Path | None]]:
        for index, image in iter_frames(frames):
            yield f"{index:05d}.png", (lambda image=image: image), None

    return names, video_items(), info.frame_count if info.frame_count_exact else None


def _check_record(out_dir: Path, mask_dir: Path, session: MergeSettings | MergeSession, force: bool) -> None:
    """Refuse to mix settings in one output folder (unless ``force``); record the settings used."""
    record = {"settings": session.to_dict(), "kind": type(session).__name__}
    path = out_dir / RECORD_NAME
    if path.is_file() and not force:
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            previous = None
        if previous != record:
            raise OptionError(
                f"{out_dir} holds frames merged with other settings; pass --force to redo every frame "
                "with the new settings, or choose another output folder"
            )
    elif not path.is_file() and not force:
        for folder in (out_dir, mask_dir):
            if folder.is_dir() and list_images(folder):
                raise OptionError(
                    f"{folder} already holds images not written by recast merge; choose an empty folder "
                    "or pass --force"
                )
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")


def _write_png(path: Path, image: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", np.ascontiguousarray(image), FAST_PNG_PARAMS)
    if not ok:
        raise InputError(path, "could not encode the image as PNG")
    atomic_write_bytes(path, data.tobytes())


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(image, np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)

