"""``recast extract``: a video or frame folder → aligned faces."""

from __future__ import annotations

from pathlib import Path

import typer

from recast.cli.progress import console, progress_bar
from recast.errors import InputError
from recast.extract.detectors import list_detectors
from recast.extract.stage import ExtractOptions, extract
from recast.runlog import run_log


def extract_command(
    source: Path = typer.Argument(..., help="Video file or folder of frames."),
    out: Path = typer.Argument(..., help="Folder for the aligned faces."),
    detector: str = typer.Option("dlib-hog", help=f"Face detector: {', '.join(list_detectors())}."),
    detector_model: Path | None = typer.Option(None, help="Model file for the onnx detector."),
    face_type: str = typer.Option("wf", help="half|mid|full|whole|head (or h, mf, f, wf)."),
    size: int = typer.Option(512, help="Aligned image side, 256–2048."),
    image_format: str = typer.Option("jpg", "--format", help="jpg or png."),
    jpeg_quality: int = typer.Option(90, help="JPEG quality."),
    min_face_size: int = typer.Option(40, help="Ignore faces smaller than this (pixels)."),
    max_faces: int = typer.Option(0, help="Faces kept per frame, largest first (0 = all)."),
    rotations: bool = typer.Option(True, help="Retry rotated 90/180/270° when no face is found."),
    detect_size: int | None = typer.Option(None, help="Detect on frames scaled to this longest side (0 = full)."),
    smooth: bool | None = typer.Option(None, help="Temporal landmark smoothing (default: on for video)."),
    debug: bool = typer.Option(False, help="Write debug frames to OUT_debug/."),
    reference: list[Path] = typer.Option([], help="Photo(s) of the person to keep; others are dropped."),
    reference_threshold: float = typer.Option(0.6, help="Max identity distance to a reference."),
    embed: bool = typer.Option(False, help="Store a 128-d identity embedding with every face."),
    fps: float | None = typer.Option(None, help="Resample video input to this frame rate."),
    force: bool = typer.Option(False, help="Re-extract frames already done."),
    frames_list: Path | None = typer.Option(None, help="Text file of frames to re-extract (names or numbers)."),
    workers: int | None = typer.Option(None, help="Analysis processes (default: one per usable core, at most 8)."),
) -> None:
    """Detect, align and save every face of a video or frame folder (DeepFaceLab steps 4–5)."""
    frames = None
    if frames_list is not None:
        if not frames_list.is_file():
            raise InputError(frames_list, "no such file")
        frames = [line.strip() for line in frames_list.read_text().splitlines() if line.strip()]
    options = ExtractOptions(
        detector=detector,
        detector_kwargs={"model_path": detector_model} if detector_model else {},
        face_type=face_type, size=size, image_format=image_format, jpeg_quality=jpeg_quality,
        min_face_size=min_face_size, max_faces=max_faces, try_rotations=rotations, detect_size=detect_size,
        smooth=smooth, debug=debug,
        reference=list(reference), reference_threshold=reference_threshold, embed=embed, fps=fps, force=force,
        frames_list=frames, workers=workers,
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
