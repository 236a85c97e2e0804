"""``recast frames`` (video → numbered images) and ``recast cut`` (re-encode a time span)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from recast.cli.locks import writes_into
from recast.cli.progress import console, progress_bar
from recast.errors import InputError
from recast.media.video import extract_frames, probe
from recast.media.video_encode import cut


@writes_into("out", what="recast frames")
def frames_command(
    video: Path = typer.Argument(..., help="Input video file."),
    out: Path = typer.Argument(..., help="Folder for the frames (created; existing frames are kept)."),
    fps: float | None = typer.Option(None, "--fps", min=0.001, help="Resample to this frame rate."),
    fmt: str = typer.Option("png", "--format", help="Image format: png or jpg."),
    jpeg_quality: int = typer.Option(95, "--jpeg-quality", min=1, max=100, help="JPEG quality."),
    denoise: float = typer.Option(0.0, "--denoise", min=0.0, help="Spatial denoise strength (0 = off, 1-10)."),
) -> None:
    """Write every frame of VIDEO to OUT/00001.png …, resuming where a previous run stopped."""
    info = probe(video)
    total = round(info.duration * fps) if fps else info.frame_count
    written = skipped = 0
    started = time.perf_counter()
    with progress_bar(f"frames {video.name}") as update:

        def on_frame(index: int, was_written: bool) -> None:
            nonlocal written, skipped
            written += was_written
            skipped += not was_written
            update(index, max(total, index))

        count = extract_frames(video, out, fps=fps, fmt=fmt, jpeg_quality=jpeg_quality, denoise=denoise,
                               progress=on_frame)
    seconds = time.perf_counter() - started
    kept = f" ({skipped} already there)" if skipped else ""
    console.print(f"{count} frames in {out}: wrote {written}{kept} in {seconds:.1f} s "
                  f"({count / max(seconds, 1e-9):.0f} frames/s)")


def cut_command(
    video: Path = typer.Argument(..., help="Input video file."),
    start: float = typer.Option(..., "--start", min=0.0, help="Start time in seconds."),
    end: float = typer.Option(..., "--end", help="End time in seconds."),
    out: Path | None = typer.Option(None, "-o", "--output", help="Output file (default <stem>_cut.mp4)."),
    audio_track: int = typer.Option(0, "--audio-track", min=0, help="Audio track to keep (0 = first)."),
    crf: int = typer.Option(18, "--crf", min=0, max=51, help="H.264 quality (lower = better, bigger)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
) -> None:
    """Re-encode START..END seconds of VIDEO (H.264) keeping one audio track in sync."""
    target = out if out is not None else video.with_name(f"{video.stem}_cut.mp4")
    if target.exists() and not force:
        raise InputError(target, "already exists; pass --force to replace it")
    started = time.perf_counter()
    with console.status(f"cutting {video.name} {start:g}-{end:g} s"):
        cut(video, target, start, end, audio_track=audio_track, crf=crf, overwrite=force)
    info = probe(target)
    audio = f", audio {info.audio_codec}" if info.has_audio else ", no audio"
    console.print(f"wrote {target}: {info.frame_count} frames, {info.duration:.2f} s{audio} "
                  f"in {time.perf_counter() - started:.1f} s")


def register(app: typer.Typer) -> None:
    """Add the ``frames`` and ``cut`` commands to the app."""
    app.command("frames")(frames_command)
    app.command("cut")(cut_command)
