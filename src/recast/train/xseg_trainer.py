"""Train (or resume) an XSeg mask model on aligned faces of src and dst.

``train_xseg(XSegTrainOptions(...)) -> XSegTrainResult``. The model folder has the layout of every
recast model (:mod:`recast.models.checkpoint`): config.json (preset name + full
:class:`recast.models.xseg_config.XSegConfig`), crash-safe checkpoints with weights and Adam
state as safetensors, ``state.json`` with the settings, which a resumed run reuses unless it
overrides them, and ``previews/`` (``preview.png``: input | target | prediction | overlay rows,
``loss.png``, ``loss_history.json``).

Faces with XSeg labels train with their labels. With ``unlabelled = hull`` (the default), the
other faces train with their landmark hull — so a model trains *out of the box*, with no labels —
and synthetic occluders pasted over every kind of face teach it to cut hands, hair and objects
out (:mod:`recast.train.xseg_samples`). Loss: mean sigmoid cross-entropy (DeepFaceLab's) plus a
soft-Dice term on the face. Progress goes to ``on_event`` as :class:`recast.train.options.ProgressEvent`.
The loop is the shared shell (:mod:`recast.train.loop`): SIGINT and SIGTERM save and stop, an error saves
before it propagates; a non-finite loss stops and keeps the last save. Under ``torchrun`` each process
trains on its slice of every batch with the model in ``DistributedDataParallel``
(:mod:`recast.train.distributed`); rank 0 writes. Batch norm (the ``bn`` presets) normalises over each
process's slice.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from recast.errors import InputError, OptionError
from recast.faces.facetype import parse_face_type
from recast.faceset.files import require_faces
from recast.models import checkpoint as ckpt
from recast.models.xseg import XSeg
from recast.models.xseg_config import DEFAULT_XSEG, xseg_config
from recast.models.xseg_inference import check_saved_xseg
from recast.options import from_mapping
from recast.runtime.devices import resolve_device
from recast.runtime.threads import apply_torch_threads, plan_threads
from recast.train import distributed
from recast.train.data import make_loader
from recast.train.loop import LoopLimits, StepOutcome, run_loop
from recast.train.optim import create_optimizer, load_optimizer_tensors, optimizer_tensors
from recast.train.options import ProgressEvent
from recast.train.previews import write_previews
from recast.train.xseg_options import XSegSettings
from recast.train.xseg_samples import XSegDataset, XSegPlan, XSegPool, XSegSampleSpec, read_occluder_images

log = logging.getLogger(__name__)

@dataclass
class XSegTrainOptions:
    """One XSeg training run.

    faces: folders of aligned faces (src and dst). model_dir: created if new, resumed if not.
    model: preset for a new model (``xseg``, ``xseg-cpu``; None = the saved one, or
    :data:`recast.models.xseg_config.DEFAULT_XSEG`). model_config: overrides for a new model.
    settings: :class:`XSegSettings` overrides. iterations: target iteration (counting earlier runs);
    more: iterations of this run; minutes: time of this run; none of them = until Ctrl-C.
    occluders: a folder of images to cut extra occluders from. workers: data processes (None:
    automatic). preview_every: iterations between previews (0 = off). autosave_minutes: minutes
    between saves (0 = only at the end). autobackup_hours: hours between kept backups (0 = off), the
    ``backup_count`` newest kept.
    """

    faces: Sequence[Path]
    model_dir: Path
    model: str | None = None
    model_config: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    iterations: int | None = None
    more: int | None = None
    minutes: float | None = None
    occluders: Path | None = None
    device: str = "cpu"
    threads: int | None = None
    workers: int | None = None
    seed: int = 0
    preview_every: int = 100
    autosave_minutes: float = 25.0
    autobackup_hours: float = 0.0
    backup_count: int = 24
    on_event: Callable[[ProgressEvent], None] | None = None


@dataclass
class XSegTrainResult:
    """status: 'done', 'interrupted' or 'diverged'; loss: the last iteration's; history: iteration, loss."""

    model_dir: Path
    iteration: int
    status: str
    message: str = ""
    loss: float = float("nan")
    ms_per_iter: float = 0.0
    history: dict[str, list[float]] = field(default_factory=dict)


