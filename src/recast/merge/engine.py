"""The merge engine: one per-frame pipeline that hands merged frames, in order, to a sink.

For every destination frame, its faces are found through the aligned faces' metadata (source
frame name and landmarks; there is no re-detection), cut out at the model's resolution and face
type, swapped by the model in batches, and blended back (:mod:`recast.merge.blend`). Frames
without faces are passed through with an empty mask.

The pipeline overlaps three steps: chunk k+1 is read and cropped by worker threads while chunk
k is predicted in the caller's thread and chunk k-1 is blended by the workers. Each blended
frame goes to a :class:`FrameSink`: :meth:`FrameSink.process` in the worker thread (any order;
watermarking, PNG encoding), then :meth:`FrameSink.accept` in the caller's thread in frame order
(the video encoder). :mod:`recast.merge.sinks` has the PNG-folder and video sinks.

:class:`FrameMerger` merges one frame at a time on demand, through the same steps (the studio's
merge preview): a previewed frame is the frame a merge with the same settings writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, cast

import numpy as np

from recast.errors import InputError, OptionError
from recast.faces.aligned import is_face_file, read_meta
from recast.faces.facetype import FaceType, parse_face_type
from recast.faces.metadata import FaceMeta
from recast.media.images import list_images, read_image
from recast.merge.blend import FaceCrop, Prediction, crop_face, face_center, merge_frame, predict
from recast.merge.export import export_patch
from recast.merge.maskops import check_mask_mode, needs_learned_mask, xseg_parts
from recast.merge.settings import MergeSession, MergeSettings, settings_for_frame
from recast.merge.xsegmask import XSegCrop, XSegMasker, add_xseg_masks, xseg_crop
from recast.models.swapmodel import SwapModel
from recast.runtime.options import ComputeOptions
from recast.runtime.threads import plan_threads

FrameItems = Iterator[tuple[str, Callable[[], np.ndarray], Path | None]]


@dataclass
class MergedFrame:
    """One destination frame after merging, as a sink receives it.

    Attributes:
        number: position in the sequence, from 1.
        name: the frame's name (``00001.png`` … for a video destination).
        image: the merged frame, ``(H, W, 3)`` uint8 BGR, not watermarked; None in ``raw-predict``
            mode when the frame has faces.
        mask: ``(H, W)`` uint8, 255 where the face replaced the frame; None when ``image`` is.
        raw_faces: ``raw-predict`` mode: each face's prediction ``(R, R, 3)`` uint8 BGR and alpha
            ``(R, R)`` uint8, in face order.
        faces_merged: faces merged into the frame (0: passed through unchanged).
        faces_masked_out: faces left out because their mask was empty (eroded to nothing).
    """

    number: int
    name: str
    image: np.ndarray | None
    mask: np.ndarray | None
    raw_faces: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    faces_merged: int = 0
    faces_masked_out: int = 0


class FrameSink(Protocol):
    """Where merged frames go (a PNG folder, a video)."""

    def skip(self, name: str, faces: int, settings: MergeSettings) -> bool:
        """Whether frame ``name`` (with ``faces`` faces) is already written, so a resumed run skips it."""
        ...

    def process(self, frame: MergedFrame) -> object:
        """The sink's work on one frame, in a worker thread, frames in any order; returns what :meth:`accept` takes."""
        ...

    def accept(self, processed: object) -> None:
        """Take one processed frame, in the caller's thread, in frame order."""
        ...


@dataclass
class MergeInputs:
    """The checked, loaded inputs of a merge (see :func:`open_inputs`).

    Attributes:
        model: the swap model; model_name: its folder, or ``"the model"``.
        face_type: the model's face type.
        by_frame: aligned faces' metadata grouped by source frame name, each in file-name order.
        names: the destination's frame names in order, or None for a video without an exact count.
        items: ``(name, loader, path or None)`` per frame, lazily.
        total: frame count, or None when unknown.
        weights_sha256: sha256 of the loaded checkpoint's weights (None for a model passed in memory).
        xseg: the XSeg mask model of ``xseg-*`` mask modes, or None; xseg_sha256: its weights' sha256.
    """

    model: SwapModel
    model_name: str
    face_type: FaceType
    by_frame: dict[str, list[FaceMeta]]
    names: list[str] | None
    items: FrameItems
    total: int | None
    weights_sha256: str | None = None
    xseg: XSegMasker | None = None
    xseg_sha256: str | None = None


