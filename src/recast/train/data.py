"""Lazy, deterministic, multi-process training batches of (src, dst) face pairs.

* :class:`FaceReader` opens a faceset (folder or pack, via :func:`recast.faceset.source.open_faceset`)
  or wraps an in-memory sequence of :class:`recast.faces.aligned.AlignedFace`; faces are decoded only
  when a sample needs them, never all held in RAM.
* :class:`BatchPlan` decides, for every iteration, which faces form the global batch and the seed of
  each sample's augmentation, from (seed, iteration) alone. So a resumed run sees the same batches as
  an uninterrupted one, and data-parallel ranks take disjoint slices of the same global batch. Faces
  are drawn in shuffled epochs, or by bins (:func:`sampling_bins`): uniformly over yaw bins
  (``uniform_yaw``), or src faces over mouth-openness bins weighted like the dst's (``match_mouth``).
* :class:`PairDataset` turns one plan entry into augmented arrays; a torch ``DataLoader`` with
  worker processes runs it (see :func:`make_loader`).

Batches are dicts of float32 tensors: ``{src,dst}_{warped,target}`` (N, 3, R, R) BGR in [0, 1] and
``{src,dst}_{mask,em}`` (N, 1, R, R).
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recast.color import transfer_sample
from recast.errors import InputError, OptionError, RecastError
from recast.faces.aligned import AlignedFace
from recast.faces.expression import mouth_openness
from recast.faces.facetype import FaceType
from recast.faces.metadata import FaceMeta
from recast.faceset.source import open_faceset
from recast.runtime.threads import init_worker_process
from recast.train.samples import SampleSpec, crop_face, make_sample

FaceSource = str | Path | Sequence[AlignedFace]
MAX_SKIPPED_IN_A_ROW = 16
"""A sample gives up (and training stops, saved) after this many unreadable faces in a row."""
YAW_BINS = 128
YAW_RANGE = 1.2
MOUTH_BINS = 10
MOUTH_RANGE = 1.0
"""``match_mouth`` bins mouth openness (:func:`recast.faces.expression.mouth_openness`: inner-lip gap ÷
inner mouth width, about 0 closed, 0.3-0.6 talking) into 10 bins of 0.1 over 0…1 (the last absorbs wider)."""


class FaceReader:
    """Lazy access to one faceset; safe to pickle into DataLoader workers (reopens there)."""

    def __init__(self, source: FaceSource) -> None:
        self.source = source
        self._faces: Any = None
        self._length = len(self._open())

    def _open(self) -> Any:
        if self._faces is None:
            self._faces = open_faceset(self.source) if isinstance(self.source, (str, Path)) else self.source
        return self._faces

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if isinstance(self.source, (str, Path)):
            state["_faces"] = None
        return state

    def __len__(self) -> int:
        return self._length

    def face(self, index: int) -> AlignedFace:
        return self._open()[index]

    def meta(self, index: int) -> FaceMeta:
        """Metadata of face ``index``, without decoding its pixels where the faceset allows."""
        faces = self._open()
        meta: FaceMeta = faces.meta(index) if hasattr(faces, "meta") else faces[index].meta
        return meta

    def face_type(self, index: int) -> FaceType:
        return self.meta(index).face_type

    def yaws(self) -> np.ndarray:
        """Yaw (radians) of every face, from metadata only."""
        return np.array([float(self.meta(i).pose[1]) for i in range(len(self))], dtype=np.float64)

    def mouth_openness(self) -> np.ndarray:
        """Mouth openness (:func:`recast.faces.expression.mouth_openness`) of every face, from metadata only."""
        return np.array([mouth_openness(self.meta(i).landmarks) for i in range(len(self))], dtype=np.float64)


def yaw_bins(yaws: np.ndarray) -> list[np.ndarray]:
    """Face indices grouped into 128 yaw bins over ±1.2 rad (ends absorb the rest); empty bins dropped."""
    edges = np.linspace(-YAW_RANGE, YAW_RANGE, YAW_BINS + 1)[1:-1]
    which = np.digitize(yaws, edges)
    return [np.flatnonzero(which == b) for b in range(YAW_BINS) if np.any(which == b)]


def mouth_bins(src_openness: np.ndarray, dst_openness: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Src face indices grouped by mouth openness (:data:`MOUTH_BINS` bins of 0.1; empty bins dropped), and
    each group's sampling weight: the dst's share of faces in that openness range. A range with dst faces
    but no src face gives its share to the nearest range that has src faces (split evenly on a tie), so
    the weights sum to 1.

    Args:
        src_openness: ``(N_src,)`` float, N_src ≥ 1.
        dst_openness: ``(N_dst,)`` float, N_dst ≥ 1.
    """
    edges = np.linspace(0.0, MOUTH_RANGE, MOUTH_BINS + 1)[1:-1]
    src_which, dst_which = np.digitize(src_openness, edges), np.digitize(dst_openness, edges)
    filled = np.flatnonzero(np.bincount(src_which, minlength=MOUTH_BINS))
    dst_share = np.bincount(dst_which, minlength=MOUTH_BINS) / len(dst_openness)
    weights = np.zeros(len(filled))
    for b in np.flatnonzero(dst_share):
        distance = np.abs(filled - b)
        nearest = distance == distance.min()
        weights[nearest] += dst_share[b] / np.count_nonzero(nearest)
    return [np.flatnonzero(src_which == b) for b in filled], weights


