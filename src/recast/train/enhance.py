"""Train the identity-specific face enhancer (:mod:`recast.models.enhancer`) on the src faceset.

>>> result = train_enhancer("workspace/model/cpu", "workspace/data_src/aligned", "workspace/model/cpu_enhancer",
...                         minutes=10)

Pairs: every src face (up to ``max_faces``, spread over the faceset) is cropped as the swap model
crops it, at the enhancer's size S (twice the model's R by default, at most the faces' own
size). The *input* is what the trained swap model makes of that face — the crop shrunk to R,
through the autoencoder (src in, src decoder out: the person's own face as the model renders it),
enlarged back to S — and the *target* the crop itself. So the enhancer learns exactly the
degradation the merge produces, for this person. It trains on random ``patch`` × ``patch`` squares
(random mirror) with an L1 loss and Adam, until ``minutes`` (counted from the start, so making the
pairs is part of the budget) or ``iterations`` run out. Under ``torchrun`` each process trains on its
slice of every batch with the enhancer in ``DistributedDataParallel`` (:mod:`recast.train.distributed`);
rank 0 writes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recast.errors import InputError
from recast.faceset.source import open_faceset
from recast.models.checkpoint import check_writable
from recast.models.enhancer import EnhancerConfig, FaceEnhancer, resize_faces, save_enhancer
from recast.models.inference import FaceSwapper
from recast.train import distributed
from recast.train.loop import LoopLimits, StepOutcome, run_loop
from recast.train.samples import crop_face

log = logging.getLogger(__name__)


@dataclass
class EnhancerResult:
    """What :func:`train_enhancer` did: where it saved, its face size S, the steps, the last loss, and the L1
    error of the swap model's rendering (``before``) and of the enhanced one (``after``) on all pairs, at S;
    ``status`` ``done`` or ``interrupted`` (SIGINT/SIGTERM, saved) and a one-line ``message``."""

    folder: Path
    size: int
    iterations: int
    loss: float
    before: float
    after: float
    seconds: float
    status: str = "done"
    message: str = ""


def enhancer_pairs(swapper: FaceSwapper, faceset: str | Path, size: int, max_faces: int,
                   batch_size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """``(inputs, targets)``: (N, S, S, 3) uint8 BGR — the model's rendering of each src face, and the face."""
    faces = open_faceset(faceset)
    picks = np.unique(np.linspace(0, len(faces) - 1, min(max_faces, len(faces))).round().astype(int))
    targets = []
    for index in picks:
        face = faces[int(index)]
        targets.append(crop_face(face.image, face.meta.landmarks, face.meta.face_type, size, swapper.face_type))
    target = np.stack(targets)
    rendered = []
    for start in range(0, len(target), batch_size):
        small = resize_faces(target[start:start + batch_size], swapper.resolution)
        rendered.append(resize_faces(swapper.swap(small, masks=False)[0], size))
    return _to_uint8(np.concatenate(rendered)), _to_uint8(target)


class _EnhancerLoop:
    """The enhancer, its optimiser and pairs, as the loop shell's :class:`recast.train.loop.LoopBody`;
    every save writes the folder with the iterations so far and the errors before and after."""

    def __init__(self, enhancer: FaceEnhancer, inputs: np.ndarray, targets: np.ndarray, out_dir: Path,
                 facts: dict[str, Any], patch: int, batch_size: int, lr: float, device: str, seed: int,
                 dist: distributed.DistInfo) -> None:
        torch.manual_seed(seed)
        self.dist = dist
        self.forward = distributed.wrap_ddp(enhancer, dist, torch.device(device))
        self.enhancer, self.inputs, self.targets, self.out_dir, self.facts = enhancer, inputs, targets, out_dir, facts
        self.patch, self.batch_size, self.device = patch, batch_size, device
        self.rng = np.random.default_rng(seed)
        self.optimizer = torch.optim.Adam(enhancer.parameters(), lr=lr)
        self.iteration, self.loss = 0, float("nan")
        self.before = self.after = float("nan")

    def train_step(self) -> StepOutcome:
        x, y = _patches(self.inputs, self.targets, self.patch, self.batch_size, self.rng, self.device)
        local = slice(self.dist.rank * len(x) // self.dist.world, (self.dist.rank + 1) * len(x) // self.dist.world)
        loss = torch.nn.functional.l1_loss(self.forward(x[local]), y[local])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        logs = distributed.average_scalars({"loss": float(loss.detach())}, self.dist, torch.device(self.device))
        self.iteration, self.loss = self.iteration + 1, logs["loss"]
        return StepOutcome()

    def save(self) -> None:
        """Write the folder (rank 0) and wait for it on every rank."""
        if self.dist.is_main:
            self._write()
        distributed.barrier(self.dist)

    def _write(self) -> None:
        self.enhancer.eval()
        self.before, self.after = _errors(self.enhancer, self.inputs, self.targets, self.device)
        self.enhancer.train()
        save_enhancer(self.enhancer, self.out_dir, {**self.facts, "iterations": self.iteration, "loss": self.loss,
                                                    "l1_before": self.before, "l1_after": self.after})

    def backup(self) -> None:
        """No backups: an enhancer trains in minutes."""

    def weights_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.enhancer.parameters())


