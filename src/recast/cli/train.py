"""``recast train``: train or resume a face-swap model (thin wrapper over :func:`recast.train.train`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from recast import DISTRIBUTION
from recast.cli.devices import DEVICE_HELP, pick_device

# Model-config flags (fixed at creation) and setting flags (changeable on resume): name → value.
_MODEL_FLAGS = ("resolution", "face_type", "archi", "ae_dims", "e_dims", "d_dims", "d_mask_dims", "inter_dims")
_FIXED = "Fixed when the model is created:"
_KEPT = "(default: the model's, or the last run's on resume)"


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to ``app``."""

    @app.command("train")
    def train_command(
        src: Path = typer.Option(..., "--src", help="src faceset (aligned faces folder or pack): the face put in."),
        dst: Path = typer.Option(..., "--dst", help="dst faceset (aligned faces folder or pack): the face replaced."),
        model_dir: Path = typer.Option(..., "--model-dir", help="Model folder (created if new, resumed if not)."),
        model: str | None = typer.Option(None, "--model", help="saehd, quick96, amp or cpu, for a new model "
                                         "(default: saehd; a saved model keeps its own)."),
        config: Path | None = typer.Option(None, "--config", help="TOML file of model options and settings "
                                           "(top level or [model] / [train] tables); flags override it."),
        iterations: int | None = typer.Option(None, "--iterations", help="Target iteration: stop when the model "
                                              "reaches it, counting earlier runs (DeepFaceLab's meaning)."),
        more: int | None = typer.Option(None, "--more", help="Stop after this many more iterations (instead of "
                                        "--iterations)."),
        minutes: float | None = typer.Option(None, "--minutes", help="Stop after this many minutes of this run. "
                                             "Without any limit, train until Ctrl-C (which saves)."),
        device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
        workers: int | None = typer.Option(None, "--workers", help="Data-loading processes (default: automatic)."),
        seed: int = typer.Option(0, "--seed", help="Seed for initialisation, sampling and augmentation."),
        threads: int | None = typer.Option(None, "--threads", help="Torch CPU threads, fixed (default: one per "
                                           "usable core, fewer while other programs load the CPU)."),
        load_weights: Path | None = typer.Option(None, "--load-weights", help="Copy matching weights from "
                                                  "another model folder (new model only)."),
        freeze: list[str] = typer.Option([], "--freeze", help="Freeze a part while training: encoder."),
        autosave_minutes: float = typer.Option(25.0, "--autosave-minutes", help="Minutes between saves (0 = only "
                                               "at the end)."),
        autobackup_hours: float = typer.Option(0.0, "--autobackup-hours", help="Hours between kept backups "
                                               "(0 = off)."),
        preview_every: int | None = typer.Option(None, "--preview-every", help="Iterations between preview and "
                                                 "loss-curve images in MODEL_DIR/previews (0 = off; default: 100 on "
                                                 "CPU, 10 × resolution/64 on CUDA)."),
        precision: str = typer.Option("auto", help="auto (bf16 where the hardware computes it natively, fp16 on "
                                      "older CUDA GPUs, else fp32), fp32, bf16 or fp16 (CUDA)."),
        tensorboard: bool = typer.Option(False, "--tensorboard", help="Also write TensorBoard logs to "
                                         f"MODEL_DIR/tensorboard (pip install '{DISTRIBUTION}[tensorboard]')."),
        compile_model: bool = typer.Option(False, "--compile/--no-compile", help="torch.compile the model (no gain "
                                           "measured on CPU)."),
        resolution: int | None = typer.Option(None, "--resolution", help=f"{_FIXED} face size in pixels, 64–640."),
        face_type: str | None = typer.Option(None, "--face-type", help=f"{_FIXED} half, mid, full, whole or head "
                                             "(or h, mf, f, wf)."),
        archi: str | None = typer.Option(None, "--archi", help=f"{_FIXED} SAEHD architecture, df or liae with "
                                         "options u, d, t, c (e.g. liae-ud, df-udt)."),
        ae_dims: int | None = typer.Option(None, "--ae-dims", help=f"{_FIXED} autoencoder (bottleneck) width."),
        e_dims: int | None = typer.Option(None, "--e-dims", help=f"{_FIXED} encoder width."),
        d_dims: int | None = typer.Option(None, "--d-dims", help=f"{_FIXED} decoder width."),
        d_mask_dims: int | None = typer.Option(None, "--d-mask-dims", help=f"{_FIXED} mask decoder width "
                                               "(0 = no learned mask)."),
        inter_dims: int | None = typer.Option(None, "--inter-dims", help=f"{_FIXED} AMP inter width (AMP only)."),
        batch_size: int | None = typer.Option(None, "--batch-size", help=f"Faces per iteration {_KEPT}."),
        optimizer: str | None = typer.Option(None, "--optimizer", help=f"adabelief, rmsprop or adam {_KEPT}."),
        lr: float | None = typer.Option(None, "--lr", help=f"Learning rate {_KEPT}."),
        lr_dropout: float | None = typer.Option(None, "--lr-dropout", help="Keep-probability of each weight "
                                                f"update; 1 = off, DeepFaceLab's 'on' is 0.3 {_KEPT}."),
        clip_grad: float | None = typer.Option(None, "--clip-grad", help="Global gradient-norm limit; 0 = off, "
                                               f"DeepFaceLab's 'on' is 1.0 {_KEPT}."),
        masked_training: bool | None = typer.Option(None, "--masked-training/--no-masked-training",
                                                    help=f"Count the loss inside the face mask only {_KEPT}."),
        eyes_mouth_prio: bool | None = typer.Option(None, "--eyes-mouth-prio/--no-eyes-mouth-prio",
                                                    help=f"Weight the eyes and mouth more {_KEPT}."),
        uniform_yaw: bool | None = typer.Option(None, "--uniform-yaw/--no-uniform-yaw",
                                                help=f"Sample faces evenly over head turn (yaw) {_KEPT}."),
        blur_out_mask: bool | None = typer.Option(None, "--blur-out-mask/--no-blur-out-mask",
                                                  help=f"Blur the area around the mask in samples {_KEPT}."),
        random_warp: bool | None = typer.Option(None, "--random-warp/--no-random-warp",
                                                help=f"Randomly warp input faces (augmentation) {_KEPT}."),
        random_flip_src: bool | None = typer.Option(None, "--random-flip-src/--no-random-flip-src",
                                                    help=f"Randomly mirror src faces {_KEPT}."),
        random_flip_dst: bool | None = typer.Option(None, "--random-flip-dst/--no-random-flip-dst",
                                                    help=f"Randomly mirror dst faces {_KEPT}."),
        random_hsv_power: float | None = typer.Option(None, "--random-hsv-power", help="Random hue/saturation/"
                                                      f"value shift of src samples, 0–0.3 {_KEPT}."),
        ct_mode: str | None = typer.Option(None, "--ct-mode", help="Colour-transfer src samples toward dst: "
                                           f"none, rct, lct, mkl, idt, sot {_KEPT}."),
        gan_power: float | None = typer.Option(None, "--gan-power", help=f"Patch-GAN loss weight, 0–10 {_KEPT}."),
        gan_patch_size: int | None = typer.Option(None, "--gan-patch-size", help="Patch-GAN patch size (0 = "
                                                  f"resolution/8) {_KEPT}."),
        gan_dims: int | None = typer.Option(None, "--gan-dims", help=f"Patch-GAN width {_KEPT}."),
        true_face_power: float | None = typer.Option(None, "--true-face-power", help="Code-discriminator weight, "
                                                     f"0–1 (df archis only) {_KEPT}."),
        face_style_power: float | None = typer.Option(None, "--face-style-power", help="Face style loss, 0–100 "
                                                      f"{_KEPT}."),
        bg_style_power: float | None = typer.Option(None, "--bg-style-power", help="Background style loss, "
                                                    f"0–100 {_KEPT}."),
        morph_factor: float | None = typer.Option(None, "--morph-factor", help=f"AMP training morph, 0–1 {_KEPT}."),
        unwarped_every: int | None = typer.Option(None, "--unwarped-every", help="Re-train every N-th iteration "
                                                  f"on the previous batch unwarped (Quick96: 3; 0 = never) {_KEPT}."),
        consent: str | None = typer.Option(None, "--consent", help="Statement of the depicted people's consent "
                                           "(e.g. 'both gave written consent on 2025-03-01'), recorded in "
                                           "MODEL_DIR/MODEL_CARD.md; kept until given again."),
        pretrain: bool | None = typer.Option(None, "--pretrain/--no-pretrain", help="Pretraining mode (no warp, "
                                             f"both flips, uniform yaw, no GAN/style) {_KEPT}."),
    ) -> None:
        """Train (or resume) a model on src and dst facesets. Ctrl-C saves and stops.

        Model options (marked "fixed") apply when the model is created; the other settings can be
        changed on every resume and are kept with the model.
        """
        from recast.cli.trainstatus import TrainStatus, is_main_rank
        from recast.runlog import run_log
        from recast.train import TrainOptions, train
        from recast.train.models.registry import config_fields
        from recast.train.options import SETTING_NAMES, read_config_file

        device = pick_device(device)
        given = {k: v for k, v in locals().items() if v is not None}
        model_config: dict[str, Any] = {}
        settings: dict[str, Any] = {}
        if config is not None:
            fields = config_fields(model or "saehd") or list(_MODEL_FLAGS)
            model_config, settings = read_config_file(config, fields)
        model_config.update({k: given[k] for k in _MODEL_FLAGS if k in given})
        settings.update({k: given[k] for k in SETTING_NAMES if k in given})
        console = Console(stderr=True, quiet=not is_main_rank())
        options = TrainOptions(
            src=src, dst=dst, model_dir=model_dir, model=model, model_config=model_config, settings=settings,
            iterations=iterations, more=more, minutes=minutes, device=device, workers=workers, seed=seed,
            threads=threads, load_weights=load_weights, freeze=tuple(freeze), autosave_minutes=autosave_minutes,
            autobackup_hours=autobackup_hours, preview_every=preview_every, precision=precision, compile=compile_model,
            tensorboard=tensorboard, consent=consent,
        )
        options.validate()
        with run_log(model_dir, "train"), \
                TrainStatus(console, model_dir / "previews" / "preview.png", iterations, more, minutes) as status:
            options.on_event = status
            result = train(options)
        console.print(f"{result.status}: iteration {result.iteration}, {result.ms_per_iter:.0f} ms/iter "
                      f"(data wait {100 * result.data_wait_share:.0f} %) {result.message}")
        if result.status == "diverged":
            raise typer.Exit(2)
