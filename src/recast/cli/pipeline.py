"""``recast video``, ``recast run`` and ``recast demo``: encoding and the one-command pipeline."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from recast.cli.devices import pick_device
from recast.cli.locks import writes_into
from recast.cli.progress import console, progress_bar
from recast.options import from_mapping, option_fields, select, validate
from recast.options.cli import cli_options
from recast.pipeline.run import RUN_COMPUTE, RunOptions
from recast.provenance.writer import EncodeOptions
from recast.runlog import run_log
from recast.runtime.options import ComputeOptions, Limits

if TYPE_CHECKING:
    from recast.pipeline.run import RunSummary


@writes_into("output", what="recast video")
@cli_options("encode", option_fields(EncodeOptions))
def video_command(
    merged: Path = typer.Argument(..., help="Folder of merged frames (00001.png …)."),
    output: Path = typer.Option(..., "-o", "--output", help="Result video: .mp4, .mov (ProRes), .mkv, .avi."),
    audio_from: Path | None = typer.Option(None, help="Copy the audio of this file (the destination video)."),
    mask: Path | None = typer.Option(None, help="Mask frames folder; also writes <output>_mask.<ext>."),
    fps: float | None = typer.Option(None, help="Frame rate (default: that of --audio-from, else 25)."),
    force: bool = typer.Option(False, help="Replace an existing output."),
    c2pa: bool | None = typer.Option(None, "--c2pa/--no-c2pa", help="Sign a C2PA manifest into the video "
                                     "(default: when c2pa-python is installed and the output is .mp4/.mov)."),
    encode: dict[str, Any] | None = None,
) -> None:
    """Encode merged frames into the result video, labelled as synthetic media (tags, watermark, sidecar, C2PA)."""
    from recast.provenance.writer import encode_video

    options = EncodeOptions(fps=fps, audio_from=audio_from, mask_dir=mask, overwrite=force, c2pa=c2pa,
                            **(encode or {}))
    with run_log(output.parent, "video"), progress_bar("encoding") as update:
        summary = encode_video(merged, output, options, update)
    audio = "with audio" if summary.has_audio else "no audio"
    if audio_from is not None and not summary.has_audio:
        console.print(f"[yellow]note[/]: {audio_from} has no audio track; the result is silent")
    console.print(f"[green]done[/]: {summary.frames} frames at {summary.fps:g} fps, {audio} → {summary.output}"
                  + (f" (+ {summary.mask_output})" if summary.mask_output else "")
                  + f"; provenance: {summary.sidecar}" + (", C2PA manifest signed" if summary.c2pa else ""))


def _train_reporter() -> Callable[[object], None]:
    last = [0.0]

    def report(event: object) -> None:
        kind = getattr(event, "kind", "")
        now = time.monotonic()
        if kind == "iteration" and now - last[0] < 10:
            return
        last[0] = now
        losses = " ".join(f"{k} {v:.4f}" for k, v in getattr(event, "losses", {}).items())
        message = getattr(event, "message", "")
        console.print(f"  train {kind}: iteration {getattr(event, 'iteration', 0)}"
                      f" {getattr(event, 'ms_per_iter', 0.0):.0f} ms/iter {losses} {message}".rstrip())

    return report


@writes_into("workspace", "output", what="recast run")
# RunOptions takes these two of the video options (the rest keep their defaults in a one-command run).
@cli_options("encode", select(EncodeOptions, "preset", "visible_label"))
@cli_options("run", option_fields(RunOptions))
@cli_options("limits", select(Limits, "iterations"))
@cli_options("compute", select(ComputeOptions, *RUN_COMPUTE))
def run_command(
    src: Path = typer.Option(..., "--src", help="Video of the person whose face is put in."),
    dst: Path = typer.Option(..., "--dst", help="Video whose face is replaced (its audio is kept)."),
    output: Path = typer.Option(..., "-o", "--output", help="Result video."),
    workspace: Path | None = typer.Option(None, help="Working folder (default: <output>_workspace)."),
    reference: list[Path] = typer.Option([], help="Photo(s) of the destination person (multi-person footage)."),
    force: bool = typer.Option(False, help="Replace an existing result."),
    xseg: Path | None = typer.Option(None, "--xseg", help="XSeg mask model folder: its masks are applied to both "
                                     "facesets (masked training) and cut occluders out at merge time."),
    encode: dict[str, Any] | None = None,
    run: dict[str, Any] | None = None,
    limits: dict[str, Any] | None = None,
    compute: dict[str, Any] | None = None,
) -> None:
    """Swap faces in one command: workspace → extract both → train → merge into the labelled video."""
    options = RunOptions(src=src, dst=dst, output=output, workspace=workspace, reference=list(reference),
                         overwrite=force, xseg=xseg, **(encode or {}), **(run or {}), **(limits or {}),
                         **(compute or {}))
    validate(options)
    from_mapping(ComputeOptions, compute or {})
    from_mapping(Limits, limits or {})
    options.device = pick_device(options.device)
    _run_and_report(options)


def _run_and_report(options: RunOptions) -> None:
    """Run; with ``--force``, an existing result waits in ``.recast/backup/<time>/`` beside it and comes back if
    the run fails."""
    from recast.paths import kept_aside
    from recast.pipeline.run import check_run, run
    from recast.provenance.writer import result_files

    check_run(options)  # an output that is also an input is refused before anything moves
    root = options.output.absolute().parent
    with kept_aside(root, result_files(options.output), options.overwrite) as backup, \
            run_log(options.workspace_dir, "run"), progress_bar("working") as update:
        summary = run(options, on_stage=_print_stage, on_progress=update, on_train_event=_train_reporter())
    if backup is not None:
        console.print(f"the previous result is kept in {backup}")
    _print_run(summary)


def _print_stage(name: str) -> None:
    console.print(f"[bold cyan]▶ {name}[/]")


def _print_run(summary: RunSummary) -> None:
    console.print(f"model: {summary.model_choice}" + (f", enhanced by {summary.enhancer}" if summary.enhancer else ""))
    console.print(
        f"[green]done[/]: src {summary.src_extract.faces} faces, dst {summary.dst_extract.faces} faces, "
        f"{summary.iterations} training iterations, {summary.merge.frames_merged} frames merged "
        f"({summary.merge.frames_passed_through} without a face passed through)"
    )
    if summary.coverage.poor:
        console.print(f"[yellow]poor coverage[/]: {summary.coverage.describe()}; details: recast faceset coverage "
                      f"{summary.workspace.src_aligned} {summary.workspace.dst_aligned}")
    if summary.coverage.mouth_mismatch() is not None:
        console.print(f"[yellow]mouth[/]: {summary.coverage.mouth_mismatch()}")
    if summary.merge.precision:
        console.print(f"merge precision: {summary.merge.precision}")
    console.print(f"result: [bold]{summary.encode.output.resolve()}[/]")
    console.print(f"provenance: {summary.encode.sidecar}  (check with: recast verify {summary.encode.output})")


@writes_into("workspace", what="recast demo")
@cli_options("compute", select(ComputeOptions, "precision", "threads"))
def demo_command(
    workspace: Path = typer.Option(Path("demo_workspace"), help="Folder for the demo's files."),
    minutes: float = typer.Option(3.5, help="Training time budget (the whole demo takes about 4 minutes on 2 cores)."),
    force: bool = typer.Option(False, help="Make the demo again from scratch (the previous work moves to "
                               "WORKSPACE/work_trash/)."),
    compute: dict[str, Any] | None = None,
) -> None:
    """Swap two built-in sample clips (public-domain portraits) end to end and show the result."""
    from recast.pipeline.demo import DemoOptions, run_demo

    output = workspace / "result.mp4"
    if output.exists() and not force:
        console.print(f"the demo result already exists: [bold]{output.resolve()}[/] (--force makes it again)")
        return
    console.print(f"sample clips: {workspace / 'samples'} (Grace Hopper → the NASA astronaut portrait)")
    with run_log(workspace, "demo"), progress_bar("working") as update:
        summary = run_demo(DemoOptions(workspace=workspace, minutes=minutes, force=force, **(compute or {})),
                           on_stage=_print_stage, on_progress=update, on_train_event=_train_reporter())
    if summary.moved_work is not None:
        console.print(f"previous demo work moved to {summary.moved_work}")
    _print_run(summary.run)
    console.print(f"before/after: [bold]{summary.before_after.resolve()}[/]")
    console.print(f"side by side: [bold]{summary.side_by_side.resolve()}[/]")
    console.print(f"eval: {demo_headline(summary.evaluation)}  (report: {summary.eval_dir})")
    console.print("a real swap needs minutes of footage of each consenting person and an hour or more of training")


def demo_headline(evaluation: dict[str, object]) -> str:
    """``recast eval``'s headline figures in one line."""

    def number(key: str, fmt: str, scale: float = 1.0) -> str:
        value = evaluation.get(key)
        return "n/a" if not isinstance(value, (int, float)) else fmt.format(value * scale)

    return (f"source identity verified in {number('identity_same_person', '{:.0f} %', 100.0)} of frames "
            f"(within 0.6 of the source and closer to it than to the destination), pose error "
            f"{number('pose_error_deg', '{:.1f}°')}, sharpness {number('sharpness', '{:.2f}')} of the destination's")


def register(app: typer.Typer) -> None:
    """Add ``video``, ``run`` and ``demo`` to the app."""
    app.command("video")(video_command)
    app.command("run")(run_command)
    app.command("demo")(demo_command)