@dataclass
class FrameCounts:
    """Frames merged, passed through (no face), masked out (every mask empty) and skipped (done
    before); faces merged and masked out (see :class:`recast.merge.stage.MergeSummary`)."""

    frames_merged: int = 0
    frames_passed_through: int = 0
    frames_masked_out: int = 0
    frames_skipped: int = 0
    faces_merged: int = 0
    faces_masked_out: int = 0


@dataclass
class EngineCounts(FrameCounts):
    """What :func:`run_engine` did: the :class:`FrameCounts` and the frame names seen."""

    matched: set[str] = field(default_factory=set)


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
    xseg_crops: list[XSegCrop] = field(default_factory=list)
    predictions: list[Prediction] = field(default_factory=list)


def open_inputs(
    model_dir: str | Path | SwapModel, frames: Path, aligned: Path, session: MergeSettings | MergeSession,
    device: str, precision: str, xseg: str | Path | XSegMasker | None = None, enhance: str | Path | None = None,
) -> MergeInputs:
    """Check and load a merge's inputs: the model, the XSeg model (a folder, or loaded; for ``xseg-*``
    mask modes), the aligned faces' metadata, the frame source.

    Raises:
        InputError, MetadataError: missing or broken inputs. OptionError: a mask mode the model
        cannot serve, or a model face type wider than the faceset's. ``enhance``: an enhancer folder
        (:mod:`recast.models.enhancer`) whose network enlarges and sharpens the model's faces.
    """
    if not frames.exists():
        raise InputError(frames, "no such frames folder or video")
    if not aligned.is_dir():
        raise InputError(aligned, "no such aligned-faces folder")
    model, model_name = _load_model(model_dir, device, precision, enhance)
    face_type = parse_face_type(model.face_type)
    _check_settings(session, model, model_name, xseg is not None)
    masker = _load_xseg(xseg, device) if xseg is not None else None
    by_frame = _read_faces(aligned, face_type, model_name)
    names, items, total = _frame_source(frames)
    return MergeInputs(model, model_name, face_type, by_frame, names, items, total,
                       getattr(model, "weights_sha256", None), masker, getattr(masker, "weights_sha256", None))


def run_engine(
    inputs: MergeInputs,
    session: MergeSettings | MergeSession,
    sink: FrameSink,
    *,
    workers: int | None = None,
    batch_size: int = ComputeOptions.batch_size,
    export_dir: str | Path | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> EngineCounts:
    """Merge every frame of ``inputs`` and hand each to ``sink`` (see the module docstring).

    Args:
        inputs: from :func:`open_inputs`.
        session: one :class:`MergeSettings`, or a :class:`MergeSession` with keyframes (frame
            numbers count from 1 in name order).
        sink: where the merged frames go.
        workers: threads for reading, blending and the sink's per-frame work (None: the thread
            plan's I/O threads, :mod:`recast.runtime.threads`).
        batch_size: frames per model batch.
        export_dir: if set, also write every merged face as RGBA layers + placement JSON there.
        on_progress: called with ``(frames done, frames total or None)``.
    """
    counts = EngineCounts()
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, workers or plan_threads().io_threads)) as pool:
        pending: list[Future[tuple[int, int, object]]] = []

        def finish(limit: int) -> None:
            nonlocal done
            while len(pending) > limit:
                faces, masked_out, processed = pending.pop(0).result()
                sink.accept(processed)
                counts.faces_masked_out += masked_out
                if faces:
                    counts.frames_merged += 1
                    counts.faces_merged += faces
                elif masked_out:
                    counts.frames_masked_out += 1
                else:
                    counts.frames_passed_through += 1
                done += 1
                if on_progress is not None:
                    on_progress(done + counts.frames_skipped, inputs.total)

        def blend_and_process(job: _Job) -> tuple[int, int, object]:
            frame = _blend(job, export_dir)
            return frame.faces_merged, frame.faces_masked_out, sink.process(frame)

        def run(chunk: list[Future[_Job]]) -> None:
            prepared = [future.result() for future in chunk]
            _predict_chunk(inputs.model, prepared, batch_size, inputs.xseg)
            pending.extend(pool.submit(blend_and_process, job) for job in prepared)
            finish(batch_size)

        previous: list[Future[_Job]] | None = None
        for chunk in _chunks(_jobs(inputs, session, sink, counts), batch_size):
            for job in chunk:
                _set_motion(job, inputs.by_frame, inputs.names)
            current = [pool.submit(_prepare, job, inputs.model, inputs.xseg) for job in chunk]
            if previous is not None:
                run(previous)
            previous = current
        if previous is not None:
            run(previous)
        finish(0)
    if on_progress is not None:
        on_progress(done + counts.frames_skipped, max(inputs.total or 0, done + counts.frames_skipped))
    return counts


