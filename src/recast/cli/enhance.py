"""``recast train-enhancer``: train the identity-specific face enhancer of a trained model."""

from __future__ import annotations

from pathlib import Path

import typer

from recast.cli.devices import DEVICE_HELP, pick_device
from recast.cli.progress import console
from recast.runlog import run_log


def train_enhancer_command(
    model_dir: Path = typer.Option(..., "--model-dir", "-m", help="Trained model folder."),
    src_faces: Path = typer.Option(..., "--src-faces", help="The src faceset the model was trained on."),
    out: Path | None = typer.Option(None, "-o", "--out", help="Enhancer folder [MODEL_DIR_enhancer]."),
    minutes: float = typer.Option(10.0, help="Training time budget."),
    iterations: int | None = typer.Option(None, help="Stop after this many iterations instead."),
    size: int | None = typer.Option(None, help="Enhanced face size [twice the model's, at most the faces' own]."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
) -> None:
    """Train a small super-resolution network on the src person's own faces, as the model renders them;
    use it with recast merge --enhance."""
    from recast.train.enhance import train_enhancer

    out = out or model_dir.with_name(model_dir.name + "_enhancer")
    with run_log(out, "train-enhancer"):
        result = train_enhancer(model_dir, src_faces, out, minutes=minutes, iterations=iterations, size=size,
                                device=pick_device(device))
    console.print(f"[green]done[/]: {result.iterations} iterations in {result.seconds:.0f} s; mean error of the "
                  f"model's faces against the real ones {result.before:.4f} → {result.after:.4f} enhanced "
                  f"→ {result.folder} (recast merge --enhance {result.folder})")


def register(app: typer.Typer) -> None:
    """Add ``train-enhancer`` to the app."""
    app.command("train-enhancer")(train_enhancer_command)
