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
import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recast.color import SAMPLE_TRANSFERS
from recast.errors import InputError, OptionError
from recast.train.optim import OPTIMIZERS

MAX_BATCH_SIZE = 4096
"""Largest batch accepted from options, config files or a saved ``state.json``."""


@dataclass
class TrainSettings:
    """Tunable training settings (DeepFaceLab's option names where they exist).

    batch_size: global batch (split over data-parallel processes). optimizer: adabelief/rmsprop/adam.
    lr: learning rate. lr_dropout: keep-probability of each weight update (1.0 = off; DeepFaceLab's
    "on" is 0.3) with a cosine lr cycle of ``lr_cos_period`` iterations while it is on (0 = none).
    clip_grad: global gradient-norm limit (0 = off; DeepFaceLab's "on" is 1.0).
    masked_training / eyes_mouth_prio / blur_out_mask / mask_blur_clip: loss masking.
    random_warp / random_flip_src / random_flip_dst / random_hsv_power / random_scale: augmentation.
    uniform_yaw: sample faces uniformly over yaw. ct_mode: none/rct/lct/mkl/idt/sot (src toward dst).
    gan_power / gan_patch_size (0 = res//8) / gan_dims: patch-GAN on src. true_face_power: code
    discriminator (df only). face_style_power / bg_style_power: style losses (0–100).
    morph_factor: AMP training morph (0.1–0.5). unwarped_every: every N-th iteration re-trains on the
    previous batch with its unwarped targets as input (Quick96: 3; 0 = never). pretrain: pretraining
    mode (forces no warp, both flips, uniform yaw, no GAN/style/lr dropout/ct).
    """

    batch_size: int = 8
    optimizer: str = "adabelief"
    lr: float = 5e-5
    lr_dropout: float = 1.0
    lr_cos_period: int = 500
    clip_grad: float = 0.0
    masked_training: bool = True
    eyes_mouth_prio: bool = False
    blur_out_mask: bool = False
    mask_blur_clip: bool = True
    random_warp: bool = True
    random_flip_src: bool = False
    random_flip_dst: bool = True
    random_hsv_power: float = 0.0
    random_scale: float = 0.15
    uniform_yaw: bool = False
    ct_mode: str = "none"
    gan_power: float = 0.0
    gan_patch_size: int = 0
    gan_dims: int = 16
    true_face_power: float = 0.0
    face_style_power: float = 0.0
    bg_style_power: float = 0.0
    morph_factor: float = 0.5
    unwarped_every: int = 0
    pretrain: bool = False

    def validate(self) -> None:
        """Raise :class:`OptionError` for a value of the wrong type or out of range (before any allocation)."""
        check_field_types(self)
        checks = [
            (1 <= self.batch_size <= MAX_BATCH_SIZE, f"batch_size must be 1–{MAX_BATCH_SIZE}"),
            (0 <= self.lr_cos_period <= 10_000_000, "lr_cos_period must be 0–10000000"),
            (0 <= self.random_scale <= 1, "random_scale must be 0–1"),
            (0 <= self.gan_patch_size <= 640 and 1 <= self.gan_dims <= 512,
             "gan_patch_size must be 0–640 and gan_dims 1–512"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (0 < self.lr < 1, "lr must be in (0, 1)"),
            (0 < self.lr_dropout <= 1, "lr_dropout (keep probability) must be in (0, 1]"),
            (self.ct_mode in ("none", *SAMPLE_TRANSFERS), f"ct_mode must be none or {', '.join(SAMPLE_TRANSFERS)}"),
            (0 <= self.random_hsv_power <= 0.3, "random_hsv_power must be 0–0.3"),
            (0 <= self.gan_power <= 10, "gan_power must be 0–10"),
            (0 <= self.true_face_power <= 1, "true_face_power must be 0–1"),
            (0 <= self.face_style_power <= 100 and 0 <= self.bg_style_power <= 100, "style powers must be 0–100"),
            (0.0 <= self.morph_factor <= 1.0, "morph_factor must be 0–1"),
            (0 <= self.clip_grad <= 1e6, "clip_grad must be 0–1e6"),
            (0 <= self.unwarped_every <= 1_000_000, "unwarped_every must be 0–1000000"),
        ]
        for ok, message in checks:
            if not ok:
                raise OptionError(message)

    def effective(self) -> TrainSettings:
        """The settings actually used: pretraining overrides applied."""
        if not self.pretrain:
            return self
        return dataclasses.replace(
            self, random_warp=False, random_flip_src=True, random_flip_dst=True, random_hsv_power=0.0,
            gan_power=0.0, lr_dropout=1.0, face_style_power=0.0, bg_style_power=0.0, true_face_power=0.0,
            uniform_yaw=True, ct_mode="none",
        )


SETTING_NAMES = tuple(f.name for f in dataclasses.fields(TrainSettings))
_TYPES: dict[str, tuple[type, ...]] = {"bool": (bool,), "int": (int,), "float": (int, float), "str": (str,)}
_TYPE_WORDS = {"bool": "true or false", "int": "a whole number", "float": "a number", "str": "a string"}


def check_field_types(instance: Any) -> None:
    """Raise :class:`OptionError` when a dataclass field of type bool/int/float/str holds another type.

    A bool is not accepted as a number, nor a float (``1e9``) as an int; a float must be finite.
    """
    for item in dataclasses.fields(instance):
        allowed = _TYPES.get(str(item.type))
        value = getattr(instance, item.name)
        if allowed is None:
            continue
        if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
            raise OptionError(f"{item.name} must be {_TYPE_WORDS[str(item.type)]}, got {str(value)[:40]!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise OptionError(f"{item.name} must be finite, got {value!r}")


def resolve_settings(*layers: dict[str, Any]) -> TrainSettings:
    """Merge setting dicts left to right over the defaults; unknown names raise OptionError."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if not isinstance(layer, dict):
            raise OptionError(f"training settings must be a table of name = value, got {str(layer)[:40]!r}")
        unknown = sorted(str(name) for name in set(layer) - set(SETTING_NAMES))
        if unknown:
            raise OptionError(f"unknown training setting(s) {', '.join(unknown)}")
        merged.update(layer)
    settings = TrainSettings(**merged)
    settings.validate()
    return settings


@dataclass
class ProgressEvent:
    """Reported to ``TrainOptions.on_event``. kind: 'iteration', 'save', 'backup', 'preview', 'info',
    'diverged' or 'done'; losses are the latest iteration's (src, dst, and any extra terms)."""

    kind: str
    iteration: int
    ms_per_iter: float = 0.0
    losses: dict[str, float] = field(default_factory=dict)
    message: str = ""


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
    (:func:`recast.train.devices.resolve_device`). workers: data processes
    (None = automatic). seed: for init, sampling and augmentation.
    autosave_minutes / autobackup_hours / backup_count: checkpoint cadence (0 = off).
    preview_every: iterations between preview and loss-curve PNGs (None = 10·max(1, res//64); 0 = off).
    load_weights: another model folder to copy matching weights from (new model only); freeze: parameter
    groups to freeze ("encoder"). precision: ``auto`` (bf16 autocast where the device computes bf16
    natively — AVX512-BF16/AMX CPUs, Ampere+ GPUs — else fp32), ``bf16`` or ``fp32``; see
    :mod:`recast.runtime.precision`. tensorboard: also log losses, step time and previews as TensorBoard
    event files in ``model_dir/tensorboard`` (needs ``tensorboardX``). compile:
    torch.compile the model. threads: torch CPU threads (None = one per usable core,
    adapted while training to the machine's load: :class:`recast.runtime.threads.ThreadTuner`).
    explosion_factor: stop when a loss exceeds this multiple of its recent median (0 = off).
    consent: the trainer's statement of the depicted people's consent, written to the model card
    (:mod:`recast.train.modelcard`; None keeps the card's previous statement).
    on_event: callback for progress (the library never prints).
    """

    src: Path | str | Any
    dst: Path | str | Any
    model_dir: Path | str
    model: str | None = None
    model_config: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    iterations: int | None = None
    more: int | None = None
    minutes: float | None = None
    device: str = "cpu"
    workers: int | None = None
    seed: int = 0
    autosave_minutes: float = 25.0
    autobackup_hours: float = 0.0
    backup_count: int = 24
    preview_every: int | None = None
    load_weights: Path | str | None = None
    freeze: tuple[str, ...] = ()
    precision: str = "auto"
    compile: bool = False
    tensorboard: bool = False
    threads: int | None = None
    explosion_factor: float = 20.0
    consent: str | None = None
    on_event: Callable[[ProgressEvent], None] | None = None

    def validate(self) -> None:
        """Raise :class:`OptionError` for contradictory or out-of-range run limits (before anything is written)."""
        if self.iterations is not None and self.more is not None:
            raise OptionError("give --iterations (the target iteration) or --more (iterations to add), not both")
        for name, value in (("--iterations", self.iterations), ("--more", self.more), ("--minutes", self.minutes),
                            ("--autosave-minutes", self.autosave_minutes),
                            ("--autobackup-hours", self.autobackup_hours)):
            if value is not None and value < 0:
                raise OptionError(f"{name} {value}: must be ≥ 0")

    def target_iteration(self, current: int) -> int | None:
        """The iteration to stop at for a model now at iteration ``current`` (None = no iteration limit)."""
        if self.iterations is not None:
            return self.iterations
        if self.more is not None:
            return current + self.more
        return None


def read_config_file(path: str | Path, config_fields: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a TOML file into (model_config, settings); keys may sit at top level or in [model]/[train]."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InputError(path, f"cannot read TOML config: {error}") from None
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key in ("model", "train"):
            flat.update(value)
        else:
            flat[key] = value
    model_config = {k: v for k, v in flat.items() if k in config_fields}
    settings = {k: v for k, v in flat.items() if k not in config_fields}
    unknown = sorted(set(settings) - set(SETTING_NAMES))
    if unknown:
        raise InputError(path, f"unknown option(s) {', '.join(unknown)}")
    return model_config, settings