class FrameMerger:
    """Merges single frames of ``inputs`` on demand, with any settings (the studio's merge preview).

    The steps are :func:`run_engine`'s (crop, predict, blend, motion from the neighbouring frames),
    one frame at a time. The last frame's crops and the model's predictions are kept, so merging
    that frame again with settings that change only the blending (anything but ``morph``, or a
    switch between a learned and a geometric mask mode) runs the blend alone: milliseconds.

    Args:
        inputs: from :func:`open_inputs`, with a frames *folder* (frames are read by number; a
            video would have to be decoded from its start for each one).

    Raises:
        OptionError: the frames are a video.
    """

    def __init__(self, inputs: MergeInputs) -> None:
        self.inputs = inputs
        self._items: list[tuple[str, Callable[[], np.ndarray], Path | None]] = []
        for item in inputs.items:
            if item[2] is None:
                raise OptionError("merging single frames needs a folder of frames, not a video")
            self._items.append(item)
        self._last: tuple[tuple[int, float, bool, tuple[str, ...]], _Job] | None = None

    @property
    def names(self) -> list[str]:
        """The frame names, in order (frame number 1 is the first)."""
        return [name for name, _, _ in self._items]

    def merge(self, number: int, settings: MergeSettings) -> MergedFrame:
        """Frame ``number`` (from 1) merged with ``settings``.

        Raises:
            OptionError: no such frame, or settings the model cannot serve (see :func:`open_inputs`).
            InputError: the frame's size differs from the one its faces were extracted from.
        """
        if not 1 <= number <= len(self._items):
            raise OptionError(f"no frame {number}: the destination has frames 1 to {len(self._items)}")
        xseg = self.inputs.xseg
        _check_settings(settings, self.inputs.model, self.inputs.model_name, xseg is not None)
        key = (number, settings.morph, needs_learned_mask(settings.mask_mode), xseg_parts(settings.mask_mode))
        if self._last is None or self._last[0] != key:
            name, load, path = self._items[number - 1]
            prepared = _prepare(_Job(number, name, load, path, self.inputs.by_frame.get(name, []), settings),
                                self.inputs.model, xseg)
            _predict_chunk(self.inputs.model, [prepared], max(1, len(prepared.faces)), xseg)
            self._last = key, prepared
        job = replace(self._last[1], settings=settings, motion=None)
        _set_motion(job, self.inputs.by_frame, self.inputs.names)
        return _blend(job, None)


def _jobs(inputs: MergeInputs, session: MergeSettings | MergeSession, sink: FrameSink,
          counts: EngineCounts) -> Iterator[_Job]:
    for number, (name, load, path) in enumerate(inputs.items, start=1):
        faces = inputs.by_frame.get(name, [])
        if faces:
            counts.matched.add(name)
        settings = settings_for_frame(session, number)
        if sink.skip(name, len(faces), settings):
            counts.frames_skipped += 1
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


def _prepare(job: _Job, model: SwapModel, xseg: XSegMasker | None = None) -> _Job:
    """Read the frame and cut its faces out, for the model and, when the mask mode asks, for the XSeg
    model (worker thread); a faceless frame is read later, by :func:`_blend`."""
    if not job.faces:
        return job
    job.frame = job.load()
    height, width = job.frame.shape[:2]
    face_type = parse_face_type(model.face_type)
    for meta in job.faces:
        if tuple(meta.source_size) != (width, height):
            raise InputError(
                job.source_path or job.name,
                f"frame is {width}x{height} but its aligned face was extracted from a "
                f"{meta.source_size[0]}x{meta.source_size[1]} frame",
            )
        job.crops.append(crop_face(job.frame, meta.source_landmarks, model.resolution, face_type))
        if xseg is not None and xseg_parts(job.settings.mask_mode):
            job.xseg_crops.append(xseg_crop(job.frame, meta.source_landmarks, xseg))
    return job


