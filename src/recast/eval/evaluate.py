"""Swap evaluation: stream a result video beside its destination and measure every frame.

>>> from recast.eval import evaluate
>>> report = evaluate("result.mp4", "data_dst.mp4", "workspace/data_src/aligned", every=2)
>>> report.summary()["identity_same_person"], report.summary()["pose_error_deg"]

For each evaluated frame the destination face is found (dlib HOG, the largest face) and its 68
landmarks are taken; the result frame is landmarked inside the *same* detector box (the swap
keeps the face where it was), which also keeps a badly swapped face measurable. Then:

* identity: the result face's dlib embedding distance to the src and dst identity centroids.
  The headline, ``identity_same_person``, is the share of frames whose result face is within
  dlib's same-person distance (0.6) of the src centroid *and* closer to src than to dst — a face
  must look like the src person, not merely less unlike them than the dst person. The weaker
  ``identity_retrieval`` (closer to src than to dst, whatever the distance) is kept as a
  secondary figure: noise or a half-trained blur can win it;
* pose error: |Δpitch|, |Δyaw|, |Δroll| (degrees) between the two faces' head poses
  (:func:`recast.faces.pose.estimate_pose`: the generic 3-D face fitted with SQPnP);
* expression error: eye/mouth landmark distance after a similarity fit on stable points,
  over the inter-ocular distance (see :func:`recast.eval.metrics.expression_error`);
* jitter: mean landmark motion since the previous evaluated frame, for the result and for the
  destination, and the result's motion minus the destination's (``excess``);
* detail: the result face's fine detail (wavelengths of 2–8 px) ÷ the destination's, tile by tile,
  each tile's new content discounted by its coarse-band energy and the tiles' median taken, so an
  open mouth, seams or noise do not count as detail (:func:`recast.eval.detail.detail_ratio`;
  1.0 = as much detail as the original footage). When the merge's mask video sits next to the
  result (``result_mask.mp4``), each tile counts only the model's share of it: a face the merge
  barely pasted does not borrow the destination's own detail.
  Its *ceiling* is the same figure for a perfect model of the merge's resolution and face type
  (read from the result's provenance sidecar, or given): the destination face cut to the model's
  crop and pasted back through the merger's own warp (:func:`recast.eval.detail.ceiling_ratio`);
  ``convergence`` = detail ÷ ceiling. On a sample of frames the ceiling is also measured at
  :data:`recast.eval.detail.CEILING_SIZES` (what resolution buys on this footage);
* sharpness (the older figure, kept for comparison): the result face's Laplacian energy ÷ the
  destination's (:func:`recast.eval.metrics.sharpness_ratio`); it counts edges, so content the
  destination lacks (an open mouth, seams, noise) raises it;
* eye region: the same detail ratio and the mean-brightness ratio in the eyes' lids and sockets
  (:func:`recast.eval.metrics.eye_region_ratios`): soft or dark eyes show here even when the eye
  landmarks (the ``eyes`` expression error) sit right;
* background: PSNR of result vs destination outside the dilated face hull (``inf`` = untouched;
  JSON has no infinity, so the report writes ``null`` with ``background_identical: true``);
* coverage (with a dst faceset): how well the src faceset covers the dst faces' angles and
  expressions (:func:`recast.faceset.coverage.faceset_coverage`), a cause of high expression error.

With ``every`` > 1 the motion is measured between evaluated frames (``every`` frames apart).

Both inputs are decoded frame by frame (a video file or a folder of frames); nothing holds a
whole video in memory.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np

from recast.errors import InputError, MetadataError, OptionError
from recast.eval.detail import CEILING_SIZES, ceiling_ratio, detail_ratio, detail_reference
from recast.eval.identity import CENTROID_SAMPLE, faceset_centroid
from recast.eval.metrics import (
    SAME_PERSON_DISTANCE,
    background_psnr,
    excess_motion,
    expression_error,
    eye_region_ratios,
    identity_distance,
    landmark_motion,
    pose_error,
    sharpness_ratio,
)
from recast.extract.analyze import AnalyzeOptions, FoundFace, FrameAnalyzer
from recast.extract.landmarks import DlibEmbedder, to_rgb
from recast.faces.facetype import FaceType, parse_face_type
from recast.faceset.coverage import CoverageReport, faceset_coverage
from recast.provenance.label import read_sidecar
from recast.provenance.writer import mask_output_path

ProgressCallback = Callable[[int, int | None], None]

#: Without a dst faceset, the dst centroid is the mean embedding of this many dst-video faces
#: (spread over the evaluated frames): one person in one video needs few.
DST_VIDEO_SAMPLE = 50

log = logging.getLogger(__name__)


@dataclass
class FrameMetrics:
    """Metrics of one evaluated frame; ``None`` where a face was missing (or for the first frame's motion).

    Attributes:
        index: frame number, from 1.
        dst_face: whether a face was found in the destination frame.
        face_box: the destination face's detector box ``(left, top, right, bottom)``.
        src_distance / dst_distance: result embedding distance to the src / dst centroid.
        pose_error: ``(|Δpitch|, |Δyaw|, |Δroll|)`` degrees.
        expression / eyes / mouth: normalised landmark errors (inter-ocular units).
        motion_result / motion_dst: mean landmark motion since the previous evaluated frame (px).
        motion_excess: mean length of (result motion − destination motion) per landmark (px).
        detail: result face fine detail ÷ the destination's (1.0 = as much as the original).
        detail_ceiling: the same for a perfect model of the merge's resolution and face type.
        ceilings: model size → ceiling, on the frames the resolution ladder was measured on.
        sharpness: result face Laplacian energy ÷ the destination's (older figure; counts content).
        eye_sharpness / eye_brightness: the same detail ratio, and the mean grey-level ratio, in the
            eye region (lids and sockets; below 1 = softer / darker eyes).
        background_psnr: dB outside the face region; ``math.inf`` when identical.
    """

    index: int
    dst_face: bool = False
    face_box: tuple[float, float, float, float] | None = None
    src_distance: float | None = None
    dst_distance: float | None = None
    pose_error: tuple[float, float, float] | None = None
    expression: float | None = None
    eyes: float | None = None
    mouth: float | None = None
    motion_result: float | None = None
    motion_dst: float | None = None
    motion_excess: float | None = None
    detail: float | None = None
    detail_ceiling: float | None = None
    ceilings: dict[int, float | None] | None = None
    sharpness: float | None = None
    eye_sharpness: float | None = None
    eye_brightness: float | None = None
    background_psnr: float | None = None

    @property
    def closer_to_src(self) -> bool | None:
        """True when the result face is closer to the src identity than to the dst one."""
        if self.src_distance is None or self.dst_distance is None:
            return None
        return self.src_distance < self.dst_distance

    @property
    def same_person_as_src(self) -> bool | None:
        """True when the result face is within :data:`SAME_PERSON_DISTANCE` of src and closer to src than dst."""
        closer = self.closer_to_src
        if closer is None:
            return None
        return closer and self.src_distance is not None and self.src_distance < SAME_PERSON_DISTANCE

    def to_json(self) -> dict[str, object]:
        """JSON-safe dict; an infinite PSNR is written as ``null`` with ``background_identical: true``."""
        psnr = self.background_psnr
        identical = psnr is not None and math.isinf(psnr)
        return {
            "index": self.index,
            "dst_face": self.dst_face,
            "face_box": None if self.face_box is None else [round(float(v), 2) for v in self.face_box],
            "src_distance": _round(self.src_distance),
            "dst_distance": _round(self.dst_distance),
            "closer_to_src": self.closer_to_src,
            "same_person_as_src": self.same_person_as_src,
            "pose_error_deg": None if self.pose_error is None else [_round(v) for v in self.pose_error],
            "expression_error": _round(self.expression),
            "eyes_error": _round(self.eyes),
            "mouth_error": _round(self.mouth),
            "motion_result_px": _round(self.motion_result),
            "motion_dst_px": _round(self.motion_dst),
            "motion_excess_px": _round(self.motion_excess),
            "detail": _round(self.detail),
            "detail_ceiling": _round(self.detail_ceiling),
            "ceilings": None if self.ceilings is None else {str(k): _round(v) for k, v in self.ceilings.items()},
            "sharpness": _round(self.sharpness),
            "eye_sharpness": _round(self.eye_sharpness),
            "eye_brightness": _round(self.eye_brightness),
            "background_psnr_db": None if identical else _round(psnr),
            "background_identical": identical,
        }


@dataclass
class EvalReport:
    """What :func:`evaluate` measured: inputs, settings, per-frame metrics and timings.

    ``frames`` holds one :class:`FrameMetrics` per evaluated frame (every ``every``-th, from 1).
    ``frame_counts`` are the two inputs' frame counts as probed; ``length_mismatch`` is True when
    one input ended before the other (only the common frames are compared). ``dst_centroid_from``
    is ``"faceset"`` (``dst_faces`` given) or ``"video"``. ``model_resolution`` / ``model_face_type``
    are the merge's model (None when unknown: no ceiling at the model's size); ``model_from`` says
    where they came from (``"given"``, ``"sidecar"`` or None); the resolution ladder uses
    :attr:`ladder_face_type`. ``coverage`` is the src faceset's coverage
    of the dst faceset (None without ``dst_faces``). ``mask`` is the merge's mask video next to the
    result (:func:`recast.provenance.writer.mask_output_path`), None when there is none.
    """

    result: Path
    dst: Path
    src_faces: Path
    dst_faces: Path | None
    every: int
    frames: list[FrameMetrics] = field(default_factory=list)
    frames_decoded: int = 0
    frame_counts: tuple[int | None, int | None] = (None, None)
    length_mismatch: bool = False
    src_faces_used: int = 0
    dst_faces_used: int = 0
    dst_centroid_from: str = "video"
    model_resolution: int | None = None
    model_face_type: FaceType | None = None
    model_from: str | None = None
    coverage: CoverageReport | None = None
    mask: Path | None = None
    seconds: float = 0.0

    @property
    def ladder_face_type(self) -> FaceType:
        """Face type of the ceilings at :data:`~recast.eval.detail.CEILING_SIZES`: the model's, else ``full``."""
        return self.model_face_type or FaceType.FULL

    def summary(self) -> dict[str, object]:
        """Headline numbers (JSON-safe; see :func:`summarise`)."""
        return summarise(self.frames)

    def to_json(self) -> dict[str, object]:
        """The whole report as a JSON-safe dict (``summary`` + ``frames``)."""
        return {
            "format": "recast.eval",
            "version": 1,
            "inputs": {
                "result": str(self.result), "dst": str(self.dst), "src_faces": str(self.src_faces),
                "dst_faces": None if self.dst_faces is None else str(self.dst_faces),
                "mask": None if self.mask is None else str(self.mask),
            },
            "settings": {"every": self.every, "faceset_sample": CENTROID_SAMPLE, "dst_video_sample": DST_VIDEO_SAMPLE},
            "model": {
                "resolution": self.model_resolution,
                "face_type": None if self.model_face_type is None else str(self.model_face_type),
                "from": self.model_from, "ladder_face_type": str(self.ladder_face_type),
            },
            "identity": {
                "src_faces_used": self.src_faces_used, "dst_faces_used": self.dst_faces_used,
                "dst_centroid_from": self.dst_centroid_from,
            },
            "frames_decoded": self.frames_decoded,
            "frame_counts": {"result": self.frame_counts[0], "dst": self.frame_counts[1]},
            "length_mismatch": self.length_mismatch,
            "seconds": round(self.seconds, 3),
            "summary": self.summary(),
            "coverage": None if self.coverage is None else self.coverage.to_json(),
            "frames": [frame.to_json() for frame in self.frames],
        }


