"""``recast merge``: trained model + destination frames + destination faces → merged frames or the result video.

``-o folder`` writes PNG frames and masks (resumable, for editing, then ``recast video``);
``-o result.mp4`` (any video suffix) streams the merged frames straight into the labelled result
video and its mask video, with the destination's audio.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer

from recast.cli.devices import pick_device
from recast.cli.locks import writes_into
from recast.cli.progress import console, progress_bar
from recast.errors import OptionError
from recast.merge.settings import MERGE_COMPUTE, MergeSession, MergeSettings, load_session
from recast.merge.stage import MergeSummary, merge, merge_to_video
from recast.options import from_mapping, option_fields, select
from recast.options.cli import cli_options
from recast.provenance.writer import VIDEO_SUFFIXES, EncodeOptions, is_video_path
from recast.runlog import run_log
from recast.runtime.options import ComputeOptions


def prefer_passive_openmp() -> None:
    """Let torch's OpenMP threads sleep, not spin, between layers while merging.

    The merger's reading and blending threads then get the cores while the model idles between
    layers: measured +10–15 % frames/s for a 128 px SAEHD on 2 cores (``benchmarks/merge.py``).
    Training keeps OpenMP's default (spinning was 25 % faster there). Only effective before torch
    is loaded; a value the user set wins.
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@writes_into("out", what="recast merge")
@cli_options("encode", option_fields(EncodeOptions))
@cli_options("overrides", option_fields(MergeSettings))
@cli_options("compute", select(ComputeOptions, *MERGE_COMPUTE))
def merge_command(
    model_dir: Path = typer.Option(..., "--model-dir", "-m", help="Trained model folder, or a .dfm/.onnx face model."),
    xseg: Path | None = typer.Option(None, "--xseg", help="XSeg mask model folder, for the xseg-* mask modes "
                                     "(recast xseg train)."),
    frames: Path = typer.Option(..., "--frames", "-f", help="Destination frames folder or video file."),
    aligned: Path = typer.Option(..., "--aligned", "-a", help="Destination aligned faces folder."),
    out: Path = typer.Option(
        ..., "--output", "-o",
        help=f"Folder for the merged frames, or the result video ({', '.join(VIDEO_SUFFIXES)}) to write "
             "directly (with <stem>_mask video, audio and provenance sidecar; not resumable).",
    ),
    mask_out: Path | None = typer.Option(None, "--mask-output", help="Folder for mask frames [<OUTPUT>_mask]."),
    session: Path | None = typer.Option(None, help="Session JSON with base settings and per-frame keyframes."),
    export_rgba: bool = typer.Option(False, "--export-rgba", help="Also write RGBA face layers + placement JSON."),
    export_dir: Path | None = typer.Option(None, help="Folder for --export-rgba [<OUTPUT>_rgba]."),
    audio_from: Path | None = typer.Option(
        None, help="Video output: copy the audio of this file [the destination video]."),
    fps: float | None = typer.Option(None, help="Video output: frame rate [the destination video's, else 25]."),
    force: bool = typer.Option(
        False, "--force", help="Redo frames already merged (and allow new settings); replace an existing video "
        "(kept in .recast/backup/)."),
    enhance: Path | None = typer.Option(None, help="Enhancer folder (recast train-enhancer): sharpen the swapped "
                                        "faces with the src person's own detail, at the enhancer's size."),
    overrides: dict[str, Any] | None = None,
    encode: dict[str, Any] | None = None,
    compute: dict[str, Any] | None = None,
) -> None:
    """Swap the model's face into every destination frame (DeepFaceLab's merge step)."""
    prefer_passive_openmp()
    run = from_mapping(ComputeOptions, compute or {})
    overrides, encode = overrides or {}, encode or {}
    settings: MergeSettings | MergeSession
    if session is not None:
        loaded = load_session(session)
        settings = MergeSession(base=loaded.base.updated(overrides), keyframes=loaded.keyframes)
    else:
        settings = MergeSettings.from_dict(overrides)
    export = (export_dir or out.with_name(out.name + "_rgba")) if export_rgba else None
    common: dict[str, Any] = {"workers": run.workers, "batch_size": run.batch_size, "export_dir": export,
                              "device": pick_device(run.device), "precision": run.precision, "xseg": xseg,
                              "enhance": enhance}
    if is_video_path(out):
        if mask_out is not None:
            raise OptionError(f"--mask-output is for a frames folder; the mask video of {out} is <stem>_mask")
        options = EncodeOptions(fps=fps, audio_from=audio_from, overwrite=force, **encode)
        summary = _merge_to_video_keeping_the_old(force, model_dir, frames, aligned, out, settings, options, common)
    else:
        if encode:
            flags = ", ".join("--" + name.replace("_", "-") for name in encode)
            raise OptionError(f"{flags}: video options need a video --output ({', '.join(VIDEO_SUFFIXES)})")
        with run_log(out, "merge"), progress_bar("merging") as update:
            summary = merge(model_dir, frames, aligned, out, settings, mask_out, force=force, **common,
                            on_progress=update)
    _report(summary, export)
    if summary.precision:
        console.print(f"model precision: {summary.precision}")
    if summary.faces_unmatched:
        console.print(f"[yellow]note[/]: {summary.faces_unmatched} aligned faces name frames not in {frames}")
    if summary.faces_masked_out:
        console.print(f"[yellow]warning[/]: {summary.faces_masked_out} faces in {summary.frames_masked_out} frames "
                      "were left unchanged because their mask is empty (eroded to nothing? lower --erode, or try "
                      "another --mask-mode)")


def _merge_to_video_keeping_the_old(force: bool, model_dir: Path, frames: Path, aligned: Path, out: Path,
                                    settings: MergeSettings | MergeSession, options: EncodeOptions,
                                    common: dict[str, Any]) -> MergeSummary:
    """``merge_to_video``; with ``force``, an existing result, its mask video and sidecar are first moved to
    ``.recast/backup/<time>/`` of the workspace (or of the result's folder), as the studio's render does,
    and put back if the merge fails."""
    from recast.locking import find_workspace
    from recast.paths import kept_aside
    from recast.provenance.writer import result_files

    root = find_workspace(out) or out.absolute().parent
    with kept_aside(root, result_files(out), force) as backup, run_log(out.parent, "merge"), \
            progress_bar("merging + encoding") as update:
        summary = merge_to_video(model_dir, frames, aligned, out, settings, options, **common, on_progress=update)
    if backup is not None:
        console.print(f"the previous result is kept in {backup}")
    return summary


def _report(summary: MergeSummary, export: Path | None) -> None:
    done = summary.frames_merged + summary.frames_passed_through + summary.frames_masked_out
    rate = done / summary.seconds if summary.seconds > 0 else 0.0
    if summary.video is not None:
        audio = "with audio" if summary.video.has_audio else "no audio"
        where = (f"{summary.out_dir} ({audio}, {summary.video.fps:g} fps) + {summary.mask_dir}; "
                 f"provenance: {summary.video.sidecar}")
    else:
        where = f"{summary.out_dir}, masks in {summary.mask_dir}"
    console.print(
        f"[green]done[/]: {summary.frames_total} frames, {summary.frames_merged} merged "
        f"({summary.faces_merged} faces), {summary.frames_passed_through} without a face"
        + (f", {summary.frames_skipped} already done" if summary.frames_skipped else "")
        + f" in {summary.seconds:.1f} s ({rate:.1f} frames/s) → {where}"
        + (f", layers in {export}" if export is not None else "")
    )


def register(app: typer.Typer) -> None:
    """Add ``merge`` to the app."""
    app.command("merge")(merge_command)
