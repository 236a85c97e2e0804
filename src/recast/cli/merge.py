"""``recast merge``: trained model + destination frames + destination faces → merged frames."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer

from recast.cli.progress import console, progress_bar
from recast.color import COLOR_TRANSFERS
from recast.merge.maskops import MASK_MODES
from recast.merge.settings import MODES, MergeSession, MergeSettings, load_session
from recast.merge.stage import merge

_DEFAULTS = MergeSettings()


def prefer_passive_openmp() -> None:
    """Let torch's OpenMP threads sleep, not spin, between layers while merging.

    The merger's reading and blending threads then get the cores while the model idles between
    layers: measured +10–15 % frames/s for a 128 px SAEHD on 2 cores (``benchmarks/merge.py``).
    Training keeps OpenMP's default (spinning was 25 % faster there). Only effective before torch
    is loaded; a value the user set wins.
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def merge_command(
    model_dir: Path = typer.Option(..., "--model-dir", "-m", help="Trained model folder, or a .dfm/.onnx face model."),
    frames: Path = typer.Option(..., "--frames", "-f", help="Destination frames folder or video file."),
    aligned: Path = typer.Option(..., "--aligned", "-a", help="Destination aligned faces folder."),
    out: Path = typer.Option(..., "--output", "-o", help="Folder for the merged frames."),
    mask_out: Path | None = typer.Option(None, "--mask-output", help="Folder for mask frames [<OUTPUT>_mask]."),
    mode: str | None = typer.Option(None, help=f"{'|'.join(MODES)} [{_DEFAULTS.mode}]."),
    mask_mode: str | None = typer.Option(
        None, help=f"{'|'.join(m for m in MASK_MODES if 'xseg' not in m)} [{_DEFAULTS.mask_mode}]."
    ),
    color: str | None = typer.Option(None, help=f"none|{'|'.join(COLOR_TRANSFERS)} [{_DEFAULTS.color}]."),
    erode: int | None = typer.Option(None, help="Mask erode (>0) / dilate (<0), -400..400, DFL units [0]."),
    blur: int | None = typer.Option(None, help="Mask feather, 0..400, DFL units [0]."),
    motion_blur: int | None = typer.Option(None, help="Blur the face along its motion, 0..100 [0]."),
    face_scale: int | None = typer.Option(None, help="Output face scale in percent, -50..50 [0]."),
    sharpen_mode: str | None = typer.Option(None, help="none|box|gaussian [none]."),
    sharpen: int | None = typer.Option(None, help="Sharpen amount -100..100 (<0 blurs) [0]."),
    hist_threshold: int | None = typer.Option(None, help="hist-match threshold 0..255 [238]."),
    masked_hist: bool | None = typer.Option(None, "--masked-hist/--no-masked-hist", help="hist-match in the mask."),
    denoise: int | None = typer.Option(None, help="Background denoise 0..500 [0]."),
    bicubic_degrade: int | None = typer.Option(None, help="Background bicubic degrade 0..100 [0]."),
    color_degrade: int | None = typer.Option(None, help="Colour degrade (256 colours) 0..100 [0]."),
    morph: float | None = typer.Option(None, help="Identity morph for AMP models, 0..1 [1]."),
    session: Path | None = typer.Option(None, help="Session JSON with base settings and per-frame keyframes."),
    export_rgba: bool = typer.Option(False, "--export-rgba", help="Also write RGBA face layers + placement JSON."),
    export_dir: Path | None = typer.Option(None, help="Folder for --export-rgba [<OUTPUT>_rgba]."),
    workers: int = typer.Option(2, min=1, help="Threads for reading, blending and writing."),
    batch_size: int = typer.Option(8, min=1, help="Faces per model batch."),
    device: str = typer.Option("cpu", help="Torch device for the model (cpu, cuda, cuda:1, …)."),
    precision: str = typer.Option("auto", help="auto (bf16 where the hardware computes it natively, fp16 on "
                                  "older CUDA GPUs, else fp32), fp32, bf16, fp16 (CUDA)."),
    force: bool = typer.Option(False, "--force", help="Redo frames already merged (and allow new settings)."),
) -> None:
    """Swap the model's face into every destination frame (DeepFaceLab's merge step)."""
    prefer_passive_openmp()
    overrides: dict[str, Any] = {
        "mode": mode, "mask_mode": mask_mode, "color": color, "erode": erode, "blur": blur,
        "motion_blur": motion_blur, "output_face_scale": face_scale, "sharpen_mode": sharpen_mode,
        "sharpen_amount": sharpen, "hist_match_threshold": hist_threshold, "masked_hist_match": masked_hist,
        "denoise": denoise, "bicubic_degrade": bicubic_degrade, "color_degrade": color_degrade, "morph": morph,
    }
    overrides = {key: value for key, value in overrides.items() if value is not None}
    settings: MergeSettings | MergeSession
    if session is not None:
        loaded = load_session(session)
        settings = MergeSession(base=loaded.base.updated(overrides), keyframes=loaded.keyframes)
    else:
        settings = MergeSettings.from_dict(overrides)
    export = (export_dir or out.with_name(out.name + "_rgba")) if export_rgba else None
    with progress_bar("merging") as update:
        summary = merge(
            model_dir, frames, aligned, out, settings, mask_out, workers=workers, batch_size=batch_size,
            force=force, export_dir=export, device=device, precision=precision,
            on_progress=update,
        )
    done = summary.frames_merged + summary.frames_passed_through
    rate = done / summary.seconds if summary.seconds > 0 else 0.0
    console.print(
        f"[green]done[/]: {summary.frames_total} frames, {summary.frames_merged} merged "
        f"({summary.faces_merged} faces), {summary.frames_passed_through} without a face"
        + (f", {summary.frames_skipped} already done" if summary.frames_skipped else "")
        + f" in {summary.seconds:.1f} s ({rate:.1f} frames/s) → {summary.out_dir}, masks in {summary.mask_dir}"
        + (f", layers in {export}" if export is not None else "")
    )
    if summary.precision:
        console.print(f"model precision: {summary.precision}")
    if summary.faces_unmatched:
        console.print(f"[yellow]note[/]: {summary.faces_unmatched} aligned faces name frames not in {frames}")


def register(app: typer.Typer) -> None:
    """Add ``merge`` to the app."""
    app.command("merge")(merge_command)