def evaluate(
    result: str | Path,
    dst: str | Path,
    src_faces: str | Path,
    dst_faces: str | Path | None = None,
    every: int = 1,
    on_progress: ProgressCallback | None = None,
    *,
    mask_margin: float = 0.2,
    model_resolution: int | None = None,
    model_face_type: FaceType | str | None = None,
) -> EvalReport:
    """Measure a swap result against its destination video; see the module docstring.

    Args:
        result: the swapped video (or folder of frames), same size and timing as ``dst``.
        dst: the destination video (or folder of frames).
        src_faces: aligned src faceset (folder or ``.rfs``): its identity centroid.
        dst_faces: aligned dst faceset for the dst centroid; None = the dst video's own faces.
        every: evaluate every N-th frame (1 = all).
        on_progress: ``on_progress(frames_decoded, total_or_None)``.
        mask_margin: face-region dilation for the background PSNR, × face width.
        model_resolution / model_face_type: the merge's model, for the detail ceiling; None =
            read from the result's provenance sidecar (``model.resolution`` / ``model.face_type``).

    Raises:
        InputError: unreadable inputs, frame sizes that differ, no face in any dst frame.
        OptionError: ``every`` < 1.
    """
    if every < 1:
        raise OptionError(f"--every must be at least 1, got {every}")
    started = time.perf_counter()
    report = EvalReport(Path(result), Path(dst), Path(src_faces), None if dst_faces is None else Path(dst_faces),
                        every)
    _set_model(report, model_resolution, model_face_type)
    result_frames, result_total = open_frames(report.result)
    dst_frames, dst_total = open_frames(report.dst)
    mask_frames = _open_mask(report)
    report.frame_counts = (result_total, dst_total)
    known = [t for t in (result_total, dst_total) if t]
    total = min(known) if known else None
    analyzer, embedder = shared_models()
    src_centroid, report.src_faces_used = faceset_centroid(report.src_faces, embedder)
    dst_embeddings: list[np.ndarray] = []
    if report.dst_faces is not None:
        dst_centroid, report.dst_faces_used = faceset_centroid(report.dst_faces, embedder)
        report.dst_centroid_from = "faceset"
        report.coverage = faceset_coverage(report.src_faces, report.dst_faces)
    expected = math.ceil(total / every) if total else DST_VIDEO_SAMPLE
    dst_stride = max(1, math.ceil(expected / DST_VIDEO_SAMPLE))

    result_embeddings: dict[int, np.ndarray] = {}
    previous: tuple[np.ndarray, np.ndarray] | None = None
    ladders = 0
    decoded = 0
    for (index, result_frame), (_dst_index, dst_frame) in _zip_frames(result_frames, dst_frames, report):
        decoded = index
        mask_item = None if mask_frames is None else next(mask_frames, None)
        if (index - 1) % every == 0:
            frame, faces = _measure(analyzer, embedder, index, result_frame, dst_frame, previous, mask_margin)
            report.frames.append(frame)
            previous = None
            if faces is not None:
                dst_face, result_landmarks, result_embedding = faces
                ladder = ladders < math.ceil(len(report.frames) / dst_stride)
                alpha = None if mask_item is None else _alpha(report, mask_item[1], result_frame.shape)
                _measure_detail(report, frame, result_frame, dst_frame, dst_face.landmarks, alpha, ladder)
                ladders += ladder
                previous = (dst_face.landmarks, result_landmarks)
                result_embeddings[len(report.frames) - 1] = result_embedding
                if report.dst_faces is None and (len(result_embeddings) - 1) % dst_stride == 0:
                    dst_embeddings.append(embedder.embed(to_rgb(dst_frame), dst_face.landmarks))
        if on_progress is not None:
            on_progress(index, total)
    report.frames_decoded = decoded
    if not result_embeddings:
        raise InputError(report.dst, "no face found in any evaluated frame")
    if report.dst_faces is None:
        dst_centroid = np.mean(np.asarray(dst_embeddings, dtype=np.float64), axis=0)
        report.dst_faces_used = len(dst_embeddings)
    for position, embedding in result_embeddings.items():
        report.frames[position].src_distance = identity_distance(embedding, src_centroid)
        report.frames[position].dst_distance = identity_distance(embedding, dst_centroid)
    report.seconds = time.perf_counter() - started
    log.info("evaluated %s against %s: %s", report.result, report.dst, report.summary())
    return report


