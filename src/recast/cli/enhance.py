"""``recast train-enhancer``: train the identity-specific face enhancer of a trained model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from recast.cli.devices import pick_device
from recast.cli.locks import writes_into
from recast.cli.progress import console
from recast.cli.trainstatus import is_main_rank
from recast.options import from_mapping, option_fields, select
from recast.options.cli import cli_options
from recast.runlog import run_log
from recast.runtime.options import ComputeOptions
from recast.train.options import EnhancerOptions


@writes_into("out", "model_dir", what="recast train-enhancer")
@cli_options("enhancer", option_fields(EnhancerOptions))
@cli_options("compute", select(ComputeOptions, "device"))
def train_enhancer_command(
    model_dir: Path = typer.Option(..., "--model-dir", "-m", help="Trained model folder."),
    src_faces: Path = typer.Option(..., "--src-faces", help="The src faceset the model was trained on."),
    out: Path | None = typer.Option(None, "-o", "--out", help="Enhancer folder [MODEL_DIR_enhancer]."),
    enhancer: dict[str, Any] | None = None,
    compute: dict[str, Any] | None = None,
) -> None:
    """Train a small super-resolution network on the src person's own faces, as the model renders them;
    use it with recast merge --enhance."""
    from recast.train.enhance import train_enhancer

    given = from_mapping(EnhancerOptions, enhancer or {})
    device = pick_device(from_mapping(ComputeOptions, compute or {}).device)
    out = out or model_dir.with_name(model_dir.name + "_enhancer")
    with run_log(out, "train-enhancer"):
        result = train_enhancer(model_dir, src_faces, out, minutes=given.minutes, iterations=given.iterations,
                                size=given.size, device=device)
    if not is_main_rank():  # under torchrun only rank 0 reports (it measured the errors)
        return
    console.print(f"[green]{result.status}[/]: {result.iterations} iterations in {result.seconds:.0f} s; mean error "
                  f"of the model's faces against the real ones {result.before:.4f} → {result.after:.4f} enhanced "
                  f"→ {result.folder} (recast merge --enhance {result.folder}) {result.message}")


def register(app: typer.Typer) -> None:
    """Add ``train-enhancer`` to the app."""
    app.command("train-enhancer")(train_enhancer_command)
