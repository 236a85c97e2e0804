"""Training options: what a run needs (:class:`TrainOptions`) and the tunable settings (:class:`TrainSettings`).

Two kinds of choices, handled differently:

* **Model config** (resolution, archi, dims, face type): fixed when the model is created and stored
  in ``config.json``; asking for a different value later raises :class:`OptionError`.
* **Settings** (batch size, optimiser, loss powers, augmentation, …): stored in ``state.json`` after
  every save and changeable on every resume. They resolve as: dataclass defaults ← the model's
  registry defaults ← the settings saved with the model ← the settings given for this run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from recast.color import SAMPLE_TRANSFERS
from recast.errors import InputError, OptionError
from recast.options import from_mapping, load_toml, option, unknown_keys, validate
from recast.runtime.options import ComputeOptions, Limits

MAX_BATCH_SIZE = 4096
"""Largest batch accepted from options, config files or a saved ``state.json``."""


OPTIMIZERS = ("adabelief", "rmsprop", "adam")
"""Optimiser names (built by :func:`recast.train.optim.create_optimizer`)."""

RECIPES = ("none", "dfl")
"""Training recipe names (the phases of each: :data:`recast.train.recipe.REGISTRY`)."""

_OPT, _LOSS, _AUG, _GAN = "Optimiser", "Loss and masks", "Augmentation", "GAN and style"


@dataclass
class TrainSettings:
    """Tunable training settings (DeepFaceLab's option names where they exist); see each field's help.

    lr_dropout is the keep-probability of each weight update (1.0 = off; DeepFaceLab's "on" is 0.3),
    with a cosine lr cycle of ``lr_cos_period`` iterations while it is on (0 = none). pretrain forces
    no warp, both flips, uniform yaw, no GAN/style/lr dropout/ct/mouth matching (:meth:`effective`).
    """

    OPTIONS_NOUN: ClassVar[str] = "training setting"

    batch_size: int = option(8, "Faces per iteration (split over data-parallel processes)", ge=1,
                             le=MAX_BATCH_SIZE, group=_OPT)
    optimizer: str = option("adabelief", "Optimiser", choices=OPTIMIZERS, group=_OPT)
    lr: float = option(5e-5, "Learning rate", gt=0, lt=1, group=_OPT)
    lr_dropout: float = option(1.0, "Keep-probability of each weight update; 1 = off, DeepFaceLab's 'on' is 0.3",
                               gt=0, le=1, group=_OPT)
    lr_cos_period: int = option(500, "Iterations of the cosine lr cycle while lr dropout is on (0 = none)",
                                ge=0, le=10_000_000, group=_OPT)
    clip_grad: float = option(0.0, "Global gradient-norm limit; 0 = off, DeepFaceLab's 'on' is 1.0", ge=0, le=1_000_000,
                              group=_OPT)
    masked_training: bool = option(True, "Count the loss inside the face mask only", group=_LOSS)
    eyes_mouth_prio: bool = option(False, "Weight the eyes and mouth more", group=_LOSS)
    blur_out_mask: bool = option(False, "Blur the area around the mask in samples", group=_LOSS)
    mask_blur_clip: bool = option(True, "Clip and double the blurred loss mask like SAEHD (Quick96: off)",
                                  group=_LOSS)
    random_warp: bool = option(True, "Randomly warp input faces", group=_AUG)
    random_flip_src: bool = option(False, "Randomly mirror src faces", group=_AUG)
    random_flip_dst: bool = option(True, "Randomly mirror dst faces", group=_AUG)
    random_hsv_power: float = option(0.0, "Random hue/saturation/value shift of src samples", ge=0, le=0.3,
                                     group=_AUG)
    random_scale: float = option(0.15, "Random scale jitter of samples", ge=0, le=1, group=_AUG)
    uniform_yaw: bool = option(False, "Sample faces evenly over head turn (yaw)", group=_AUG)
    match_mouth: bool = option(False, "Sample src faces so their mouth openness matches the dst's (wins over "
                               "uniform yaw for src)", group=_AUG)
    ct_mode: str = option("none", "Colour-transfer src samples toward dst", choices=("none", *SAMPLE_TRANSFERS),
                          group=_AUG)
    gan_power: float = option(0.0, "Patch-GAN loss weight", ge=0, le=10, group=_GAN)
    gan_patch_size: int = option(0, "Patch-GAN patch size (0 = resolution/8)", ge=0, le=1024, group=_GAN)
    gan_dims: int = option(16, "Patch-GAN width", ge=1, le=512, group=_GAN)
    true_face_power: float = option(0.0, "Code-discriminator weight (models with a shared code only: SAEHD df)",
                                    ge=0, le=1, group=_GAN)
    face_style_power: float = option(0.0, "Face style loss", ge=0, le=100, group=_GAN)
    bg_style_power: float = option(0.0, "Background style loss", ge=0, le=100, group=_GAN)
    morph_factor: float = option(0.5, "AMP training morph", ge=0.0, le=1.0, group=_LOSS)
    unwarped_every: int = option(0, "Re-train every N-th iteration on the previous batch unwarped "
                                 "(Quick96: 3; 0 = never)", ge=0, le=1_000_000, group=_AUG)
    pretrain: bool = option(False, "Pretraining mode (no warp, both flips, uniform yaw, no GAN/style)", group=_AUG)

    def validate(self) -> None:
        """Raise :class:`OptionError` for a value of the wrong type or out of range (before any allocation)."""
        validate(self)

    def effective(self) -> TrainSettings:
        """The settings actually used: pretraining overrides applied."""
        if not self.pretrain:
            return self
        return dataclasses.replace(
            self, random_warp=False, random_flip_src=True, random_flip_dst=True, random_hsv_power=0.0,
            gan_power=0.0, lr_dropout=1.0, face_style_power=0.0, bg_style_power=0.0, true_face_power=0.0,
            uniform_yaw=True, ct_mode="none", match_mouth=False,
        )


def resolve_settings(*layers: dict[str, Any]) -> TrainSettings:
    """Merge setting dicts left to right over the defaults; unknown names raise OptionError."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if not isinstance(layer, dict):
            raise OptionError(f"training settings must be a table of name = value, got {str(layer)[:40]!r}")
        unknown_keys(TrainSettings, layer)
        merged.update(layer)
    return from_mapping(TrainSettings, merged)


PREVIEW_COLUMNS = ("src", "src recon", "dst", "dst recon", "swap", "swap mask", "dst mask")
"""The columns of the training preview grid (:mod:`recast.train.previews`), left to right; one row
per sample. Here, not there, so readers of the grid (the studio) need not load torch."""


@dataclass
class ProgressEvent:
    """Reported to ``TrainOptions.on_event``. kind: 'iteration', 'save', 'backup', 'preview', 'info',
    'diverged' or 'done'; losses are the latest iteration's (src, dst, and any extra terms); phase: the
    recipe's phase (empty for a one-phase recipe)."""

    kind: str
    iteration: int
    ms_per_iter: float = 0.0
    losses: dict[str, float] = field(default_factory=dict)
    message: str = ""
    phase: str = ""


TRAIN_COMPUTE = ("device", "precision", "threads", "workers", "seed")
"""The :class:`~recast.runtime.options.ComputeOptions` a training run takes (its batch size is a setting)."""


@dataclass
class TrainOptions:
    """One training run.

    src / dst: facesets (folders or packs). model_dir: where the model lives (created if new).
    model: registry name (saehd, quick96, amp, cpu; None = the saved one, or saehd).
    model_config: architecture overrides, only
    accepted when creating the model (or when equal to the saved values).
    settings: TrainSettings overrides for this run. iterations: the target iteration — stop when the
    model's iteration count reaches it, counting earlier runs (DeepFaceLab's "target iteration"; a
    model already there trains no further). more: stop after this many iterations of this run
    (give one of the two). minutes: stop after this many minutes of this run. With none of them
    there is no limit; Ctrl-C always saves and stops. device: auto / cpu / cuda / cuda:N / mps
    (:func:`recast.runtime.devices.resolve_device`). workers: data processes
    (None = automatic). seed: for init, sampling and augmentation.
    autosave_minutes / autobackup_hours / backup_count: checkpoint cadence (0 = off).
    preview_every: iterations between preview and loss-curve PNGs (None = 10·max(1, res//64) on CUDA,
    100 elsewhere; 0 = off).
    load_weights: another model folder to copy matching weights from (new model only); freeze: parameter
    groups to freeze ("encoder"). precision: ``auto`` (bf16 autocast where the device computes bf16
    natively — AVX512-BF16/AMX CPUs, Ampere+ GPUs — else fp32), ``bf16`` or ``fp32``; see
    :mod:`recast.runtime.precision`. tensorboard: also log losses, step time and previews as TensorBoard
    event files in ``model_dir/tensorboard`` (needs ``tensorboardX``). compile:
    torch.compile the model. shard / checkpoint_activations: FSDP2 sharding over the processes and
    activation checkpointing (:mod:`recast.train.sharding`). threads: torch CPU threads (None = one per usable core,
    adapted while training to the machine's load: :class:`recast.runtime.threads.ThreadTuner`).
    recipe: the phases the run trains in (:mod:`recast.train.recipe`; ``none`` = the settings as given).
    explosion_factor: stop when a loss exceeds this multiple of its recent median (0 = off).
    consent: the trainer's statement of the depicted people's consent, written to the model card
    (:mod:`recast.models.modelcard`; None keeps the card's previous statement).
    on_event: callback for progress (the library never prints).
    """

    OPTIONS_LABEL: ClassVar[str] = "{flag}"

    src: Path | str | Any
    dst: Path | str | Any
    model_dir: Path | str
    model: str | None = None
    model_config: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    iterations: int | None = Limits.iterations
    more: int | None = Limits.more
    minutes: float | None = Limits.minutes
    device: str = ComputeOptions.device
    workers: int | None = ComputeOptions.workers
    seed: int = ComputeOptions.seed
    autosave_minutes: float = option(25.0, "Minutes between saves (0 = only at the end)", ge=0)
    autobackup_hours: float = option(0.0, "Hours between kept backups (0 = off)", ge=0)
    backup_count: int = 24
    preview_every: int | None = option(None, "Iterations between preview and loss-curve images in "
                                       "MODEL_DIR/previews (0 = off)", ge=0,
                                       default_text="100 on CPU, 10 × resolution/64 on CUDA")
    recipe: str = option("none", "Training recipe: dfl = DeepFaceLab's workflow in phases of the budget (warp, "
                         "then regular with lr dropout, then GAN); none = the settings as given throughout",
                         choices=RECIPES)
    load_weights: Path | str | None = None
    freeze: tuple[str, ...] = ()
    precision: str = ComputeOptions.precision
    compile: bool = False
    tensorboard: bool = False
    threads: int | None = ComputeOptions.threads
    shard: bool = option(False, "Shard parameters, gradients and optimiser state over the training processes "
                         "(FSDP2; for a model that does not fit one device; needs --nproc > 1 or torchrun)",
                         group="Compute")
    checkpoint_activations: bool = option(False, "Recompute activations in the backward pass instead of keeping "
                                          "them (less memory, about a third more compute)", group="Compute")
    explosion_factor: float = 20.0
    consent: str | None = None
    on_event: Callable[[ProgressEvent], None] | None = None

    def validate(self) -> None:
        """Raise :class:`OptionError` for contradictory or out-of-range limits and compute options, naming
        the flag (before anything is written)."""
        limits = Limits(self.iterations, self.more, self.minutes)
        validate(limits)
        limits.check()
        validate(ComputeOptions(device=self.device, precision=self.precision, threads=self.threads,
                                workers=self.workers, seed=self.seed))
        validate(self)

    def target_iteration(self, current: int) -> int | None:
        """The iteration to stop at for a model now at iteration ``current`` (None = no iteration limit)."""
        if self.iterations is not None:
            return self.iterations
        if self.more is not None:
            return current + self.more
        return None


@dataclass(frozen=True)
class EnhancerOptions:
    """How long ``recast train-enhancer`` trains and at what size (:func:`recast.train.enhance.train_enhancer`)."""

    OPTIONS_NOUN: ClassVar[str] = "enhancer option"
    OPTIONS_LABEL: ClassVar[str] = "{flag}"

    minutes: float = option(10.0, "Training time budget", gt=0, le=10_000_000, group="Enhancer")
    iterations: int | None = option(None, "Stop after this many iterations instead", ge=1, group="Enhancer",
                                    default_text="no limit")
    size: int | None = option(None, "Enhanced face size", ge=16, le=2048, group="Enhancer",
                              default_text="twice the model's, at most the faces' own")


def read_config_file(path: str | Path, config_fields: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a TOML file into (model_config, settings); keys may sit at top level or in [model]/[train]."""
    flat = load_toml(path, ("model", "train"))
    model_config = {k: v for k, v in flat.items() if k in config_fields}
    settings = {k: v for k, v in flat.items() if k not in config_fields}
    try:
        unknown_keys(TrainSettings, settings)
    except OptionError as error:
        raise InputError(Path(path), str(error)) from None
    return model_config, settings