def _set_model(report: EvalReport, resolution: int | None, face_type: FaceType | str | None) -> None:
    """The merge's model size and face type: as given, else from the result's provenance sidecar.

    Raises:
        OptionError: a given face type that is not one, or a resolution below 8.
    """
    if resolution is not None or face_type is not None:
        if resolution is not None and resolution < 8:
            raise OptionError(f"model resolution must be at least 8 px, got {resolution}")
        report.model_resolution, report.model_from = resolution, "given"
        report.model_face_type = None if face_type is None else parse_face_type(face_type)
        return
    try:
        model = read_sidecar(report.result).get("model")
    except (InputError, MetadataError):
        return
    if not isinstance(model, dict):
        return
    size, kind = model.get("resolution"), model.get("face_type")
    if isinstance(size, int) and size >= 8 and kind in tuple(FaceType):
        report.model_resolution, report.model_face_type, report.model_from = size, FaceType(kind), "sidecar"


def _measure_detail(report: EvalReport, frame: FrameMetrics, result_frame: np.ndarray, dst_frame: np.ndarray,
                    dst_landmarks: np.ndarray, alpha: np.ndarray | None, ladder: bool) -> None:
    """The frame's detail ratio (``alpha``: the merge's ``(H, W)`` mask in 0…1, or None), its ceiling
    at the model's size and, with ``ladder``, at every :data:`~recast.eval.detail.CEILING_SIZES`."""
    reference = detail_reference(dst_frame, dst_landmarks)
    if reference is None:
        return
    frame.detail = detail_ratio(result_frame, dst_frame, dst_landmarks, alpha, reference)
    face_type = report.ladder_face_type
    if ladder:
        frame.ceilings = {size: ceiling_ratio(dst_frame, dst_landmarks, size, face_type, reference)
                          for size in CEILING_SIZES}
    size = report.model_resolution
    if size is not None:  # a ladder size is not measured twice
        frame.detail_ceiling = (frame.ceilings[size] if frame.ceilings and size in frame.ceilings
                                else ceiling_ratio(dst_frame, dst_landmarks, size, face_type, reference))