def xseg_loss(logits: torch.Tensor, target: torch.Tensor, dice_weight: float) -> torch.Tensor:
    """Mean sigmoid cross-entropy + ``dice_weight`` · (1 − soft Dice) over the batch; (N, 1, H, W) each."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    if dice_weight <= 0:
        return bce
    prob = torch.sigmoid(logits)
    inter = (prob * target).sum(dim=(1, 2, 3))
    dice = (2 * inter + 1) / (prob.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3)) + 1)
    return bce + dice_weight * (1 - dice).mean()


class _XSegLoop:
    """The XSeg model, its optimiser, data and history, as the loop shell's :class:`recast.train.loop.LoopBody`."""

    def __init__(self, options: XSegTrainOptions) -> None:
        self.options = options
        self.emit = options.on_event or (lambda event: None)
        self.model_dir = Path(options.model_dir)
        device = resolve_device(options.device)
        self.dist = distributed.setup(device)
        self.device = distributed.rank_device(device, self.dist)
        apply_torch_threads(plan_threads(options.threads, processes=int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
        ckpt.check_writable(self.model_dir)
        self.model, self.name, state, checkpoint = _model(options, self.model_dir)
        saved = dict(state.get("settings", {}))
        try:
            self.settings = from_mapping(XSegSettings, {**saved, **options.settings})
        except OptionError as error:
            raise OptionError(f"XSeg training: {error}") from None
        distributed.check_batch(self.settings.batch_size, self.dist)
        self.seed = int(state.get("seed", options.seed))
        self.iteration = int(state.get("iteration", 0))
        self.history = _history(checkpoint.history if checkpoint else {})
        self.model.to(self.device).train()
        distributed.broadcast_module(self.model, self.dist)
        self.forward = distributed.wrap_ddp(self.model, self.dist, self.device)
        self.optimizer = create_optimizer("adam", list(self.model.parameters()), self.settings.lr, self.device)
        self.names = {id(p): n for n, p in self.model.named_parameters()}
        if checkpoint is not None and not load_optimizer_tensors(self.optimizer, checkpoint.optimizer, self.names,
                                                                 "model"):
            self.emit(ProgressEvent("info", self.iteration, message="optimizer state did not fit; reset"))
        for group in self.optimizer.param_groups:
            group["lr"] = self.settings.lr
        self.batches = iter(_loader(options, self.settings, self.model.config.face_type, self.seed, self.iteration,
                                    self.dist))
        self.elapsed = float(state.get("elapsed_seconds", 0.0))
        self.loss, self.step_total, self.steps = float("nan"), 0.0, 0
        if checkpoint is None:
            if self.dist.is_main:
                ckpt.write_model_config(self.model_dir, self.name, dataclasses.asdict(self.model.config))
            self.save()

    def train_step(self) -> StepOutcome:
        t0 = time.perf_counter()
        batch = next(self.batches)
        faces, masks = batch["face"].to(self.device), batch["mask"].to(self.device)
        loss = xseg_loss(self.forward(faces), masks, self.settings.dice_weight)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.loss = distributed.average_scalars({"loss": float(loss.detach())}, self.dist, self.device)["loss"]
        if not np.isfinite(self.loss):
            return StepOutcome(diverged=f"loss became {self.loss} at iteration {self.iteration + 1}; kept the last "
                                        "save")
        self.optimizer.step()
        step = time.perf_counter() - t0
        self.step_total += step
        self.elapsed += step
        self.iteration += 1
        self.steps += 1
        self.history["iteration"].append(self.iteration)
        self.history["loss"].append(round(self.loss, 6))
        self.emit(ProgressEvent("iteration", self.iteration, 1000 * self.step_total / self.steps, {"loss": self.loss}))
        if self.options.preview_every and self.iteration % self.options.preview_every == 0 and self.dist.is_main:
            _preview(self.model, faces, masks, self.model_dir, self.iteration, self.history)
            self.emit(ProgressEvent("preview", self.iteration))
        return StepOutcome()

    def save(self) -> None:
        """Write a checkpoint (rank 0) and wait for it on every rank."""
        if self.dist.is_main:
            record = {"model": self.name, "settings": dataclasses.asdict(self.settings), "seed": self.seed,
                      "elapsed_seconds": round(self.elapsed, 3)}
            ckpt.save_checkpoint(self.model_dir, self.iteration,
                                 {f"model.{k}": v for k, v in self.model.state_dict().items()},
                                 optimizer_tensors(self.optimizer, self.names, "model"), record, self.history)
            self.emit(ProgressEvent("save", self.iteration, message=str(self.model_dir)))
        distributed.barrier(self.dist)

    def backup(self) -> None:
        if self.dist.is_main:
            ckpt.backup(self.model_dir, self.options.backup_count)
            self.emit(ProgressEvent("backup", self.iteration))

    def weights_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.model.parameters())


def train_xseg(options: XSegTrainOptions) -> XSegTrainResult:
    """Train (or resume) the XSeg model in ``options.model_dir``; see the module docstring."""
    body = _XSegLoop(options)
    o = options
    target = o.iterations if o.iterations is not None else (body.iteration + o.more if o.more is not None else None)
    outcome = run_loop(body, LoopLimits(target, o.minutes, o.autosave_minutes, o.autobackup_hours),
                       note=lambda line: body.emit(ProgressEvent("info", body.iteration, message=line)),
                       clock=distributed.shared_clock(body.dist, body.device))
    result = XSegTrainResult(body.model_dir, body.iteration, outcome.status, outcome.message, body.loss,
                             1000 * body.step_total / max(outcome.steps, 1), body.history)
    body.emit(ProgressEvent("done", body.iteration, result.ms_per_iter, {"loss": body.loss}, outcome.message))
    log.info("xseg train %s: %s at iteration %d, %.0f ms/iter", body.model_dir, outcome.status, body.iteration,
             result.ms_per_iter)
    distributed.teardown(body.dist)
    return result


def _model(options: XSegTrainOptions, model_dir: Path) -> tuple[XSeg, str, dict[str, Any], ckpt.Checkpoint | None]:
    """The new or saved model, its preset name, its saved state and checkpoint (None for a new one)."""
    torch.manual_seed(options.seed)
    if not (model_dir / ckpt.CONFIG_FILE).is_file():
        name = (options.model or DEFAULT_XSEG).lower()
        return XSeg(xseg_config(name, **options.model_config)), name, {}, None
    name, config = check_saved_xseg(model_dir)
    if options.model and options.model.lower() != name:
        raise OptionError(f"{model_dir} holds a {name!r} model, not {options.model!r}")
    for key, value in options.model_config.items():
        if getattr(config, key, value) != value:
            raise OptionError(f"{key} is fixed when a model is created (this model has {getattr(config, key)!r}); "
                              "use a new model folder to change it")
    model = XSeg(config)
    checkpoint = ckpt.load_checkpoint(model_dir)
    if checkpoint is None:
        return model, name, {}, None
    model.load_state_dict({k[len("model."):]: v for k, v in checkpoint.weights.items() if k.startswith("model.")})
    return model, name, checkpoint.state, checkpoint


def _history(saved: Any) -> dict[str, list[float]]:
    ok = isinstance(saved, dict) and set(saved) == {"iteration", "loss"} and all(
        isinstance(saved[k], list) for k in saved) and len(saved["iteration"]) == len(saved["loss"])
    return {"iteration": list(saved["iteration"]), "loss": list(saved["loss"])} if ok else {"iteration": [],
                                                                                           "loss": []}


def _loader(options: XSegTrainOptions, settings: XSegSettings, face_type: str, seed: int,
            iteration: int, dist: distributed.DistInfo) -> torch.utils.data.DataLoader:
    paths = [path for folder in options.faces for path in require_faces(folder)]
    if not paths:
        raise InputError(options.faces[0] if options.faces else Path("."), "no aligned faces to train on")
    pool = XSegPool(paths)
    use_hull = settings.unlabelled == "hull"
    plan = XSegPlan(pool.labelled, use_hull, settings.batch_size, seed, settings.labelled_share, iteration)
    spec = XSegSampleSpec(parse_face_type(face_type), settings.occluder_prob, settings.max_occluders,
                          settings.random_warp)
    donors = read_occluder_images(options.occluders) if options.occluders is not None else []
    dataset = XSegDataset(pool, spec, use_hull, donors)
    workers = plan_threads(options.threads).data_workers if options.workers is None else options.workers
    sampler = distributed.RankSlice(plan, dist) if dist.enabled else plan
    return make_loader(dataset, sampler, workers)  # type: ignore[arg-type]  # any map dataset + key sampler


@torch.no_grad()
def _preview(model: XSeg, faces: torch.Tensor, masks: torch.Tensor, model_dir: Path, iteration: int,
             history: dict[str, list[float]]) -> None:
    """Rows of input | target | prediction | prediction overlaid (red outside the mask), 4 samples."""
    was_training = model.training
    model.eval()
    pred = model.mask(faces[:4])
    model.train(was_training)
    rows = []
    for face, target, mask in zip(faces[:4], masks[:4], pred, strict=True):
        image = (face.permute(1, 2, 0).cpu().numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
        t = (target[0].cpu().numpy() * 255 + 0.5).astype(np.uint8)
        p = (mask[0].cpu().numpy() * 255 + 0.5).astype(np.uint8)
        overlay = image.copy()
        overlay[p < 128] = (overlay[p < 128] * 0.4 + np.array([0, 0, 150])).astype(np.uint8)
        rows.append(np.hstack([image, cv2.cvtColor(t, cv2.COLOR_GRAY2BGR), cv2.cvtColor(p, cv2.COLOR_GRAY2BGR),
                               overlay]))
    write_previews(model_dir / "previews", iteration, np.vstack(rows), history)
