"""``recast extract``: a video or frame folder → aligned faces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from recast.cli.locks import writes_into
from recast.cli.progress import console, progress_bar
from recast.errors import InputError
from recast.extract.stage import ExtractOptions, extract
from recast.options import option_fields
from recast.options.cli import cli_options
from recast.runlog import run_log


@writes_into("out", what="recast extract")
@cli_options("given", option_fields(ExtractOptions))
def extract_command(
    source: Path = typer.Argument(..., help="Video file or folder of frames."),
    out: Path = typer.Argument(..., help="Folder for the aligned faces."),
    detector_model: Path | None = typer.Option(None, help="Model file for the onnx detector."),
    frames_list: Path | None = typer.Option(None, help="Text file of frames to re-extract (names or numbers)."),
    given: dict[str, Any] | None = None,
) -> None:
    """Detect, align and save every face of a video or frame folder (DeepFaceLab steps 4–5)."""
    frames = None
    if frames_list is not None:
        if not frames_list.is_file():
            raise InputError(frames_list, "no such file")
        frames = [line.strip() for line in frames_list.read_text().splitlines() if line.strip()]
    options = ExtractOptions(
        detector_kwargs={"model_path": detector_model} if detector_model else {}, frames_list=frames, **(given or {}),
    )
    with run_log(out, "extract"), progress_bar("extracting") as update:
        summary = extract(source, out, options, on_progress=update)
    console.print(
        f"[green]done[/]: {summary.frames} frames, {summary.faces} faces, "
        f"{summary.frames_without_face} frames without a face, {summary.frames_with_several} with several"
        + (f", {summary.rejected_by_identity} faces of other people dropped" if options.reference else "")
        + (f" ({summary.skipped_done} frames already done)" if summary.skipped_done else "")
        + f" → {summary.output}"
    )


def register(app: typer.Typer) -> None:
    """Add ``extract`` to the app."""
    app.command("extract")(extract_command)
