"""``recast train``: train or resume a face-swap model (thin wrapper over :func:`recast.train.train`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from recast.cli.devices import DEVICE_HELP, pick_device

# Model-config flags (fixed at creation) and setting flags (changeable on resume): name → value.
_MODEL_FLAGS = ("resolution", "face_type", "archi", "ae_dims", "e_dims", "d_dims", "d_mask_dims", "inter_dims")


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to ``app``."""

    @app.command("train")
    def train_command(
        src: Path = typer.Option(..., "--src", help="src faceset (aligned faces folder or pack)"),
        dst: Path = typer.Option(..., "--dst", help="dst faceset (aligned faces folder or pack)"),
        model_dir: Path = typer.Option(..., "--model-dir", help="model folder (created if new)"),
        model: str | None = typer.Option(None, "--model", help="saehd, quick96, amp or cpu (new models)"),
        config: Path | None = typer.Option(None, "--config", help="TOML file of model options and settings"),
        iterations: int | None = typer.Option(None, "--iterations", help="run this many iterations"),
        minutes: float | None = typer.Option(None, "--minutes", help="run this many minutes"),
        device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
        workers: int | None = typer.Option(None, "--workers", help="data worker processes"),
        seed: int = typer.Option(0, "--seed"),
        threads: int | None = typer.Option(None, "--threads", help="torch CPU threads"),
        load_weights: Path | None = typer.Option(None, "--load-weights", help="copy matching weights from "
                                                  "another model folder (new model only)"),
        freeze: list[str] = typer.Option([], "--freeze", help="freeze a part while training: encoder"),
        autosave_minutes: float = typer.Option(25.0, "--autosave-minutes"),
        autobackup_hours: float = typer.Option(0.0, "--autobackup-hours", help="0 = off"),
        preview_every: int | None = typer.Option(None, "--preview-every", help="iterations between previews"),
        precision: str = typer.Option("auto", help="auto (bf16 where the hardware has it), bf16 or fp32"),
        tensorboard: bool = typer.Option(False, "--tensorboard", help="also write TensorBoard logs to "
                                         "MODEL_DIR/tensorboard (pip install 'recast[tensorboard]')"),
        compile_model: bool = typer.Option(False, "--compile/--no-compile", help="torch.compile (off: no gain "
                                           "measured on CPU)"),
        resolution: int | None = typer.Option(None, "--resolution", help="[fixed] face size, 64–640"),
        face_type: str | None = typer.Option(None, "--face-type", help="[fixed] half/mid/full/whole/head"),
        archi: str | None = typer.Option(None, "--archi", help="[fixed] e.g. liae-ud, df-udt"),
        ae_dims: int | None = typer.Option(None, "--ae-dims", help="[fixed]"),
        e_dims: int | None = typer.Option(None, "--e-dims", help="[fixed]"),
        d_dims: int | None = typer.Option(None, "--d-dims", help="[fixed]"),
        d_mask_dims: int | None = typer.Option(None, "--d-mask-dims", help="[fixed] 0 = no learned mask"),
        inter_dims: int | None = typer.Option(None, "--inter-dims", help="[fixed] AMP only"),
        batch_size: int | None = typer.Option(None, "--batch-size"),
        optimizer: str | None = typer.Option(None, "--optimizer", help="adabelief, rmsprop or adam"),
        lr: float | None = typer.Option(None, "--lr"),
        lr_dropout: float | None = typer.Option(None, "--lr-dropout", help="update keep-probability (0.3 = on)"),
        clip_grad: float | None = typer.Option(None, "--clip-grad", help="global norm limit (1.0 = on)"),
        masked_training: bool | None = typer.Option(None, "--masked-training/--no-masked-training"),
        eyes_mouth_prio: bool | None = typer.Option(None, "--eyes-mouth-prio/--no-eyes-mouth-prio"),
        uniform_yaw: bool | None = typer.Option(None, "--uniform-yaw/--no-uniform-yaw"),
        blur_out_mask: bool | None = typer.Option(None, "--blur-out-mask/--no-blur-out-mask"),
        random_warp: bool | None = typer.Option(None, "--random-warp/--no-random-warp"),
        random_flip_src: bool | None = typer.Option(None, "--random-flip-src/--no-random-flip-src"),
        random_flip_dst: bool | None = typer.Option(None, "--random-flip-dst/--no-random-flip-dst"),
        random_hsv_power: float | None = typer.Option(None, "--random-hsv-power"),
        ct_mode: str | None = typer.Option(None, "--ct-mode", help="none, rct, lct, mkl, idt, sot"),
        gan_power: float | None = typer.Option(None, "--gan-power"),
        gan_patch_size: int | None = typer.Option(None, "--gan-patch-size"),
        gan_dims: int | None = typer.Option(None, "--gan-dims"),
        true_face_power: float | None = typer.Option(None, "--true-face-power"),
        face_style_power: float | None = typer.Option(None, "--face-style-power"),
        bg_style_power: float | None = typer.Option(None, "--bg-style-power"),
        morph_factor: float | None = typer.Option(None, "--morph-factor", help="AMP training morph"),
        unwarped_every: int | None = typer.Option(None, "--unwarped-every", help="re-train every N-th iteration "
                                                  "on the previous batch unwarped (Quick96: 3; 0 = never)"),
        pretrain: bool | None = typer.Option(None, "--pretrain/--no-pretrain"),
    ) -> None:
        """Train (or resume) a model on src and dst facesets. Ctrl-C saves and stops."""
        from recast.train import ProgressEvent, TrainOptions, train
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
        console = Console(stderr=True)
        last_print = [0.0]

        def report(event: ProgressEvent) -> None:
            if event.kind == "iteration":
                now = time.monotonic()
                if now - last_print[0] < 2.0:
                    return
                last_print[0] = now
                losses = "  ".join(f"{k} {v:.4f}" for k, v in event.losses.items())
                console.print(f"[bold]{event.iteration:>8}[/]  {event.ms_per_iter:8.0f} ms/iter  {losses}")
            elif event.kind in ("info", "diverged", "backup"):
                style = "red" if event.kind == "diverged" else "cyan"
                console.print(f"[{style}]{event.kind}[/]: {event.message or event.iteration}")
            elif event.kind == "save":
                console.print(f"[green]saved[/] iteration {event.iteration}")

        result = train(TrainOptions(
            src=src, dst=dst, model_dir=model_dir, model=model, model_config=model_config, settings=settings,
            iterations=iterations, minutes=minutes, device=device, workers=workers, seed=seed, threads=threads,
            load_weights=load_weights, freeze=tuple(freeze), autosave_minutes=autosave_minutes,
            autobackup_hours=autobackup_hours, preview_every=preview_every, precision=precision, compile=compile_model,
            tensorboard=tensorboard,
            on_event=report,
        ))
        console.print(f"{result.status}: iteration {result.iteration}, {result.ms_per_iter:.0f} ms/iter "
                      f"(data wait {100 * result.data_wait_share:.0f} %) {result.message}")
        if result.status == "diverged":
            raise typer.Exit(2)