def _predict_chunk(model: SwapModel, jobs: list[_Job], batch_size: int, xseg: XSegMasker | None = None) -> None:
    """Run the model on every crop of the chunk, batched (caller's thread), then the XSeg model where
    the mask mode asks for it.

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
    if xseg is not None:
        add_xseg_masks(xseg, [(job.crops[i], job.predictions[i], job.xseg_crops[i], xseg_parts(job.settings.mask_mode))
                              for job in jobs if job.xseg_crops for i in range(len(job.crops))])


def _blend(job: _Job, export_dir: str | Path | None) -> MergedFrame:
    """Blend the predicted faces into the frame and post-process it (worker thread)."""
    if not job.faces:
        frame = job.frame if job.frame is not None else job.load()
        return MergedFrame(job.number, job.name, frame, np.zeros(frame.shape[:2], np.uint8))
    assert job.frame is not None
    items = [(crop, pred, job.motion) for crop, pred in zip(job.crops, job.predictions, strict=True)]
    merged, mask, patches = merge_frame(job.frame, items, job.settings)
    if export_dir is not None:
        height, width = job.frame.shape[:2]
        for index, patch in enumerate(patches):
            export_patch(export_dir, job.name, index, patch, (width, height))
    if job.settings.mode == "raw-predict":
        raw = []
        for index, pred in enumerate(job.predictions):
            alpha = patches[index].face_alpha if index < len(patches) else np.ones(pred.face.shape[:2], np.float32)
            raw.append((_to_uint8(pred.face), _to_uint8(alpha)))
        return MergedFrame(job.number, job.name, None, None, raw, len(patches), len(job.faces) - len(patches))
    return MergedFrame(job.number, job.name, merged, _to_uint8(mask), faces_merged=len(patches),
                       faces_masked_out=len(job.faces) - len(patches))


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


def _load_model(model_dir: str | Path | SwapModel, device: str, precision: str,
                enhance: str | Path | None = None) -> tuple[SwapModel, str]:
    """The merge model (wrapped with the enhancer in ``enhance``, when given) and its name for messages."""
    if not isinstance(model_dir, (str, Path)):
        model, name = model_dir, "the model"
    else:
        from recast.models.loader import load_face_model  # a folder (torch) or a .dfm/.onnx (onnxruntime)

        model, name = load_face_model(model_dir, device, precision), str(model_dir)
    if enhance is None:
        return model, name
    from recast.models.enhancer import EnhancedSwapper, load_enhancer

    return EnhancedSwapper(model, load_enhancer(enhance, device), device), f"{name} + enhancer {enhance}"


def every_settings(session: MergeSettings | MergeSession) -> list[MergeSettings]:
    """The settings a merge can use: the base and each keyframe's change applied to it."""
    if isinstance(session, MergeSettings):
        return [session]
    return [session.base, *(session.base.updated(changes) for changes in session.keyframes.values())]


def _load_xseg(xseg: str | Path | XSegMasker, device: str) -> XSegMasker:
    if not isinstance(xseg, (str, Path)):
        return xseg
    from recast.models.xseg_inference import XSegPredictor  # torch, like the swap model

    return XSegPredictor.load(xseg, device)


def _check_settings(session: MergeSettings | MergeSession, model: SwapModel, model_name: str,
                    has_xseg: bool = False) -> None:
    for settings in every_settings(session):
        check_mask_mode(settings.mask_mode, bool(model.has_learned_mask), model_name, has_xseg)
        if settings.morph != 1.0 and not getattr(model, "is_amp", False):
            raise OptionError(f"--morph {settings.morph:g}: only AMP models morph, and {model_name} is not one")


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


def _frame_source(frames: Path) -> tuple[list[str] | None, FrameItems, int | None]:
    """``(names or None, iterator of (name, loader, path), total or None)`` for a folder or a video."""
    if frames.is_dir():
        paths = list_images(frames)
        names: list[str] | None = [p.name for p in paths]

        def folder_items() -> FrameItems:
            for path in paths:
                yield path.name, cast(Callable[[], np.ndarray], lambda p=path: read_image(p)), path

        return names, folder_items(), len(paths)
    from recast.media.video import iter_frames, probe

    info = probe(frames)
    names = [f"{index:05d}.png" for index in range(1, info.frame_count + 1)] if info.frame_count_exact else None

    def video_items() -> FrameItems:
        for index, image in iter_frames(frames):
            yield f"{index:05d}.png", cast(Callable[[], np.ndarray], lambda image=image: image), None

    return names, video_items(), info.frame_count if info.frame_count_exact else None


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(image, np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