def sampling_bins(src: FaceReader, dst: FaceReader, uniform_yaw: bool,
                  match_mouth: bool) -> tuple[list[np.ndarray] | None, list[np.ndarray] | None, np.ndarray | None]:
    """The ``(src_bins, dst_bins, src_weights)`` of a :class:`BatchPlan` for these settings, from metadata.

    ``uniform_yaw`` draws both sides evenly over :func:`yaw_bins`; ``match_mouth`` draws src faces by
    :func:`mouth_bins`, weighted like the dst's mouth openness, and wins over ``uniform_yaw`` for src
    (the dst side keeps its uniform yaw).
    """
    src_bins = yaw_bins(src.yaws()) if uniform_yaw else None
    dst_bins = yaw_bins(dst.yaws()) if uniform_yaw else None
    if not match_mouth:
        return src_bins, dst_bins, None
    mouth, weights = mouth_bins(src.mouth_openness(), dst.mouth_openness())
    return mouth, dst_bins, weights


class _Picker:
    """Deterministic face indices for sample positions: shuffled epochs, or over bins — uniformly, or by
    ``weights`` (one per bin)."""

    def __init__(self, count: int, seed: int, stream: int, bins: list[np.ndarray] | None,
                 weights: np.ndarray | None = None) -> None:
        self.count, self.seed, self.stream, self.bins = count, seed, stream, bins
        self._epoch, self._perm = -1, np.arange(count)
        self._cumulative = None if weights is None else np.cumsum(np.asarray(weights, dtype=np.float64))
        if self._cumulative is not None and (bins is None or len(self._cumulative) != len(bins)
                                             or not self._cumulative[-1] > 0):
            raise ValueError("bin weights need one positive-sum weight per bin")

    def _bin(self, bins: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
        if self._cumulative is None:
            return bins[int(rng.integers(len(bins)))]
        drawn = int(np.searchsorted(self._cumulative, rng.random() * self._cumulative[-1], side="right"))
        return bins[min(drawn, len(bins) - 1)]

    def pick(self, position: int, rng: np.random.Generator) -> int:
        if self.bins:
            members = self._bin(self.bins, rng)
            return int(members[int(rng.integers(len(members)))])
        epoch = position // self.count
        if epoch != self._epoch:
            self._epoch = epoch
            self._perm = np.random.default_rng([self.seed, self.stream, epoch]).permutation(self.count)
        return int(self._perm[position % self.count])


class BatchPlan(torch.utils.data.Sampler):
    """Infinite sequence of per-iteration keys ``(src_i, dst_i, ct_i, sample_seed)`` for one rank.

    Iteration k's global batch holds ``global_batch`` keys; rank r takes slice r of ``world`` equal
    slices. ``start_iteration`` resumes the stream. ``src_bins`` / ``dst_bins`` (face indices per bin) draw
    a bin, then a face in it uniformly; bins are drawn uniformly, or src bins by ``src_weights``
    (:func:`sampling_bins`).
    """

    def __init__(self, n_src: int, n_dst: int, global_batch: int, seed: int, start_iteration: int = 0,
                 rank: int = 0, world: int = 1, src_bins: list[np.ndarray] | None = None,
                 dst_bins: list[np.ndarray] | None = None, src_weights: np.ndarray | None = None) -> None:
        if global_batch % world:
            raise OptionError(f"batch_size {global_batch} must be divisible by the number of processes ({world})")
        self.global_batch, self.seed, self.rank, self.world = global_batch, seed, rank, world
        self.start_iteration = start_iteration
        self.src = _Picker(n_src, seed, 1, src_bins, src_weights)
        self.dst = _Picker(n_dst, seed, 2, dst_bins)
        self.ct = _Picker(n_dst, seed, 3, None)

    def keys(self, iteration: int) -> list[tuple[int, int, int, int]]:
        rng = np.random.default_rng([self.seed, 7, iteration])
        keys = []
        for j in range(self.global_batch):
            pos = iteration * self.global_batch + j
            keys.append((self.src.pick(pos, rng), self.dst.pick(pos, rng), self.ct.pick(pos, rng),
                         int(rng.integers(2**62))))
        local = self.global_batch // self.world
        return keys[self.rank * local:(self.rank + 1) * local]

    def __iter__(self) -> Iterator[list[tuple[int, int, int, int]]]:
        iteration = self.start_iteration
        while True:
            yield self.keys(iteration)
            iteration += 1


@dataclass(frozen=True)
class PairSpec:
    """Sample specs for the src and dst sides plus the colour-transfer mode (src toward dst)."""

    src: SampleSpec
    dst: SampleSpec
    ct_mode: str = "none"


class PairDataset(torch.utils.data.Dataset):
    """Map-style dataset indexed by plan keys; returns one augmented (src, dst) pair as CHW arrays."""

    def __init__(self, src: FaceReader, dst: FaceReader, spec: PairSpec) -> None:
        self.src, self.dst, self.spec = src, dst, spec
        self.color_transfer = None if spec.ct_mode in ("", "none") else functools.partial(transfer_sample, spec.ct_mode)

    def __len__(self) -> int:
        return max(len(self.src), len(self.dst))

    def _sample(self, reader: FaceReader, index: int, spec: SampleSpec, rng: np.random.Generator,
                reference: np.ndarray | None, skipped: list[str]) -> dict[str, np.ndarray]:
        face = self._readable_face(reader, index, skipped)
        s = make_sample(face.image, face.meta.landmarks, face.meta.xseg_mask, face.meta.face_type, spec, rng,
                        self.color_transfer, reference)
        return {"warped": s.warped.transpose(2, 0, 1), "target": s.target.transpose(2, 0, 1),
                "mask": s.mask[None], "em": s.em[None]}

    @staticmethod
    def _readable_face(reader: FaceReader, index: int, skipped: list[str]) -> AlignedFace:
        """Face ``index``, or the next readable one; unreadable faces are named in ``skipped``.

        Raises:
            RecastError: :data:`MAX_SKIPPED_IN_A_ROW` faces in a row could not be read.
        """
        for attempt in range(MAX_SKIPPED_IN_A_ROW):
            try:
                return reader.face((index + attempt) % len(reader))
            except RecastError as error:
                skipped.append(str(error))
        raise InputError(str(reader.source), f"{MAX_SKIPPED_IN_A_ROW} faces in a row could not be read; "
                                             f"last: {skipped[-1]}")

    def __getitem__(self, key: tuple[int, int, int, int]) -> dict[str, Any]:  # type: ignore[override]
        src_i, dst_i, ct_i, seed = key
        rng = np.random.default_rng(seed)
        reference = None
        skipped: list[str] = []
        if self.color_transfer is not None:
            ref_face = self._readable_face(self.dst, ct_i, skipped)
            reference = crop_face(ref_face.image, ref_face.meta.landmarks, ref_face.meta.face_type,
                                  self.spec.src.resolution, self.spec.src.face_type)
        out: dict[str, Any] = {
            f"src_{k}": v for k, v in self._sample(self.src, src_i, self.spec.src, rng, reference, skipped).items()}
        out.update({f"dst_{k}": v for k, v in self._sample(self.dst, dst_i, self.spec.dst, rng, None, skipped).items()})
        out["skipped"] = skipped
        return out


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack a list of samples into (N, C, R, R) float32 tensors; ``skipped`` (unreadable faces,
    one message each) is concatenated into one list."""
    batch: dict[str, Any] = {k: torch.from_numpy(np.ascontiguousarray(np.stack([it[k] for it in items])))
                             for k in items[0] if k != "skipped"}
    batch["skipped"] = [message for it in items for message in it.get("skipped", [])]
    return batch


MAX_SOCKET_DIR = 80
"""Longest temporary folder in which multiprocessing can still open its AF_UNIX sockets (their paths are
limited to 107 bytes, and ``pymp-XXXXXXXX/listener-XXXXXXXX`` is appended)."""


def init_loader_worker(worker_id: int) -> None:
    """A DataLoader worker's set-up: one thread (:func:`init_worker_process`), and a temporary folder short
    enough for the socket through which it hands tensors to the trainer (under a long ``TMPDIR`` that socket
    cannot be made, and the first batch never arrives)."""
    init_worker_process()
    if len(tempfile.gettempdir()) > MAX_SOCKET_DIR:
        for candidate in ("/tmp", "/var/tmp", "/dev/shm"):
            if os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
                tempfile.tempdir = candidate
                break


def make_loader(dataset: PairDataset, plan: BatchPlan, workers: int) -> torch.utils.data.DataLoader:
    """DataLoader over ``plan`` with ``workers`` processes (0 = in the training process).

    Workers are *spawned*, not forked: forking a process whose OpenCV / OpenMP thread pools are
    running can deadlock the child. (So scripts that call ``train`` need the usual
    ``if __name__ == "__main__":`` guard.)
    """
    return torch.utils.data.DataLoader(
        dataset, batch_sampler=plan, num_workers=workers, collate_fn=collate,
        persistent_workers=workers > 0, prefetch_factor=4 if workers > 0 else None,
        worker_init_fn=init_loader_worker if workers > 0 else None,
        multiprocessing_context="spawn" if workers > 0 else None,
    )
