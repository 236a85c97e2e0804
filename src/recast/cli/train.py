"""``recast train``: train or resume a face-swap model (thin wrapper over :func:`recast.train.train`)."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from recast import DISTRIBUTION
from recast.cli.devices import pick_device
from recast.cli.locks import writes_into
from recast.cli.progress import new_console
from recast.models.registry import DEFAULT_MODEL, config_fields, config_options, list_models
from recast.options import OptionField, option_fields, select
from recast.options.cli import cli_options
from recast.options.describe import default_text
from recast.runtime.options import ComputeOptions, Limits
from recast.train.options import TRAIN_COMPUTE, TrainOptions, TrainSettings

F = TypeVar("F", bound=Callable[..., Any])


def torchrun_command(argv: list[str], nproc: int) -> list[str]:
    """The command line that runs ``recast`` with arguments ``argv`` (``--nproc`` left out) under torchrun
    with ``nproc`` processes on this machine (``python -m torch.distributed.run`` is torchrun)."""
    args: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            args.append(arg)
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            "-m", "recast", *args]


def _under_torchrun(func: F) -> F:
    """Run the command itself under torchrun when ``--nproc`` asks for more than one process (and this is
    not already a torchrun process); before the workspace lock, which rank 0 then takes."""

    @functools.wraps(func)
    def command(*args: Any, **kwargs: Any) -> Any:
        nproc = kwargs.get("nproc") or 1
        if nproc > 1 and "WORLD_SIZE" not in os.environ:
            argv = torchrun_command(sys.argv[1:], nproc)
            os.execv(argv[0], argv)
        return func(*args, **kwargs)

    return command  # type: ignore[return-value]


def _setting_default(item: OptionField) -> str:
    return f"{default_text(item)} or the model's; on resume the last run's"


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to ``app``."""

    @app.command("train")
    @_under_torchrun
    @writes_into("model_dir", what="recast train")
    @cli_options("model_config", config_options(), lambda item: "the model's")
    @cli_options("settings", option_fields(TrainSettings), _setting_default)
    @cli_options("limits", option_fields(Limits))
    @cli_options("compute", select(ComputeOptions, *TRAIN_COMPUTE, "nproc"))
    @cli_options("run", option_fields(TrainOptions))
    def train_command(
        src: Path = typer.Option(..., "--src", help="src faceset (aligned faces folder or pack): the face put in."),
        dst: Path = typer.Option(..., "--dst", help="dst faceset (aligned faces folder or pack): the face replaced."),
        model_dir: Path = typer.Option(..., "--model-dir", help="Model folder (created if new, resumed if not)."),
        model: str | None = typer.Option(None, "--model", help=f"{', '.join(list_models())}, for a new model "
                                         f"(default: {DEFAULT_MODEL}; a saved model keeps its own)."),
        config: Path | None = typer.Option(None, "--config", help="TOML file of model options and settings "
                                           "(top level or [model] / [train] tables); flags override it."),
        load_weights: Path | None = typer.Option(None, "--load-weights", help="Copy matching weights from "
                                                  "another model folder (new model only)."),
        freeze: list[str] = typer.Option([], "--freeze", help="Freeze a part while training: encoder."),
        tensorboard: bool = typer.Option(False, "--tensorboard", help="Also write TensorBoard logs to "
                                         f"MODEL_DIR/tensorboard (pip install '{DISTRIBUTION}[tensorboard]')."),
        compile_model: bool = typer.Option(False, "--compile/--no-compile", help="torch.compile the model (no gain "
                                           "measured on CPU)."),
        consent: str | None = typer.Option(None, "--consent", help="Statement of the depicted people's consent "
                                           "(e.g. 'both gave written consent on 2025-03-01'), recorded in "
                                           "MODEL_DIR/MODEL_CARD.md; kept until given again."),
        model_config: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
        limits: dict[str, Any] | None = None,
        compute: dict[str, Any] | None = None,
        run: dict[str, Any] | None = None,
    ) -> None:
        """Train (or resume) a model on src and dst facesets. Ctrl-C saves and stops.

        Model options (marked "fixed") apply when the model is created; the other settings can be
        changed on every resume and are kept with the model.
        """
        from recast.cli.trainstatus import TrainStatus, is_main_rank
        from recast.runlog import run_log
        from recast.train.options import read_config_file
        from recast.train.trainer import train

        given = {**(limits or {}), **{k: v for k, v in (compute or {}).items() if k != "nproc"}, **(run or {})}
        flags_config, flags_settings = model_config or {}, settings or {}
        model_config, settings = {}, {}
        if config is not None:
            fields = config_fields(model or DEFAULT_MODEL) or [item.name for item in config_options()]
            model_config, settings = read_config_file(config, fields)
        model_config.update(flags_config)
        settings.update(flags_settings)
        console = new_console(quiet=not is_main_rank())
        options = TrainOptions(src=src, dst=dst, model_dir=model_dir, model=model, model_config=model_config,
                               settings=settings, load_weights=load_weights, freeze=tuple(freeze),
                               compile=compile_model, tensorboard=tensorboard, consent=consent, **given)
        options.validate()
        options.device = pick_device(options.device)
        with run_log(model_dir, "train"), \
                TrainStatus(console, model_dir / "previews" / "preview.png", options.iterations, options.more,
                            options.minutes) as status:
            options.on_event = status
            result = train(options)
        console.print(f"{result.status}: iteration {result.iteration}, {result.ms_per_iter:.0f} ms/iter "
                      f"(data wait {100 * result.data_wait_share:.0f} %) {result.message}")
        if result.status == "diverged":
            raise typer.Exit(2)
