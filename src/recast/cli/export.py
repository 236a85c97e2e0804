"""``recast export``: a trained model folder → a DeepFaceLive ``.dfm`` / ``.onnx`` face model."""

from __future__ import annotations

from pathlib import Path

import typer

from recast.cli.progress import console


def export_command(
    model_dir: Path = typer.Argument(..., help="Trained model folder (Quick96, SAEHD, AMP)."),
    out: Path = typer.Option(..., "--output", "-o", help="NAME.dfm (DeepFaceLive) or NAME.onnx; same bytes."),
    opset: int = typer.Option(12, help="ONNX opset: 12 (DeepFaceLab's; loads everywhere) … 18 for .dfm "
                              "(DeepFaceLive's onnxruntime 1.15.1 runs no newer), … 20 for .onnx."),
    fp16: bool = typer.Option(False, "--fp16", help="Store the weights as float16 (half the file; runs in fp32)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
) -> None:
    """Export MODEL_DIR as an ONNX face model that DeepFaceLive, FaceFusion and recast live/merge load."""
    from recast.export.dfm import export_model  # torch and onnx load only for this command

    summary = export_model(model_dir, out, opset=opset, fp16=fp16, overwrite=force)
    kind = "AMP, with morph_value" if summary.has_morph else "no morph input"
    console.print(
        f"[green]done[/]: {summary.path} ({summary.bytes / 1e6:.1f} MB, {summary.resolution} px "
        f"{summary.metadata['recast.face_type']} face, {kind}, opset {summary.opset}"
        + (", float16 weights" if summary.fp16 else "") + ")"
    )
    console.print("the file's metadata carries the synthetic-media notice; frames other programs make "
                  "with it carry no recast watermark")


def register(app: typer.Typer) -> None:
    """Add ``export`` to the app."""
    app.command("export")(export_command)
