"""Sort a faceset folder by any of DeepFaceLab's methods (plus ``roll`` and identity ``face``).

Sorting renames the faces into order as ``<rank>_<original stem><suffix>`` (``00000_frame12_0.jpg``,
``00001_…``; at least 5 digits), and moves faces a method rejects to ``<folder>_trash/`` under their
original names. Nothing is deleted. All renames go through the folder's journal
(:mod:`recast.faceset.journal`), so every sort survives ``kill -9`` and is undone by :func:`restore`;
sorting an already sorted folder keeps the original stems.

Each method is a :class:`SortMethod` in :data:`SORT_METHODS`: a per-face ``feature`` (a pure function
of one :class:`FaceSample`, run in worker processes) and an ``arrange`` step (a pure function of all
features) that returns the order and the rejects.

Deliberate differences from DeepFaceLab's sorter:

* blur / motion-blur / hist-dissim look only at pixels inside the face hull (edges on the mask's
  own border, and the black outside it, are not counted); CPBD runs at 256 px.
* yaw / pitch come from the aligned landmarks with recast's generic 3-D face; ``roll`` is new.
* hist decodes faces at half size (same histograms, twice as fast) and chains ≤ 12,000 at a time.
* oneface groups faces by their stored ``source_filename``, so it works after renaming.
* absdiff compares 64 px thumbnails on the CPU; ``absdiff-dissim`` is its dissimilar variant.
* best shares ``target`` among yaw bins exactly (DeepFaceLab's ``round(T/128)`` is 0 for T < 64).
* face (identity) is new.

>>> result = sort_faceset("data_src/aligned", "blur")
>>> restore("data_src/aligned")
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from recast.errors import InputError, OptionError
from recast.faces.aligned import meta_from_bytes
from recast.faces.metadata import FaceMeta
from recast.faceset import chains, features
from recast.faceset.files import (
    ProgressCallback,
    map_faces,
    natural_key,
    require_faces,
    trash_moves,
)
from recast.faceset.journal import Journal, RestoreResult
from recast.media.images import decode_image, image_size
from recast.options import option


@dataclass
class FaceSample:
    """One face as a feature function sees it.

    Attributes:
        meta: its metadata.
        size: side of the stored aligned image in pixels.
        image: ``(S, S, 3) uint8 BGR`` (``(S, S)`` grey for ``gray`` methods), or None for
            metadata-only methods. A method with
            ``half_res`` gets it decoded at half size (``S/2``); one with ``reduce_large`` too when
            ``S >= 512`` (its measures work at 256 px anyway). Landmarks always refer to ``size``.
    """

    meta: FaceMeta
    size: int
    image: np.ndarray | None = None


def _method_names() -> tuple[str, ...]:
    return tuple(SORT_METHODS)


@dataclass
class SortOptions:
    """How a faceset is sorted: the method, its options and the worker count (``recast sort``'s flags and
    the studio's sort form are generated from the declared ones).

    Attributes:
        method: a key of :data:`SORT_METHODS` (:func:`sort_faceset` takes it as an argument).
        target: number of faces ``best`` / ``best-fast`` keep (the rest go to the trash).
        max_distance: ``face`` moves faces farther than this from the identity to the trash (None: keep all).
        workers: processes computing per-face scores (:func:`sort_faceset` takes it as an argument).
        yaw_bins: yaw bins of ``best`` (DeepFaceLab: 128).
        references: photos (or aligned faces) of the person, for ``face``.
        hist_chunk: ``hist`` chains at most this many faces at a time (memory: ``4 chunk²`` bytes).
        absdiff_size: ``absdiff`` compares faces scaled to this side.
    """

    OPTIONS_NOUN: ClassVar[str] = "sort option"

    method: str = option("blur", "Sort method (renames to 00000_<name>…; rejects → the trash folder)",
                         choices=_method_names, flag="by")
    target: int = option(2000, "best / best-fast: number of faces to keep", ge=1, le=10_000_000)
    max_distance: float | None = option(None, "face: move faces farther than this to the trash", ge=0,
                                        default_text="keep all")
    workers: int = option(2, "Processes computing per-face scores", ge=1, le=64)
    yaw_bins: int = 128
    references: Sequence[Path] = ()
    hist_chunk: int = 12000
    absdiff_size: int = 64


@dataclass
class Arrangement:
    """What a method decided: the kept faces in order, the rejects, and a score per face (or None)."""

    order: list[int]
    trash: list[int] = field(default_factory=list)
    scores: Sequence[float] | None = None


@dataclass(frozen=True)
class SortMethod:
    """A sort method: ``feature(sample) -> value`` per face, then ``arrange(values, names, options)``.

    Flags: ``pixels`` (False: metadata only, no decoding), ``gray`` (decode grey), ``half_res`` /
    ``reduce_large`` (see :class:`FaceSample`), ``compares_images`` (refuse mixed face types).
    """

    name: str
    summary: str
    feature: Callable[[FaceSample], Any]
    arrange: Callable[[list[Any], list[str], SortOptions], Arrangement]
    pixels: bool = True
    gray: bool = False
    half_res: bool = False
    reduce_large: bool = False
    compares_images: bool = False


@dataclass
class SortResult:
    """What :func:`sort_faceset` did: new names of kept faces in order, trashed originals, scores."""

    method: str
    kept: list[str]
    trashed: list[str]
    scores: dict[str, float]
    folder: Path


def _by_score(descending: bool, trash_zero: bool = False) -> Callable[[list[Any], list[str], SortOptions], Arrangement]:
    def arrange(values: list[Any], names: list[str], options: SortOptions) -> Arrangement:
        scores = np.asarray(values, dtype=np.float64)
        order = np.argsort(-scores if descending else scores, kind="stable").tolist()
        rejected = [trash_zero and scores[i] <= 0 for i in range(len(values))]
        trash = [i for i in order if rejected[i]]
        return Arrangement([i for i in order if not rejected[i]], trash, scores.tolist())

    return arrange


def _masked(sample: FaceSample) -> tuple[np.ndarray, np.ndarray]:
    assert sample.image is not None
    return sample.image, features.face_mask(sample.meta, sample.image.shape[0], sample.size)


def _blur(s: FaceSample) -> float:
    return features.sharpness(*_masked(s))


def _motion_blur(s: FaceSample) -> float:
    return features.laplacian_variance(*_masked(s))


def _yaw(s: FaceSample) -> float:
    return features.aligned_pose(s.meta, s.size)[1]


def _pitch(s: FaceSample) -> float:
    return features.aligned_pose(s.meta, s.size)[0]


def _roll(s: FaceSample) -> float:
    return features.roll(s.meta)


def _size(s: FaceSample) -> float:
    return features.rect_area(s.meta)


def _color_hist(s: FaceSample) -> np.ndarray:
    assert s.image is not None
    return features.color_histogram(s.image)


def _gray_hist(s: FaceSample) -> np.ndarray:
    return features.gray_histogram(*_masked(s))


def _brightness(s: FaceSample) -> float:
    assert s.image is not None
    return features.hsv_means(s.image)[1]


def _hue(s: FaceSample) -> float:
    assert s.image is not None
    return features.hsv_means(s.image)[0]


def _black(s: FaceSample) -> float:
    assert s.image is not None
    return float(features.black_count(s.image))


def _source_name(s: FaceSample) -> str:
    return s.meta.source_filename


def _thumb(s: FaceSample, side: int = 64) -> np.ndarray:
    assert s.image is not None
    small = cv2.resize(s.image, (side, side), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32).ravel()


def _best_values(s: FaceSample, fast: bool) -> tuple[float, float, float, np.ndarray]:
    image, mask = _masked(s)
    quality = features.rect_area(s.meta) if fast else features.sharpness(image, mask)
    pitch, yaw = features.aligned_pose(s.meta, s.size)
    return quality, pitch, yaw, features.gray_histogram(image, mask)


def _best(s: FaceSample) -> tuple[float, float, float, np.ndarray]:
    return _best_values(s, fast=False)


def _best_fast(s: FaceSample) -> tuple[float, float, float, np.ndarray]:
    return _best_values(s, fast=True)


def _face_embedding(s: FaceSample) -> np.ndarray:
    from recast.faceset.identity import face_embedding

    assert s.image is not None
    return face_embedding(s.image, s.meta)


def _arrange_hist(values: list[Any], names: list[str], options: SortOptions) -> Arrangement:
    hists = np.stack(values)
    order: list[int] = []
    for start in range(0, len(values), max(options.hist_chunk, 2)):
        chunk = hists[start : start + options.hist_chunk]
        order += [start + i for i in chains.greedy_chain(chains.distance_matrix_hist(chunk, channels=3))]
    return Arrangement(order)


def _arrange_hist_dissim(values: list[Any], names: list[str], options: SortOptions) -> Arrangement:
    scores = chains.dissimilarity(np.stack(values))
    return Arrangement(np.argsort(-scores, kind="stable").tolist(), scores=scores.tolist())


def _arrange_origname(values: list[Any], names: list[str], options: SortOptions) -> Arrangement:
    return Arrangement(sorted(range(len(values)), key=lambda i: (natural_key(values[i]), natural_key(names[i]))))


def _arrange_oneface(values: list[Any], names: list[str], options: SortOptions) -> Arrangement:
    per_frame: dict[str, int] = defaultdict(int)
    for source in values:
        per_frame[source] += 1
    trash = [i for i, source in enumerate(values) if per_frame[source] > 1]
    return Arrangement([i for i in range(len(values)) if per_frame[values[i]] == 1], trash)


def _absdiff(farthest: bool) -> Callable[[list[Any], list[str], SortOptions], Arrangement]:
    def arrange(values: list[Any], names: list[str], options: SortOptions) -> Arrangement:
        distances = chains.distance_matrix_l1(np.stack(values) / 255.0)
        return Arrangement(chains.greedy_chain(distances, farthest=farthest))

    return arrange


def _arrange_best(values: list[Any], names: list[str], options: SortOptions) -> Arrangement:
    if options.target < 1:
        raise OptionError(f"--target {options.target}: must be at least 1")
    quality = np.array([v[0] for v in values], dtype=np.float64)
    chosen = chains.best_faces(
        quality, np.array([v[1] for v in values]), np.array([v[2] for v in values]),
        np.stack([v[3] for v in values]), options.target, options.yaw_bins,
    )
    kept = set(chosen)
    return Arrangement(chosen, [i for i in range(len(values)) if i not in kept], quality.tolist())


def _arrange_face(values: list[Any], names: list[str], options: SortOptions) -> Arrangement:
    from recast.faceset.identity import identity_distances

    distances = identity_distances(np.stack(values), options.references)
    order = np.argsort(distances, kind="stable").tolist()
    limit = options.max_distance
    trash = [i for i in order if limit is not None and distances[i] > limit]
    return Arrangement([i for i in order if limit is None or distances[i] <= limit], trash, distances.tolist())


SORT_METHODS: dict[str, SortMethod] = {
    m.name: m
    for m in (
        SortMethod("blur", "CPBD sharpness of the face (hull mask), sharpest first; no edges at all → trash",
                   _blur, _by_score(True, trash_zero=True), reduce_large=True, gray=True),
        SortMethod("motion-blur", "variance of the Laplacian (kernel 11) inside the face, highest first",
                   _motion_blur, _by_score(True), gray=True),
        SortMethod("yaw", "yaw from the aligned landmarks (solvePnP), descending", _yaw, _by_score(True), pixels=False),
        SortMethod("pitch", "pitch from the aligned landmarks, descending", _pitch, _by_score(True), pixels=False),
        SortMethod("roll", "in-plane rotation in the source frame (from the crop matrix), descending",
                   _roll, _by_score(True), pixels=False),
        SortMethod("size", "area of the detector box in the source frame, biggest first",
                   _size, _by_score(True), pixels=False),
        SortMethod("hist", "similarity chain: each face followed by the one with the closest B/G/R histograms",
                   _color_hist, _arrange_hist, half_res=True, compares_images=True),
        SortMethod("hist-dissim", "grey histogram of the face, most unlike all others first",
                   _gray_hist, _arrange_hist_dissim, reduce_large=True, compares_images=True, gray=True),
        SortMethod("brightness", "mean HSV value, brightest first", _brightness, _by_score(True)),
        SortMethod("hue", "mean HSV hue, highest first", _hue, _by_score(True)),
        SortMethod("black", "count of black (zero) channel values, fewest first", _black, _by_score(False)),
        SortMethod("origname", "source frame name (temporal order)", _source_name, _arrange_origname, pixels=False),
        SortMethod("oneface", "faces of frames that hold several faces → trash", _source_name, _arrange_oneface,
                   pixels=False),
        SortMethod("absdiff", "similarity chain by the sum of absolute pixel differences (64 px)",
                   _thumb, _absdiff(False), compares_images=True),
        SortMethod("absdiff-dissim", "chain stepping to the most different face each time (64 px absdiff)",
                   _thumb, _absdiff(True), compares_images=True),
        SortMethod("best", "keep --target faces spread over yaw/pitch, sharpest (CPBD) first; rest → trash",
                   _best, _arrange_best, reduce_large=True, compares_images=True, gray=True),
        SortMethod("best-fast", "like best, quality = source box area (no sharpness pass)",
                   _best_fast, _arrange_best, reduce_large=True, compares_images=True, gray=True),
        SortMethod("face", "identity: closest to --reference photos (or the set's main person) first",
                   _face_embedding, _arrange_face),
    )
}


_DECODE = {
    (False, False): cv2.IMREAD_COLOR, (False, True): cv2.IMREAD_REDUCED_COLOR_2,
    (True, False): cv2.IMREAD_GRAYSCALE, (True, True): cv2.IMREAD_REDUCED_GRAYSCALE_2,
}


def create_sort_method(name: str) -> SortMethod:
    """The registered method ``name``; raises :class:`OptionError` listing the choices."""
    try:
        return SORT_METHODS[name]
    except KeyError:
        raise OptionError(f"unknown sort method {name!r}; choose one of {', '.join(SORT_METHODS)}") from None


def sample_feature(method_name: str, path: Path) -> tuple[str, Any]:
    """Worker entry: read one face and compute ``(face_type, feature)`` for a method."""
    method = SORT_METHODS[method_name]
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror or error}") from None
    meta = meta_from_bytes(raw, path)
    size = (image_size(raw) or (0, 0))[0]
    image = None
    if method.pixels:
        half = method.half_res or (method.reduce_large and size >= 512)
        flags = _DECODE[method.gray, half]
        image = decode_image(raw, path, flags)
        size = size or image.shape[1] * (2 if half else 1)
    return meta.face_type.value, method.feature(FaceSample(meta, size or 256, image))



def sort_faceset(
    folder: str | Path, method: str, *, workers: int = SortOptions.workers, on_progress: ProgressCallback | None = None,
    **opts: Any,
) -> SortResult:
    """Sort the faces of ``folder`` by ``method`` (a key of :data:`SORT_METHODS`).

    Args:
        folder: folder of aligned faces.
        method: method name.
        workers: processes computing per-face features.
        on_progress: ``on_progress(done, total)`` while features are computed.
        **opts: fields of :class:`SortOptions`.

    Raises:
        OptionError: unknown method or option.
        InputError / MetadataError: a file is not an aligned face, or (for methods that compare
            images) the folder mixes face types. Nothing is renamed then.
    """
    folder = Path(folder)
    chosen = create_sort_method(method)
    try:
        options = SortOptions(**opts)
    except TypeError as error:
        raise OptionError(f"sort option: {error}") from None
    journal = Journal(folder)
    journal.recover()
    paths = require_faces(folder)
    results = map_faces(functools.partial(sample_feature, method), paths, workers, on_progress)
    if chosen.compares_images:
        _check_one_face_type(folder, paths, [r[0] for r in results])
    names = [p.name for p in paths]
    arrangement = chosen.arrange([r[1] for r in results], names, options)
    moves, kept, trashed = _plan(folder, names, arrangement, journal.original_names())
    journal.move(moves, {"action": "sort", "method": method})
    scores = {} if arrangement.scores is None else {
        kept[k]: float(arrangement.scores[i]) for k, i in enumerate(arrangement.order)
    }
    return SortResult(method, kept, trashed, scores, folder)


def _check_one_face_type(folder: Path, paths: list[Path], types: list[str]) -> None:
    counts: dict[str, int] = defaultdict(int)
    for t in types:
        counts[t] += 1
    if len(counts) > 1:
        minority = min(counts, key=lambda t: counts[t])
        example = paths[types.index(minority)].name
        summary = ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))
        raise InputError(folder, f"mixes face types ({summary}; e.g. {example} is {minority}); "
                         "this method compares images, sort one face type at a time")


def _plan(
    folder: Path, names: list[str], arrangement: Arrangement, originals: dict[str, str]
) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    digits = max(5, len(str(len(names))))
    moves, kept = [], []
    for rank, i in enumerate(arrangement.order):
        original = Path(originals.get(names[i], names[i]))
        new = f"{rank:0{digits}d}_{original.stem}{original.suffix}"
        moves.append((names[i], new))
        kept.append(new)
    trash_part = trash_moves(folder, [names[i] for i in arrangement.trash], originals)
    moves += trash_part
    trashed = [Path(target).name for _, target in trash_part]
    return moves, kept, trashed


def restore(folder: str | Path) -> RestoreResult:
    """Undo every sort (and trash move) recorded in the folder's journal: original names come back.

    Raises:
        InputError: the folder has no journal.
    """
    journal = Journal(folder)
    if not journal.exists:
        raise InputError(folder, "has no sort journal (.recast-sort.json): nothing to restore")
    return journal.restore()