def _open_mask(report: EvalReport) -> Iterator[tuple[int, np.ndarray]] | None:
    """The frames of the merge's mask video next to the result (sets ``report.mask``); None without one."""
    path = mask_output_path(report.result)
    if not path.exists():
        return None
    report.mask = path
    return open_frames(path)[0]


def _alpha(report: EvalReport, mask_frame: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``(H, W)`` float32 0…1 of a mask-video frame (BGR or grey uint8) the size of the result's frames."""
    grey = mask_frame.mean(axis=2) if mask_frame.ndim == 3 else mask_frame
    if grey.shape != shape[:2]:
        raise InputError(mask_output_path(report.result), f"mask frame size {grey.shape[1]}x{grey.shape[0]} "
                                                          f"differs from the result's {shape[1]}x{shape[0]}")
    return grey.astype(np.float32) / 255.0


@functools.lru_cache(maxsize=1)
def shared_models() -> tuple[FrameAnalyzer, DlibEmbedder]:
    """dlib HOG detector + 68 landmarks, and the embedder: loaded once per process (~3 s, ~250 MB).

    The analyzer does not embed (only the result face and a sample of dst faces need it).
    """
    return FrameAnalyzer(AnalyzeOptions(detector="dlib-hog")), DlibEmbedder()


def _measure(
    analyzer: FrameAnalyzer, embedder: DlibEmbedder, index: int, result_frame: np.ndarray, dst_frame: np.ndarray,
    previous: tuple[np.ndarray, np.ndarray] | None, mask_margin: float,
) -> tuple[FrameMetrics, tuple[FoundFace, np.ndarray, np.ndarray] | None]:
    """Metrics of one frame pair, plus (dst face, result landmarks, result embedding) when a face was found."""
    frame = FrameMetrics(index)
    found = analyzer.analyze(dst_frame)
    if not found:
        return frame, None
    dst_face = found[0]
    result_landmarks = result_face_landmarks(analyzer, result_frame, dst_face)
    result_embedding = embedder.embed(to_rgb(result_frame), result_landmarks)
    height, width = dst_frame.shape[:2]
    frame.dst_face = True
    frame.face_box = cast(tuple[float, float, float, float], tuple(float(v) for v in dst_face.rect))
    frame.pose_error = pose_error(dst_face.landmarks, result_landmarks, (width, height))
    errors = expression_error(dst_face.landmarks, result_landmarks)
    frame.expression, frame.eyes, frame.mouth = errors["expression"], errors["eyes"], errors["mouth"]
    frame.sharpness = sharpness_ratio(result_frame, dst_frame, dst_face.landmarks)
    frame.eye_sharpness, frame.eye_brightness = eye_region_ratios(result_frame, dst_frame, dst_face.landmarks)
    frame.background_psnr = background_psnr(result_frame, dst_frame, dst_face.landmarks, mask_margin)
    if previous is not None:
        dst_before, result_before = previous
        frame.motion_dst = landmark_motion(dst_before, dst_face.landmarks)
        frame.motion_result = landmark_motion(result_before, result_landmarks)
        frame.motion_excess = excess_motion(dst_before, dst_face.landmarks, result_before, result_landmarks)
    return frame, (dst_face, result_landmarks, result_embedding)


def result_face_landmarks(analyzer: FrameAnalyzer, result_frame: np.ndarray, dst_face: FoundFace) -> np.ndarray:
    """``(68, 2)`` landmarks of the result face that replaces ``dst_face``.

    Normally the landmarker runs inside the destination face's box. A face the detector found
    only in a rotated frame is searched again in the result frame (nearest to the dst face).
    """
    if dst_face.rotation == 0:
        return analyzer.landmarker.landmarks(to_rgb(result_frame), dst_face.rect)
    centre = dst_face.landmarks.mean(axis=0)
    candidates = [face.landmarks for face in analyzer.analyze(result_frame)]
    if not candidates:
        return dst_face.landmarks
    return min(candidates, key=lambda points: float(np.linalg.norm(points.mean(axis=0) - centre)))


def open_frames(path: Path) -> tuple[Iterator[tuple[int, np.ndarray]], int | None]:
    """``(index from 1, BGR frame)`` of a video file or a folder of frames, and the frame count if known."""
    from recast.media.images import list_images, read_image
    from recast.media.video import iter_frames, probe

    if path.is_dir():
        paths = list_images(path)
        if not paths:
            raise InputError(path, "holds no images (expected frames such as 00001.png)")
        return ((i, read_image(p)) for i, p in enumerate(paths, start=1)), len(paths)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    return iter_frames(path), probe(path).frame_count


def _zip_frames(
    result: Iterator[tuple[int, np.ndarray]], dst: Iterator[tuple[int, np.ndarray]], report: EvalReport,
) -> Iterator[tuple[tuple[int, np.ndarray], tuple[int, np.ndarray]]]:
    """Pairs of frames until either input ends; checks sizes, flags a length mismatch on the report."""
    while True:
        result_item, dst_item = next(result, None), next(dst, None)
        if result_item is None or dst_item is None:
            report.length_mismatch = (result_item is None) != (dst_item is None)
            return
        result_frame, dst_frame = result_item[1], dst_item[1]
        if result_frame.shape != dst_frame.shape:
            raise InputError(report.result, f"frame size {result_frame.shape[1]}x{result_frame.shape[0]} differs "
                                            f"from the destination's {dst_frame.shape[1]}x{dst_frame.shape[0]}")
        yield result_item, dst_item


def summarise(frames: list[FrameMetrics]) -> dict[str, object]:
    """Headline numbers over the evaluated frames (means over frames where a value exists).

    ``identity_same_person`` (the headline identity figure) is the share of frames with a face whose
    result is within :data:`SAME_PERSON_DISTANCE` of the src centroid and closer to it than to the dst
    centroid; ``identity_retrieval`` (secondary) only asks for closer to src than to dst.
    ``jitter_ratio`` = mean result motion / mean destination motion (1 = the swap moves like the
    original). ``detail`` = mean per-frame result ÷ destination fine detail (1 = as much);
    ``detail_ceiling`` the same for a perfect model of the merge's size, ``convergence`` = mean
    detail ÷ mean ceiling over the frames that have both, ``ceiling_by_resolution`` the mean ceiling
    per model size (frames of the ladder sample). ``sharpness`` = the older Laplacian-energy ratio;
    ``eye_sharpness`` / ``eye_brightness`` the same in the eye region, and its brightness ratio.
    ``background_psnr_db_*`` cover frames whose background changed;
    ``background_identical_frames`` counts those where it did not (PSNR ∞).
    """
    faces = [f for f in frames if f.dst_face]
    closer = [f.closer_to_src for f in faces if f.closer_to_src is not None]
    same = [f.same_person_as_src for f in faces if f.same_person_as_src is not None]
    poses = np.array([f.pose_error for f in faces if f.pose_error is not None]).reshape(-1, 3)
    psnr = [f.background_psnr for f in faces if f.background_psnr is not None]
    finite = [p for p in psnr if not math.isinf(p)]
    motion_result = _mean([f.motion_result for f in faces])
    motion_dst = _mean([f.motion_dst for f in faces])
    ratio = None
    if motion_result is not None and motion_dst is not None and motion_dst > 0:
        ratio = motion_result / motion_dst
    return {
        "frames_evaluated": len(frames),
        "frames_with_face": len(faces),
        "identity_same_person": _round(float(np.mean(same))) if same else None,
        "identity_retrieval": _round(float(np.mean(closer))) if closer else None,
        "src_distance": _round(_mean([f.src_distance for f in faces])),
        "dst_distance": _round(_mean([f.dst_distance for f in faces])),
        "pose_error_deg": _round(float(poses.mean())) if len(poses) else None,
        "pitch_error_deg": _round(float(poses[:, 0].mean())) if len(poses) else None,
        "yaw_error_deg": _round(float(poses[:, 1].mean())) if len(poses) else None,
        "roll_error_deg": _round(float(poses[:, 2].mean())) if len(poses) else None,
        "expression_error": _round(_mean([f.expression for f in faces])),
        "eyes_error": _round(_mean([f.eyes for f in faces])),
        "mouth_error": _round(_mean([f.mouth for f in faces])),
        "jitter_result_px": _round(motion_result),
        "jitter_dst_px": _round(motion_dst),
        "jitter_ratio": _round(ratio),
        "jitter_excess_px": _round(_mean([f.motion_excess for f in faces])),
        "detail": _round(_mean([f.detail for f in faces])),
        "detail_ceiling": _round(_mean([f.detail_ceiling for f in faces])),
        "convergence": _round(convergence(faces)),
        "ceiling_by_resolution": _ladder(faces),
        "sharpness": _round(_mean([f.sharpness for f in faces])),
        "eye_sharpness": _round(_mean([f.eye_sharpness for f in faces])),
        "eye_brightness": _round(_mean([f.eye_brightness for f in faces])),
        "background_psnr_db_mean": _round(float(np.mean(finite))) if finite else None,
        "background_psnr_db_min": _round(min(finite)) if finite else None,
        "background_identical_frames": len(psnr) - len(finite),
    }


def convergence(frames: list[FrameMetrics]) -> float | None:
    """Mean detail ÷ mean ceiling over the frames with both (None without any, or a ceiling of 0)."""
    pairs = [(f.detail, f.detail_ceiling) for f in frames if f.detail is not None and f.detail_ceiling is not None]
    ceiling = _mean([c for _, c in pairs])
    detail = _mean([d for d, _ in pairs])
    return None if not ceiling or detail is None else detail / ceiling


def _ladder(frames: list[FrameMetrics]) -> dict[str, float | None]:
    """``"64" → mean ceiling``, … over the frames where the ladder was measured (empty without any)."""
    sampled = [f.ceilings for f in frames if f.ceilings is not None]
    if not sampled:
        return {}
    return {str(size): _round(_mean([c.get(size) for c in sampled])) for size in CEILING_SIZES}


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _round(value: float | None, digits: int = 5) -> float | None:
    return None if value is None else round(float(value), digits)