def train_enhancer(model_dir: str | Path, src_faces: str | Path, out_dir: str | Path, *, minutes: float | None = None,
                   iterations: int | None = None, size: int | None = None, channels: int = 32, blocks: int = 4,
                   patch: int = 64, batch_size: int = 8, lr: float = 5e-4, max_faces: int = 400,
                   device: str = "cpu", seed: int = 0, autosave_minutes: float = 25.0) -> EnhancerResult:
    """Train an enhancer for the model in ``model_dir`` on ``src_faces`` and save it in ``out_dir``.

    The loop is the shared shell (:mod:`recast.train.loop`): SIGINT and SIGTERM save and stop, an error
    saves before it propagates, and the folder is saved every ``autosave_minutes`` (0: only at the end).

    Raises:
        InputError: no limit given, or faces smaller than the model's resolution.
    """
    if minutes is None and iterations is None:
        raise InputError(Path(out_dir), "give minutes or iterations for the enhancer's training")
    started = time.monotonic()
    dist = distributed.setup(device)
    device = str(distributed.rank_device(device, dist))
    distributed.check_batch(batch_size, dist, "batch_size")
    check_writable(Path(out_dir))
    swapper = FaceSwapper.load(model_dir, device=device)
    side = open_faceset(src_faces)[0].image.shape[0]
    size = size or min(2 * swapper.resolution, side)
    if size < swapper.resolution:
        raise InputError(Path(src_faces), f"faces of {side} px are smaller than the model's {swapper.resolution} px")
    inputs, targets = enhancer_pairs(swapper, src_faces, size, max_faces)
    torch.manual_seed(seed)
    enhancer = FaceEnhancer(EnhancerConfig(size, swapper.resolution, str(swapper.face_type), channels, blocks))
    enhancer.to(device).train()
    facts = {"model_dir": str(model_dir), "src_faces": str(src_faces), "pairs": len(inputs)}
    body = _EnhancerLoop(enhancer, inputs, targets, Path(out_dir), facts, min(patch, size), batch_size, lr, device,
                         seed, dist)
    clock = distributed.shared_clock(dist, torch.device(device))
    outcome = run_loop(body, LoopLimits(iterations, minutes, autosave_minutes), started=clock() - (
        time.monotonic() - started), clock=clock, note=lambda line: log.warning("enhancer %s: %s", out_dir, line))
    enhancer.eval()
    result = EnhancerResult(Path(out_dir), size, body.iteration, body.loss, body.before, body.after,
                            time.monotonic() - started, outcome.status, outcome.message)
    log.info("enhancer %s: %s, %d iterations on %d faces, L1 %.4f → %.4f", out_dir, outcome.status, body.iteration,
             len(inputs), body.before, body.after)
    distributed.teardown(dist)
    return result


def _patches(inputs: np.ndarray, targets: np.ndarray, patch: int, count: int, rng: np.random.Generator,
             device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of aligned random (input, target) squares, mirrored at random; (N, 3, P, P) float in [0, 1]."""
    picks = rng.integers(len(inputs), size=count)
    corners = rng.integers(inputs.shape[1] - patch + 1, size=(count, 2))
    xs, ys = [], []
    for pick, (top, left) in zip(picks, corners, strict=True):
        a = inputs[pick, top:top + patch, left:left + patch]
        b = targets[pick, top:top + patch, left:left + patch]
        if rng.random() < 0.5:
            a, b = a[:, ::-1], b[:, ::-1]
        xs.append(a)
        ys.append(b)

    def tensor(images: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(np.stack(images))).permute(0, 3, 1, 2).float().div(255).to(device)

    return tensor(xs), tensor(ys)


@torch.no_grad()
def _errors(enhancer: FaceEnhancer, inputs: np.ndarray, targets: np.ndarray, device: str) -> tuple[float, float]:
    """Mean L1 (0–1 scale) of the renderings and of the enhanced renderings against the real faces."""
    before = after = 0.0
    for start in range(0, len(inputs), 8):
        x = torch.from_numpy(inputs[start:start + 8]).permute(0, 3, 1, 2).float().div(255).to(device)
        y = torch.from_numpy(targets[start:start + 8]).permute(0, 3, 1, 2).float().div(255).to(device)
        before += float((x - y).abs().mean()) * len(x)
        after += float((enhancer(x) - y).abs().mean()) * len(x)
    return before / len(inputs), after / len(inputs)


def _to_uint8(images: np.ndarray) -> np.ndarray:
    return (np.clip(images, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
