"""The training loop: build or resume a model, stream batches, step, save, preview, stop safely.

``train(TrainOptions(...)) -> TrainResult`` is the library entry point; :class:`Trainer` exposes
the same loop in parts. Progress goes to ``TrainOptions.on_event`` (the library never prints).

Safety: checkpoints are crash-safe (see :mod:`recast.models.checkpoint`); a new model is saved at
iteration 0, so a good save always exists; a non-finite loss, or one above ``explosion_factor`` × its
recent median, stops training and restores the last save. Stop signals (SIGINT, SIGTERM), save on
error, autosave, backups and the limits are the shared loop shell's (:mod:`recast.train.loop`).
A face that cannot be read is replaced by another and listed, not fatal.
Saved config, state and weights are validated before anything is allocated.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import statistics
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from recast.errors import InputError, OptionError
from recast.faces.facetype import FaceType
from recast.faceset.source import faceset_summary
from recast.models import checkpoint as ckpt
from recast.models.base import FaceSwapModel
from recast.models.growth import PLATEAU_WINDOW, Progress
from recast.models.modelcard import write_model_card
from recast.models.registry import DEFAULT_MODEL, check_saved_model, create_model, get_entry, model_from_saved
from recast.runtime.devices import resolve_device
from recast.runtime.precision import choose_precision
from recast.runtime.threads import ThreadTuner, apply_torch_threads, plan_threads
from recast.train import distributed, sharding, tensorboard
from recast.train.data import BatchPlan, FaceReader, PairDataset, PairSpec, make_loader, sampling_bins
from recast.train.loop import LoopLimits, StepOutcome, run_loop
from recast.train.memcheck import check_train_memory
from recast.train.optim import LrDropout
from recast.train.options import ProgressEvent, TrainOptions, TrainSettings, resolve_settings
from recast.train.previews import write_previews
from recast.train.recipe import Phase, PhaseLog, Recipe, choose_phase, get_recipe, settings_for
from recast.train.samples import SampleSpec
from recast.train.step import Part, TrainStep, make_code_discriminator, make_gan_discriminator, make_part
from recast.train.tensorboard import TensorBoardLog

FREEZE_GROUPS = ("encoder",)

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """Outcome of a run. status: 'done', 'interrupted' (SIGINT/SIGTERM) or 'diverged' (restored to last save).
    ``skipped_faces``: faces that could not be read and were replaced by others."""

    model_dir: Path
    iteration: int
    status: str
    message: str = ""
    losses: dict[str, float] = field(default_factory=dict)
    ms_per_iter: float = 0.0
    data_wait_share: float = 0.0
    history: dict[str, list[float]] = field(default_factory=dict)
    skipped_faces: list[str] = field(default_factory=list)


def _valid_history(history: Any) -> dict[str, list[float]] | None:
    """The saved loss history if it is three equally long lists of numbers, else None."""
    if not isinstance(history, dict) or set(history) != {"iteration", "src", "dst"}:
        return None
    columns = [history[k] for k in ("iteration", "src", "dst")]
    if not all(isinstance(c, list) and len(c) == len(columns[0]) for c in columns):
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for c in columns for v in c):
        return None
    return history


def _empty_history() -> dict[str, list[float]]:
    return {"iteration": [], "src": [], "dst": []}


def _check_fixed(saved: dict[str, Any], asked: dict[str, Any], name: str) -> None:
    for key, value in asked.items():
        if key not in saved:
            raise OptionError(f"{key!r} is not an option of model {name!r}")
        if str(saved[key]) != str(value) and saved[key] != value:
            raise OptionError(f"{key} is fixed when a model is created (this model has {saved[key]!r}, asked "
                              f"{value!r}); use a new --model-dir to change it")


class Trainer:
    """Sets up model, optimisers and data from :class:`TrainOptions`; :meth:`run` trains. ``recipe``: a
    :class:`~recast.train.recipe.Recipe` to train in instead of the registered ``options.recipe`` (for
    experiments such as ``benchmarks/quality.py``'s phase ablation; no command-line flag)."""

    def __init__(self, options: TrainOptions, recipe: Recipe | None = None) -> None:
        options.validate()
        self.options = options
        self.custom_recipe = recipe
        device = resolve_device(options.device)
        self.dist = distributed.setup(device)
        self.device = distributed.rank_device(device, self.dist)
        self.threads = plan_threads(options.threads, processes=int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
        apply_torch_threads(self.threads)
        adapt = self.device.type == "cpu" and options.threads is None and self.threads.torch_threads > 1
        self.tuner = ThreadTuner(self.threads.torch_threads, torch.set_num_threads) if adapt else None
        self.model_dir = Path(options.model_dir)
        ckpt.check_writable(self.model_dir)
        self._emit = options.on_event or (lambda event: None)
        self.skipped_faces: list[str] = []
        if options.tensorboard:
            tensorboard.check_available()
        check_train_memory(options, self.device, self.dist.world)
        self._setup_model()
        self._setup_data()
        if self._is_new:  # only once model and data are known to fit together
            if self.dist.is_main:
                ckpt.write_model_config(self.model_dir, self.name, dataclasses.asdict(self.model.config))
            self.save()
        self.tensorboard = TensorBoardLog.open(self.model_dir) if options.tensorboard and self.dist.is_main else None

    # ----------------------------------------------------------------------------------- setup
    def _setup_model(self) -> None:
        """Load the saved model or create a new one, resolve its settings and training state, then build the
        parts it trains with (optimisers, discriminators) and the step."""
        model, checkpoint = self._load_or_create_model()
        reset_optimizer = self._settings_and_state(model, checkpoint)
        self._setup_parts(model, checkpoint, reset_optimizer)

    def _load_or_create_model(self) -> tuple[FaceSwapModel, ckpt.Checkpoint | None]:
        """The model folder's model and checkpoint (its options checked against the saved ones), or a new model
        of the asked family and config (no checkpoint); sets :attr:`name`."""
        o = self.options
        exists = (self.model_dir / ckpt.CONFIG_FILE).is_file()
        self._is_new = not exists
        torch.manual_seed(o.seed)
        if not exists:
            self.name = (o.model or DEFAULT_MODEL).lower()
            return create_model(self.name, **o.model_config), None
        name, saved_config = check_saved_model(self.model_dir)
        if o.model and o.model.lower() != name:
            raise OptionError(f"{self.model_dir} holds a {name!r} model, not {o.model!r}")
        _check_fixed(saved_config, o.model_config, name)
        if o.load_weights:
            raise OptionError("--load-weights only applies when creating a new model")
        self.name = name
        return model_from_saved(name, saved_config), ckpt.load_checkpoint(self.model_dir)

    def _settings_and_state(self, model: FaceSwapModel, checkpoint: ckpt.Checkpoint | None) -> bool:
        """Resolve the settings (family defaults, then the saved ones, then the asked ones) and the training
        state (seed, iteration, loss history, elapsed time); load the saved weights into ``model``. True when the
        optimisers start afresh (a new model, another optimiser, or pretraining switched off)."""
        o = self.options
        state = checkpoint.state if checkpoint else {}
        self.seed = int(state.get("seed", o.seed))
        saved_settings = dict(state.get("settings", {}))
        try:
            resolve_settings(get_entry(self.name).train_defaults, saved_settings)
        except OptionError as error:
            raise InputError(self.model_dir / ckpt.STATE_FILE,
                             f"saved training settings are invalid: {error}") from None
        self.settings = resolve_settings(get_entry(self.name).train_defaults, saved_settings, o.settings)
        self.iteration = int(state.get("iteration", 0))
        self.history = _empty_history()
        if checkpoint and checkpoint.history:
            history = _valid_history(checkpoint.history)
            if history is None:
                self._emit(ProgressEvent("info", self.iteration, message=f"{checkpoint.path / ckpt.HISTORY_FILE}: "
                                                                         "not a loss history; starting a new one"))
            self.history = history or _empty_history()
        self.elapsed = float(state.get("elapsed_seconds", 0.0))
        self._note_processes(checkpoint is not None, int(state.get("processes", 1)))
        reset_optimizer = checkpoint is None or state.get("optimizer") != self.settings.optimizer
        if checkpoint is not None:
            model.load_state_dict(_strip(checkpoint.weights, "model."))
            if saved_settings.get("pretrain") and not self.settings.pretrain:
                self.iteration, self.history, reset_optimizer = 0, _empty_history(), True
                model.reset_inters()
                self._emit(ProgressEvent("info", 0, message="pretraining switched off: iteration reset to 0, "
                                                            "inter layers re-initialised"))
        self._start_recipe(state.get("recipe"))
        return reset_optimizer

    def _start_recipe(self, saved: Any) -> None:
        """Set the recipe's phase for this run: the one at the budget used so far, never before the saved one.
        ``self.settings`` becomes the phase's; the resolved ones stay in ``chosen_settings`` (what is saved)."""
        self.recipe = self.custom_recipe or get_recipe(self.options.recipe)
        self.chosen_settings = self.settings
        saved_log = PhaseLog.from_json(saved, self.recipe)
        phase = choose_phase(self.recipe, self.budget_fraction(time.monotonic(), self.iteration),
                             saved_log.phase if saved_log else None)
        began = saved_log or PhaseLog.start(self.recipe, phase, self.iteration)
        self.phase_log = began.entered(phase, self.iteration)
        self.settings = settings_for(phase, self.chosen_settings)
        if len(self.recipe.phases) > 1:
            self._emit(ProgressEvent("info", self.iteration, message=f"recipe {self.recipe.name}: phase {phase.name} "
                                     f"({phase.describe()})", phase=phase.name))

    @property
    def phase(self) -> str:
        """The recipe's current phase ("" for a one-phase recipe)."""
        return self.phase_log.phase if len(self.recipe.phases) > 1 else ""

    def follow_recipe(self, started: float, first_iteration: int) -> bool:
        """Enter the recipe's phase for the budget used (never an earlier one); True when the phase changed.
        Not after the last iteration (nothing would train in the new phase)."""
        target = self.options.target_iteration(first_iteration)
        if len(self.recipe.phases) == 1 or (target is not None and self.iteration >= target):
            return False
        phase = choose_phase(self.recipe, self.budget_fraction(started, first_iteration), self.phase_log.phase)
        if phase.name == self.phase_log.phase:
            return False
        self._switch_phase(phase)
        return True

    def _switch_phase(self, phase: Phase) -> None:
        """Rebuild what the phase changes — the step's settings, each part's lr dropout, the GAN discriminator
        (created when first needed), the data loader (warp, yaw and mouth bins) — keeping every optimiser's state."""
        self.phase_log = self.phase_log.entered(phase, self.iteration)
        self.settings = settings_for(phase, self.chosen_settings)
        self.step.settings = self.settings
        eff = self.settings.effective()
        for part in self.parts.values():
            part.dropout = LrDropout(part.params, eff.lr_dropout, part.dropout.seed)
        if eff.gan_power > 0 and "gan_d" not in self.parts:
            gan = self._make_aux(make_gan_discriminator(self.model, self.settings), "gan_d", None)
            gan.wrapped = distributed.wrap_ddp(gan.module, self.dist, self.device)
            if self.step.precision.loss_scaling:
                gan.scaler = torch.amp.GradScaler(self.device.type)
            self.parts["gan_d"] = self.step.gan = gan
        self._setup_data()
        message = f"recipe {self.recipe.name}: phase {phase.name} from iteration {self.iteration} ({phase.describe()})"
        log.info("%s: %s", self.model_dir, message)
        self._emit(ProgressEvent("info", self.iteration, message=message, phase=phase.name))

    def _setup_parts(self, model: FaceSwapModel, checkpoint: ckpt.Checkpoint | None, reset_optimizer: bool) -> None:
        """Copy ``--load-weights``, freeze, place ``model`` on the device, build its part and the discriminators
        the settings ask for (restoring their optimiser state unless ``reset_optimizer``), and the step."""
        o = self.options
        state = checkpoint.state if checkpoint else {}
        if o.load_weights:
            copied = self._copy_weights(model, Path(o.load_weights))
            self._emit(ProgressEvent("info", 0, message=f"copied {copied} weight tensors from {o.load_weights}"))
        self._freeze(model, o.freeze)
        model.to(self.device)
        distributed.broadcast_module(model, self.dist)
        self.sharded = sharding.prepare(model, self.dist, self.device, shard=o.shard,
                                        checkpoint_activations=o.checkpoint_activations)
        self.model: FaceSwapModel = model
        self.parts = {"model": make_part(model, self.settings, self.device, self.seed, self.sharded)}
        eff = self.settings.effective()
        if eff.gan_power > 0:
            gan_cfg = [eff.gan_patch_size or max(4, model.resolution // 8), eff.gan_dims]
            self.parts["gan_d"] = self._make_aux(make_gan_discriminator(model, self.settings), "gan_d",
                                                 checkpoint if state.get("gan") == gan_cfg else None)
        if eff.true_face_power > 0 and model.supports_true_face:
            self.parts["code_d"] = self._make_aux(make_code_discriminator(model, self.device), "code_d", checkpoint)
        if checkpoint is not None and not reset_optimizer:
            names_ok = all(self._load_optimizer(key, part, checkpoint.optimizer) for key, part in self.parts.items())
            if not names_ok:
                self._emit(ProgressEvent("info", self.iteration, message="optimizer state did not fit; reset"))
        elif checkpoint is not None:
            self._emit(ProgressEvent("info", self.iteration, message="optimizer state reset"))
        growing = bool(model.training_state())  # leaves the stages it has not reached out of the loss
        for key, part in self.parts.items():
            if not part.sharded:
                part.wrapped = distributed.wrap_ddp(part.module, self.dist, self.device,
                                                    find_unused=key == "model" and growing)
        self.step = TrainStep(self.parts["model"], self.settings, self.dist, self.device,
                              gan=self.parts.get("gan_d"), code=self.parts.get("code_d"),
                              precision=choose_precision(o.precision, self.device, "train"),
                              checkpoint_losses=o.checkpoint_activations)
        self._emit(ProgressEvent("info", self.iteration,
                                 message=f"{self.device.type}, {self.step.precision.describe()}"))
        if o.compile:
            # an OptimizedModule; stubs say Callable
            self.step.forward = cast(torch.nn.Module, torch.compile(self.step.forward))

    def _make_aux(self, module: torch.nn.Module, key: str, checkpoint: ckpt.Checkpoint | None) -> Part:
        if checkpoint is not None:
            weights = _strip(checkpoint.weights, key + ".")
            if weights:
                module.load_state_dict(weights)
        module.to(self.device)
        distributed.broadcast_module(module, self.dist)
        return make_part(module, self.settings, self.device, self.seed + len(key))

    def _load_optimizer(self, key: str, part: Part, tensors: dict[str, torch.Tensor]) -> bool:
        return sharding.load_optimizer(part.module, part.optimizer, tensors, part.sharded, key)

    @staticmethod
    def _copy_weights(model: FaceSwapModel, other_dir: Path) -> int:
        other = ckpt.load_checkpoint(other_dir, with_optimizer=False)
        if other is None:
            raise OptionError(f"--load-weights {other_dir}: that model has no saved weights")
        source = _strip(other.weights, "model.")
        own = model.state_dict()
        matched = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
        if not matched:
            raise OptionError(f"--load-weights {other_dir}: no weights match this model's layers and shapes")
        model.load_state_dict(matched, strict=False)
        return len(matched)

    @staticmethod
    def _freeze(model: FaceSwapModel, groups: tuple[str, ...] | list[str]) -> None:
        for group in groups:
            if group not in FREEZE_GROUPS:
                raise OptionError(f"--freeze {group!r}: choose one of {', '.join(FREEZE_GROUPS)}")
            for pname, param in model.named_parameters():
                if any(pname.startswith(prefix) for prefix in model.encoder_prefixes):
                    param.requires_grad_(False)

    def _setup_data(self) -> None:
        o, eff, model = self.options, self.settings.effective(), self.model
        src, dst = FaceReader(o.src), FaceReader(o.dst)
        face_type = _model_face_type(model)
        for label, reader in (("src", src), ("dst", dst)):
            have = reader.face_type(0)
            if not have.covers(face_type):
                raise OptionError(f"{label} faces are {have.value} faces; this model needs {face_type.value} "
                                  "or wider (re-extract with a wider face type)")
        if face_type is FaceType.HEAD and (eff.masked_training or eff.blur_out_mask):
            _require_xseg_masks({"src": (o.src, src), "dst": (o.dst, dst)})
        em = model.loss_settings(eff).eyes_mouth_weight > 0
        common = {"resolution": model.resolution, "face_type": face_type, "random_warp": eff.random_warp,
                  "scale": eff.random_scale, "eyes_mouth": em}
        spec = PairSpec(SampleSpec(random_flip=eff.random_flip_src, hsv_power=eff.random_hsv_power, **common),
                        SampleSpec(random_flip=eff.random_flip_dst, **common), eff.ct_mode)
        src_bins, dst_bins, src_weights = sampling_bins(src, dst, eff.uniform_yaw, eff.match_mouth)
        plan = BatchPlan(len(src), len(dst), self.settings.batch_size, self.seed, self.iteration,
                         self.dist.rank, self.dist.world, src_bins, dst_bins, src_weights)
        workers = self.threads.data_workers if o.workers is None else o.workers
        self.loader = make_loader(PairDataset(src, dst, spec), plan, workers)

    # ------------------------------------------------------------------------------ save/restore
    def _weights(self) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for key, part in self.parts.items():
            out.update({f"{key}.{k}": v for k, v in sharding.full_weights(part.module, part.sharded).items()})
        return out

    def _optimizer_tensors(self) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for key, part in self.parts.items():
            out.update(sharding.full_optimizer_tensors(part.module, part.optimizer, part.sharded, key))
        return out

    def save(self) -> None:
        """Write a checkpoint (rank 0 only; a sharded model is gathered there first) and wait for it on every rank."""
        weights, optimizer = self._weights(), self._optimizer_tensors()
        if self.dist.is_main:
            eff = self.settings.effective()
            state = {"model": self.name, "settings": dataclasses.asdict(self.chosen_settings), "seed": self.seed,
                     "recipe": self.phase_log.to_json(),
                     "optimizer": self.settings.optimizer, "elapsed_seconds": round(self.elapsed, 3),
                     "gan": [eff.gan_patch_size or max(4, self.model.resolution // 8), eff.gan_dims],
                     "processes": self.dist.world,
                     **self.model.training_state()}
            ckpt.save_checkpoint(self.model_dir, self.iteration, weights, optimizer, state, self.history)
            self._emit(ProgressEvent("save", self.iteration, message=str(self.model_dir)))
        distributed.barrier(self.dist)

    def restore_last_save(self) -> int:
        """Reload weights, optimiser state and history from the committed checkpoint; returns its iteration."""
        distributed.barrier(self.dist)
        checkpoint = ckpt.load_checkpoint(self.model_dir)
        assert checkpoint is not None
        for key, part in self.parts.items():
            weights = _strip(checkpoint.weights, key + ".")
            if weights:
                sharding.load_weights(part.module, weights, part.sharded)
            part.optimizer.state.clear()
            self._load_optimizer(key, part, checkpoint.optimizer)
        self.iteration = int(checkpoint.state["iteration"])
        self.history = _valid_history(checkpoint.history) or _empty_history()
        return self.iteration

    # ------------------------------------------------------------------------------------- loop
    def _diverged(self, logs: dict[str, float]) -> str:
        if not all(np.isfinite(v) for v in logs.values()):
            return "loss became NaN or infinite"
        factor = self.options.explosion_factor
        recent = [s + d for s, d in zip(self.history["src"][-200:], self.history["dst"][-200:], strict=True)]
        if factor > 0 and len(recent) >= 50:
            median = statistics.median(recent)
            if logs["src"] + logs["dst"] > factor * median:
                return f"loss exploded ({logs['src'] + logs['dst']:.4g} > {factor:g} × recent median {median:.4g})"
        return ""

    def _preview_every(self) -> int:
        if self.options.preview_every is not None:
            return self.options.preview_every
        return 10 * max(1, self.model.resolution // 64) if self.device.type == "cuda" else 100

    def run(self) -> TrainResult:
        """Train until the iteration/minute limit, a stop signal or divergence; always leaves a good save
        (the shell, :func:`recast.train.loop.run_loop`, owns limits, signals, autosave and save on error)."""
        o = self.options
        body = _FaceLoop(self)
        limits = LoopLimits(o.target_iteration(self.iteration), o.minutes, o.autosave_minutes, o.autobackup_hours)
        outcome = run_loop(body, limits, started=body.started, clock=body.clock,
                           note=lambda line: self._emit(ProgressEvent("info", self.iteration, message=line)))
        ms_per_iter = 1000 * body.step_total / max(outcome.steps, 1)
        result = TrainResult(self.model_dir, self.iteration, outcome.status, outcome.message, body.logs, ms_per_iter,
                             body.wait_total / body.step_total if body.step_total else 0.0, self.history,
                             list(self.skipped_faces))
        self._emit(ProgressEvent("done", self.iteration, ms_per_iter, body.logs, outcome.message))
        return result

    def weights_finite(self) -> bool:
        """Whether every trained weight is finite."""
        return all(bool(torch.isfinite(sharding.local(p)).all())
                   for part in self.parts.values() for p in part.module.parameters())

    def backup(self) -> None:
        """Copy the last save into backups/ (rank 0), keeping ``backup_count``."""
        if self.dist.is_main:
            ckpt.backup(self.model_dir, self.options.backup_count)
            self._emit(ProgressEvent("backup", self.iteration))

    def budget_fraction(self, started: float, first_iteration: int) -> float | None:
        """The share of this run's budget used (the largest of minutes, target iteration and iterations to
        add that are given), at most 1; None without a limit. The same on every rank."""
        o = self.options
        fractions = []
        if o.minutes:
            fractions.append((time.monotonic() - started) / (60 * o.minutes))
        if o.iterations:
            fractions.append(self.iteration / o.iterations)
        elif o.more:
            fractions.append((self.iteration - first_iteration) / o.more)
        if not fractions:
            return None
        shared = distributed.average_scalars({"fraction": min(1.0, max(fractions))}, self.dist, self.device)
        return shared["fraction"]

    def _advance(self, started: float, first_iteration: int, batch: dict[str, torch.Tensor] | None) -> bool:
        """Let the model's training policy act (:meth:`FaceSwapModel.advance`); True when its size changed.

        Then the model is saved (a resumed run starts from the new size) and, given a ``batch``, previews
        are written of the last state at the old size and of the first at the new one (the policy's
        state lives in the model's buffers, so the old one can be put back for a moment).
        """
        size = self.model.train_resolution
        before = {name: buffer.clone() for name, buffer in self.model.named_buffers()}
        window = 2 * PLATEAU_WINDOW
        losses = [a + b for a, b in zip(self.history["src"][-window:], self.history["dst"][-window:], strict=True)]
        message = self.model.advance(Progress(self.iteration, self.budget_fraction(started, first_iteration), losses))
        if message is None:
            return False
        log.info("%s: %s", self.model_dir, message)
        self._emit(ProgressEvent("info", self.iteration, message=message))
        if self.model.train_resolution == size:
            return False
        if batch is not None and self.previews_here:
            after = {name: buffer.clone() for name, buffer in self.model.named_buffers()}
            self.model.load_state_dict(before, strict=False)
            self.write_preview(batch)
            self.model.load_state_dict(after, strict=False)
            self.write_preview(batch)
        self.save()
        return True

    def _tune_threads(self, seconds: float) -> None:
        if self.tuner is None:
            return
        switches = self.tuner.switches
        self.tuner.observe(seconds)
        if self.tuner.switches != switches:
            threads = self.tuner.threads
            self._emit(ProgressEvent("info", self.iteration, message=f"using {threads} torch thread"
                                     f"{'s' if threads > 1 else ''}: faster under the machine's current load"))

    @property
    def previews_here(self) -> bool:
        """Whether this rank runs the model for previews: rank 0, or every rank of a sharded model (its
        forward pass gathers the parameters from all of them)."""
        return self.dist.is_main or self.sharded

    def preview_requested(self) -> bool:
        """Whether someone (the studio's "refresh preview now") left :data:`~recast.models.checkpoint.PREVIEW_REQUEST`
        in the model folder; honoured by an unsharded model's rank 0, which alone writes its previews."""
        return self.dist.is_main and not self.sharded and (self.model_dir / ckpt.PREVIEW_REQUEST).exists()

    def _note_processes(self, resumed: bool, saved: int) -> None:
        """Refuse a batch the processes cannot split evenly; on resuming with another process count, say that
        the global batch is kept and the per-process batch changes."""
        batch, world = self.settings.batch_size, self.dist.world
        distributed.check_batch(batch, self.dist)
        if resumed and saved != world:
            self._emit(ProgressEvent("info", self.iteration, message=f"global batch {batch} kept: {batch // world} "
                                     f"per process on {world} (the last run: {saved})"))

    def _note_skipped(self, names: list[str]) -> None:
        """Warn once about each face that could not be read (a data worker used another instead)."""
        for name in names:
            if name not in self.skipped_faces:
                self.skipped_faces.append(name)
                self._emit(ProgressEvent("info", self.iteration, message=f"skipped unreadable face {name}"))

    def write_preview(self, batch: dict[str, torch.Tensor]) -> None:
        """Preview grid from the batch's target faces, loss curve and history JSON (written by rank 0; a sharded
        model runs on every rank, see :attr:`previews_here`)."""
        from recast.train.previews import preview_grid

        grid = preview_grid(self.model, batch["src_target"].to(self.device), batch["dst_target"].to(self.device))
        if not self.dist.is_main:
            return
        size = self.model.train_resolution if self.model.training_state() else None
        write_previews(self.model_dir / "previews", self.iteration, grid, self.history, size,
                       dict(self.phase_log.began) if self.phase else None)
        if self.tensorboard is not None:
            self.tensorboard.image(self.iteration, grid)
        self._emit(ProgressEvent("preview", self.iteration))

    def close(self) -> None:
        """Stop data workers, close the TensorBoard log and leave the process group."""
        self.loader = None  # type: ignore[assignment]
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None
        distributed.teardown(self.dist)

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _FaceLoop:
    """One run's step for :func:`recast.train.loop.run_loop`: a batch (or Quick96's unwarped re-feed), the
    step, divergence check, history, events, the model's growth policy and previews; timing for the result."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.clock = distributed.shared_clock(trainer.dist, trainer.device)  # ranks stop and save together
        self.started = self.clock()
        self.first_iteration = trainer.iteration
        self.step_times: deque[float] = deque(maxlen=50)
        self.wait_total = self.step_total = 0.0
        self.logs: dict[str, float] = {}
        self.preview_every = trainer._preview_every()
        self.batches = iter(trainer.loader)
        self.previous: dict[str, torch.Tensor] | None = None
        self.unwarped_every = trainer.settings.effective().unwarped_every

    @property
    def iteration(self) -> int:
        return self.trainer.iteration

    def save(self) -> None:
        self.trainer.save()

    def backup(self) -> None:
        self.trainer.backup()

    def weights_finite(self) -> bool:
        return self.trainer.weights_finite()

    def train_step(self) -> StepOutcome:
        t = self.trainer
        t0 = time.perf_counter()
        if self.unwarped_every and self.previous is not None and t.iteration % self.unwarped_every == 0:
            batch = unwarped(self.previous)
        else:
            batch = self.previous = next(self.batches)
            t._note_skipped(batch.pop("skipped", []))
        t1 = time.perf_counter()
        torch.manual_seed(t.seed * 1_000_003 + t.iteration)
        logs = t.step(batch, t.iteration)
        t2 = time.perf_counter()
        self.wait_total += t1 - t0
        self.step_total += t2 - t0
        self.step_times.append(t2 - t0)
        t._tune_threads(t2 - t0)
        self.logs = logs
        reason = t._diverged(logs)
        if reason:
            restored = t.restore_last_save()
            message = f"{reason} at iteration {t.iteration + 1}; restored the save from iteration {restored}"
            t._emit(ProgressEvent("diverged", restored, losses=logs, message=message))
            return StepOutcome(diverged=message)
        t.iteration += 1
        t.elapsed += t2 - t0
        t.history["iteration"].append(t.iteration)
        t.history["src"].append(round(logs["src"], 6))
        t.history["dst"].append(round(logs["dst"], 6))
        ms = 1000 * statistics.fmean(self.step_times)
        t._emit(ProgressEvent("iteration", t.iteration, ms, logs, phase=t.phase))
        if t.tensorboard is not None:
            t.tensorboard.scalars(t.iteration, logs, ms)
        if t.follow_recipe(self.started, self.first_iteration):
            self.batches = iter(t.loader)
            self.unwarped_every = t.settings.effective().unwarped_every
        if t._advance(self.started, self.first_iteration, batch if self.preview_every else None):
            return StepOutcome(saved=True)
        requested = t.preview_requested()
        if requested or (self.preview_every and t.iteration % self.preview_every == 0 and t.previews_here):
            t.write_preview(batch)
        if requested:
            (t.model_dir / ckpt.PREVIEW_REQUEST).unlink(missing_ok=True)
        return StepOutcome()


def unwarped(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The batch with its unwarped targets as the inputs (DeepFaceLab Quick96's every-third-iteration re-feed)."""
    return {**batch, "src_warped": batch["src_target"], "dst_warped": batch["dst_target"]}


def _strip(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def _require_xseg_masks(facesets: dict[str, tuple[Any, FaceReader]]) -> None:
    """Refuse head-face training on faces without XSeg masks (DeepFaceLab's rule).

    The landmark hull stops at the brows and the jaw, so a ``head`` model trained inside it would learn
    neither hair nor forehead. Raises :class:`InputError` naming the first faceset with unmasked faces.
    """
    for label, (source, reader) in facesets.items():
        missing = sum(reader.meta(i).xseg_mask is None for i in range(len(reader)))
        if missing:
            where = Path(source) if isinstance(source, (str, Path)) else Path(label)
            raise InputError(where, f"{missing} of {len(reader)} {label} faces have no XSeg mask; head faces train "
                                    "inside XSeg masks (the landmark hull leaves out hair and forehead): run "
                                    "`recast xseg apply MODEL FACES` first, or train with --no-masked-training "
                                    "--no-blur-out-mask")


def _model_face_type(model: FaceSwapModel) -> Any:
    from recast.faces.facetype import parse_face_type

    return parse_face_type(model.config.face_type)  # type: ignore[attr-defined]


def train(options: TrainOptions, recipe: Recipe | None = None) -> TrainResult:
    """Train (or resume) the model in ``options.model_dir``; see :class:`TrainOptions` (``recipe``: see
    :class:`Trainer`)."""
    with Trainer(options, recipe) as trainer:
        result = trainer.run()
        if trainer.dist.is_main:
            write_model_card(trainer.model_dir, trainer.name, dataclasses.asdict(trainer.model.config),
                             dataclasses.asdict(trainer.chosen_settings), result.iteration,
                             faceset_summary(options.src), faceset_summary(options.dst), options.consent,
                             trainer.phase_log.to_json() if trainer.phase else None)
    log.info("train %s: %s at iteration %d, %.0f ms/iter %s", result.model_dir, result.status, result.iteration,
             result.ms_per_iter, result.message)
    return result


__all__ = ["TrainResult", "TrainSettings", "Trainer", "train"]
