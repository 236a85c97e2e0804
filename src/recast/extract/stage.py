"""The extraction stage: a video or a folder of frames → a folder of aligned faces.

>>> from recast.extract.stage import ExtractOptions, extract
>>> summary = extract("data_dst.mp4", "workspace/data_dst/aligned", ExtractOptions(face_type=FaceType.WHOLE))
>>> summary.frames, summary.faces, summary.frames_without_face

Frames are decoded on the fly and analysed by worker processes (detection and landmarks);
the main process smooths landmarks over time, aligns, and writes each face atomically. A log
of finished frames (``.recast-extract.jsonl`` in the output folder) makes a re-run skip them.

Workers are started with ``spawn`` (a forked child can deadlock on locks held by OpenCV's or
dlib's threads), so a script that calls :func:`extract` with ``workers > 1`` needs the usual
``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from recast.atomic import make_folder, remove_stale_temp_files
from recast.errors import InputError
from recast.extract.analyze import AnalyzeOptions, FoundFace, FrameAnalyzer
from recast.extract.debug_image import draw_debug
from recast.extract.detectors import create_detector, list_detectors
from recast.extract.reference import IdentityFilter
from recast.extract.tracking import FaceTracker
from recast.faces.aligned import write_face
from recast.faces.crop import cut_face
from recast.faces.facetype import FaceType, parse_face_type
from recast.faces.smoothing import SmoothingConfig
from recast.options import check_field, option, validate
from recast.paths import check_outputs_not_inputs
from recast.runtime.threads import plan_threads
from recast.workers import init_pool_worker

LOG_NAME = ".recast-extract.jsonl"

logger = logging.getLogger(__name__)


_DETECT, _OUTPUT, _IDENTITY = "Detection", "Output", "Identity"


def _detector_names() -> tuple[str, ...]:
    return tuple(list_detectors())


@dataclass
class ExtractOptions:
    """Options of :func:`extract`; each option declares its help, range and choices (:mod:`recast.options`).

    Attributes:
        detector_kwargs: extra detector constructor arguments (e.g. ``{"model_path": ...}`` for ``onnx``).
        face_type: crop coverage (a :class:`FaceType`, a name such as ``"whole"`` or a DeepFaceLab code
            such as ``"wf"``).
        detect_size: detect on a copy scaled so its longer side is at most this (0 = full size,
            None = the detector's default, see :data:`recast.extract.analyze.DEFAULT_DETECT_SIZE`).
        smoothing: One-Euro parameters.
        frames_list: only these frames (names like ``00012.png`` or numbers), re-extracted.
        workers: analysis processes (1 = in this process; None = one per usable core, at most 8).
    """

    OPTIONS_NOUN: ClassVar[str] = "extract option"
    OPTIONS_LABEL: ClassVar[str] = "{flag}"

    detector: str = option("dlib-hog", "Face detector", choices=_detector_names, group=_DETECT)
    detector_kwargs: dict[str, object] = field(default_factory=dict)
    face_type: FaceType = option(FaceType.WHOLE, "Face type (or h, mf, f, wf)", parse=parse_face_type,
                                 choices=tuple(face_type.value for face_type in FaceType), group=_OUTPUT)
    size: int = option(512, "Aligned image side", ge=256, le=2048, group=_OUTPUT)
    image_format: str = option("jpg", "Aligned image format", choices=("jpg", "png"), flag="format", group=_OUTPUT)
    jpeg_quality: int = option(90, "JPEG quality", ge=1, le=100, group=_OUTPUT)
    min_face_size: int = option(40, "Ignore faces smaller than this (pixels)", ge=0, group=_DETECT)
    max_faces: int = option(0, "Faces kept per frame, largest first (0 = all)", ge=0, group=_DETECT)
    try_rotations: bool = option(True, "Retry rotated 90/180/270° when no face is found", flag="rotations",
                                 group=_DETECT)
    detect_size: int | None = option(None, "Detect on frames scaled to this longest side (0 = full)", ge=0,
                                     default_text="the detector's", group=_DETECT)
    smooth: bool | None = option(None, "Temporal landmark smoothing", default_text="on for video", group=_DETECT)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    debug: bool = option(False, "Write frames with box, landmarks and crop outline to OUT_debug/")
    reference: list[Path] = option(help="Photo(s) of the person to keep; others are dropped",
                                   default_factory=list, group=_IDENTITY)
    reference_threshold: float = option(0.6, "Max identity distance to a reference", ge=0, group=_IDENTITY)
    embed: bool = option(False, "Store a 128-d identity embedding with every face", group=_IDENTITY)
    fps: float | None = option(None, "Resample video input to this frame rate", gt=0, default_text="native")
    force: bool = option(False, "Re-extract frames already done")
    frames_list: list[str] | None = None
    workers: int | None = option(None, "Analysis processes", ge=1, default_text="one per usable core, at most 8")

    def __post_init__(self) -> None:
        check_field(self, "face_type")

    def validate(self) -> None:
        """Raise :class:`OptionError` for out-of-range values and :class:`InputError` for missing files.

        The detector is built once here, in the calling process, so a bad name, a missing model
        file or a wrong detector argument is reported before any worker starts or file is written.
        """
        validate(self)
        for photo in self.reference:
            if not Path(photo).is_file():
                raise InputError(photo, "no such reference photo")
        create_detector(self.detector, **self.detector_kwargs)


@dataclass
class ExtractSummary:
    """What :func:`extract` did (counts cover earlier, resumed runs too)."""

    frames: int = 0
    faces: int = 0
    frames_without_face: int = 0
    frames_with_several: int = 0
    skipped_done: int = 0
    rejected_by_identity: int = 0
    output: Path = Path()
    face_side: int = 0
    """Median side, in frame pixels, of the regions this run's aligned faces were cut from (0 = no face):
    the detail a model can learn; aligned faces larger than it were upscaled."""


@dataclass
class _Frame:
    name: str
    image: np.ndarray


ProgressCallback = Callable[[int, int | None], None]


def extract(
    source: str | Path, out_dir: str | Path, options: ExtractOptions | None = None,
    on_progress: ProgressCallback | None = None,
) -> ExtractSummary:
    """Extract aligned faces from a video file or a folder of frames into ``out_dir``.

    Args:
        source: a video file (decoded on the fly) or a folder of frame images.
        out_dir: folder for the aligned faces (created).
        options: see :class:`ExtractOptions`.
        on_progress: called as ``on_progress(frames_done, frames_total_or_None)``.

    Raises:
        InputError: unreadable source, empty folder, reference photo without a face, or ``out_dir``
            is the source.
        OptionError: invalid options.
    """
    options = options or ExtractOptions()
    options.validate()
    source, out_dir = Path(source), Path(out_dir)
    debug_dir = out_dir.with_name(out_dir.name + "_debug")
    check_outputs_not_inputs([out_dir, debug_dir if options.debug else None], [source, *options.reference])
    frames, total, fps = _open_source(source, options.fps)
    is_video = source.is_file()
    analyze_options = AnalyzeOptions(
        detector=options.detector,
        detector_kwargs=tuple(sorted(options.detector_kwargs.items())),
        min_face_size=options.min_face_size,
        max_faces=options.max_faces,
        try_rotations=options.try_rotations,
        detect_size=options.detect_size,
        embed=options.embed or bool(options.reference),
    )
    identity = IdentityFilter.from_photos(options.reference, analyze_options, options.reference_threshold) \
        if options.reference else None
    make_folder(out_dir)
    remove_stale_temp_files(out_dir)
    log_path = out_dir / LOG_NAME
    done = {} if options.force else _read_log(log_path)
    wanted = None if options.frames_list is None else {_frame_key(f) for f in options.frames_list}
    if wanted is not None:
        done = {k: v for k, v in done.items() if _frame_key(k) not in wanted}
    smooth = is_video if options.smooth is None else options.smooth
    tracker = FaceTracker(fps or 25.0, options.smoothing) if smooth else None
    summary = ExtractSummary(output=out_dir)

    def todo() -> Iterator[_Frame]:
        for frame in frames:
            if wanted is not None and _frame_key(frame.name) not in wanted:
                continue
            if frame.name in done:
                summary.skipped_done += 1
                if tracker is not None:
                    tracker.update([])
                continue
            yield frame

    count = 0
    sides: list[float] = []
    with open(log_path, "a", encoding="utf-8") as log:
        workers = options.workers or plan_threads().analysis_workers
        for frame, faces in _analyze_all(todo(), analyze_options, workers):
            if identity is not None:
                kept = identity.keep(faces)
                summary.rejected_by_identity += len(faces) - len(kept)
                faces = kept
            smoothed = tracker.update([f.landmarks for f in faces]) if tracker is not None else None
            sides += _save_faces(frame, faces, smoothed, out_dir, options)
            if options.debug:
                draw_debug(frame.image, faces, options.face_type, debug_dir / f"{Path(frame.name).stem}.jpg")
            log.write(json.dumps({"frame": frame.name, "faces": len(faces)}) + "\n")
            log.flush()
            done[frame.name] = len(faces)
            count += 1
            if on_progress is not None:
                on_progress(count + summary.skipped_done, total)
    summary.frames = len(done)
    summary.faces = sum(done.values())
    summary.frames_without_face = sum(1 for n in done.values() if n == 0)
    summary.frames_with_several = sum(1 for n in done.values() if n > 1)
    logger.info("extracted %s: %d frames (%d done before), %d faces, %d frames without a face → %s", source,
                summary.frames, summary.skipped_done, summary.faces, summary.frames_without_face, out_dir)
    summary.face_side = round(float(np.median(sides))) if sides else 0
    if sides and summary.face_side < options.size:
        logger.warning("%s: the faces are a median %d px in their frames, upscaled to %d px; a model trained above "
                       "%d px learns no detail the footage lacks (use higher-resolution footage or a smaller model)",
                       source, summary.face_side, options.size, summary.face_side)
    return summary


def _save_faces(
    frame: _Frame, faces: list[FoundFace], smoothed: list[np.ndarray] | None, out_dir: Path,
    options: ExtractOptions,
) -> list[float]:
    """Write ``faces`` of ``frame``; returns each face's crop side in frame pixels (aligned side / scale)."""
    stem = Path(frame.name).stem
    sides = []
    for stale in out_dir.glob(f"{stem}_*.*"):
        if stale.stem.rsplit("_", 1)[-1].isdigit() and int(stale.stem.rsplit("_", 1)[-1]) >= len(faces):
            _to_trash(stale, out_dir)
    for index, face in enumerate(faces):
        points = face.landmarks if smoothed is None else smoothed[index]
        image, meta = cut_face(frame.image, frame.name, points, face.rect, options.size, options.face_type,
                               options.detector, face.score, face.embedding if options.embed else None)
        write_face(out_dir / f"{stem}_{index}.{options.image_format}", image, meta, options.jpeg_quality)
        scale = float(np.sqrt(abs(np.linalg.det(np.asarray(meta.image_to_face_mat)[:, :2]))))
        sides.append(options.size / scale)
    return sides


def _to_trash(path: Path, out_dir: Path) -> None:
    trash = out_dir.with_name(out_dir.name + "_trash")
    trash.mkdir(exist_ok=True)
    os.replace(path, trash / path.name)


# Worker processes hold one analyzer each (set by the pool initializer).
_worker_analyzer: FrameAnalyzer | None = None


def _init_worker(options: AnalyzeOptions, parent_pid: int) -> None:
    global _worker_analyzer
    init_pool_worker(parent_pid)
    _worker_analyzer = FrameAnalyzer(options)


def _analyze_in_worker(image: np.ndarray) -> list[FoundFace]:
    assert _worker_analyzer is not None
    return _worker_analyzer.analyze(image)


def _analyze_all(
    frames: Iterator[_Frame], options: AnalyzeOptions, workers: int
) -> Iterator[tuple[_Frame, list[FoundFace]]]:
    """Analyse frames in order, with at most a few frames in flight (bounded memory)."""
    if workers == 1:
        analyzer = FrameAnalyzer(options)
        for frame in frames:
            yield frame, analyzer.analyze(frame.image)
        return
    window: deque[tuple[_Frame, Future]] = deque()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                             initargs=(options, os.getpid())) as pool:
        for frame in frames:
            window.append((frame, pool.submit(_analyze_in_worker, frame.image)))
            if len(window) >= workers * 3:
                done_frame, future = window.popleft()
                yield done_frame, future.result()
        while window:
            done_frame, future = window.popleft()
            yield done_frame, future.result()


def _open_source(source: Path, fps: float | None) -> tuple[Iterator[_Frame], int | None, float | None]:
    """Frames of a video or an image folder, with the total count when known and the fps."""
    from recast.media.images import list_images, read_image
    from recast.media.video import iter_frames, probe

    if source.is_dir():
        paths = list_images(source)
        if not paths:
            raise InputError(source, "holds no images (expected frames such as 00001.png)")
        return (_Frame(p.name, read_image(p)) for p in paths), len(paths), None
    if not source.exists():
        raise InputError(source, "no such file or folder")
    info = probe(source)
    rate = fps or info.fps
    total = info.frame_count if fps is None else int(round(info.duration * fps))
    frames = (_Frame(f"{index:05d}.png", image) for index, image in iter_frames(source, fps=fps))
    return frames, total, rate


def _frame_key(name: str) -> str:
    stem = Path(str(name).strip()).stem
    return str(int(stem)) if stem.isdigit() else stem


def _read_log(path: Path) -> dict[str, int]:
    done: dict[str, int] = {}
    if not path.is_file():
        return done
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
            done[str(entry["frame"])] = int(entry["faces"])
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by an interrupted run
    return done
