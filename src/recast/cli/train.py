"""``recast train``: train or resume a face-swap model (thin wrapper over :func:`recast.train.train`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from recast import DISTRIBUTION
from recast.cli.devices import DEVICE_HELP, pick_device
from recast.cli.locks import writes_into
from recast.models.registry import DEFAULT_MODEL, config_fields, config_options
from recast.options import OptionField, option_fields
from recast.options.cli import cli_options
from recast.options.describe import default_text
from recast.train.options import TrainSettings


def _setting_default(item: OptionField) -> str:
    return f"{default_text(item)} or the model's; on resume the last run's"


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to ``app``."""

    @app.command("train")
    @writes_into("model_dir", what="recast train")
    @cli_options("model_config", config_options(), lambda item: "the model's")
    @cli_options("settings", option_fields(TrainSettings), _setting_default)
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
        consent: str | None = typer.Option(None, "--consent", help="Statement of the depicted people's consent "
                                           "(e.g. 'both gave written consent on 2025-03-01'), recorded in "
                                           "MODEL_DIR/MODEL_CARD.md; kept until given again."),
        model_config: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        """Train (or resume) a model on src and dst facesets. Ctrl-C saves and stops.

        Model options (marked "fixed") apply when the model is created; the other settings can be
        changed on every resume and are kept with the model.
        """
        from recast.cli.trainstatus import TrainStatus, is_main_rank
        from recast.runlog import run_log
        from recast.train.options import TrainOptions, read_config_file
        from recast.train.trainer import train

        device = pick_device(device)
        flags_config, flags_settings = model_config or {}, settings or {}
        model_config, settings = {}, {}
        if config is not None:
            fields = config_fields(model or DEFAULT_MODEL) or [item.name for item in config_options()]
            model_config, settings = read_config_file(config, fields)
        model_config.update(flags_config)
        settings.update(flags_settings)
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
