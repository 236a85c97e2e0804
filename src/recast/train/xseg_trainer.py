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
soft-Dice term on the face. Progress goes to ``on_event`` as :class:`recast.train.options.ProgressEvent`;
Ctrl-C saves and stops; a non-finite loss stops and keeps the last save.
"""

from __future__ import annotations

import dataclasses
import logging
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
from recast.train.data import make_loader
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
    between saves (0 = only at the end).
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


def train_xseg(options: XSegTrainOptions) -> XSegTrainResult:
    """Train (or resume) the XSeg model in ``options.model_dir``; see the module docstring."""
    emit = options.on_event or (lambda event: None)
    model_dir = Path(options.model_dir)
    device = torch.device(resolve_device(options.device))
    apply_torch_threads(plan_threads(options.threads))
    ckpt.check_writable(model_dir)
    model, name, state, checkpoint = _model(options, model_dir)
    saved = dict(state.get("settings", {}))
    try:
        settings = from_mapping(XSegSettings, {**saved, **options.settings})
    except OptionError as error:
        raise OptionError(f"XSeg training: {error}") from None
    seed = int(state.get("seed", options.seed))
    iteration = int(state.get("iteration", 0))
    history = _history(checkpoint.history if checkpoint else {})
    model.to(device).train()
    optimizer = create_optimizer("adam", list(model.parameters()), settings.lr, device)
    names = {id(p): n for n, p in model.named_parameters()}
    if checkpoint is not None and not load_optimizer_tensors(optimizer, checkpoint.optimizer, names, "model"):
        emit(ProgressEvent("info", iteration, message="optimizer state did not fit; reset"))
    for group in optimizer.param_groups:
        group["lr"] = settings.lr
    loader = _loader(options, settings, model.config.face_type, seed, iteration)
    elapsed = float(state.get("elapsed_seconds", 0.0))

    def save() -> None:
        record = {"model": name, "settings": dataclasses.asdict(settings), "seed": seed,
                  "elapsed_seconds": round(elapsed, 3)}
        ckpt.save_checkpoint(model_dir, iteration, {f"model.{k}": v for k, v in model.state_dict().items()},
                             optimizer_tensors(optimizer, names, "model"), record, history)
        emit(ProgressEvent("save", iteration, message=str(model_dir)))

    if checkpoint is None:
        ckpt.write_model_config(model_dir, name, dataclasses.asdict(model.config))
        save()
    target = options.iterations if options.iterations is not None else (
        iteration + options.more if options.more is not None else None)
    start, last_save = time.monotonic(), time.monotonic()
    status, message, loss_value, step_total, done = "done", "", float("nan"), 0.0, 0
    batches = iter(loader)
    try:
        while target is None or iteration < target:
            t0 = time.perf_counter()
            batch = next(batches)
            faces, masks = batch["face"].to(device), batch["mask"].to(device)
            loss = xseg_loss(model(faces), masks, settings.dice_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            loss_value = float(loss.detach())
            if not np.isfinite(loss_value):
                status = "diverged"
                message = f"loss became {loss_value} at iteration {iteration + 1}; kept the last save"
                break
            optimizer.step()
            step = time.perf_counter() - t0
            step_total += step
            elapsed += step
            iteration += 1
            done += 1
            history["iteration"].append(iteration)
            history["loss"].append(round(loss_value, 6))
            emit(ProgressEvent("iteration", iteration, 1000 * step_total / done, {"loss": loss_value}))
            if options.preview_every and iteration % options.preview_every == 0:
                _preview(model, faces, masks, model_dir, iteration, history)
                emit(ProgressEvent("preview", iteration))
            now = time.monotonic()
            if options.autosave_minutes > 0 and now - last_save >= options.autosave_minutes * 60:
                save()
                last_save = now
            if options.minutes is not None and now - start >= options.minutes * 60:
                break
    except KeyboardInterrupt:
        status, message = "interrupted", "stopped by Ctrl-C; saved"
    if status != "diverged":
        save()
    result = XSegTrainResult(model_dir, iteration, status, message, loss_value, 1000 * step_total / max(done, 1),
                             history)
    emit(ProgressEvent("done", iteration, result.ms_per_iter, {"loss": loss_value}, message))
    log.info("xseg train %s: %s at iteration %d, %.0f ms/iter", model_dir, status, iteration, result.ms_per_iter)
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
            iteration: int) -> torch.utils.data.DataLoader:
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
    return make_loader(dataset, plan, workers)  # type: ignore[arg-type]  # any map dataset + key sampler


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
