"""``recast eval``: measure a swap result against its destination video (identity, pose, expression, …)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, SupportsFloat, cast

import typer
from rich.table import Table

from recast.cli.progress import console, progress_bar
from recast.eval import evaluate, write_report
from recast.eval.options import EvalOptions
from recast.eval.report import check_report_dir
from recast.options import from_mapping, option_fields
from recast.options.cli import cli_options
from recast.runlog import run_log


@cli_options("given", option_fields(EvalOptions))
def eval_command(
    result: Path = typer.Option(..., "--result", help="The swapped video (or folder of frames)."),
    dst: Path = typer.Option(..., "--dst", help="The destination video it was made from."),
    src_faces: Path = typer.Option(..., "--src-faces", help="Aligned src faceset (folder or .rfs)."),
    dst_faces: Path | None = typer.Option(None, "--dst-faces", help="Aligned dst faceset (default: dst video faces)."),
    out: Path | None = typer.Option(None, "-o", "--out", help="Report folder (default: RESULT_eval/ beside it)."),
    given: dict[str, Any] | None = None,
) -> None:
    """Score a swap: identity transfer, pose/expression preservation, sharpness, jitter, background PSNR."""
    options = from_mapping(EvalOptions, given or {})
    out = out if out is not None else result.with_name(result.stem + "_eval")
    check_report_dir(out, overwrite=options.force)
    with run_log(out, "eval"):
        with progress_bar("evaluating") as update:
            report = evaluate(result, dst, src_faces, dst_faces, every=options.every, on_progress=update)
        json_path, png_path = write_report(report, out, overwrite=options.force)
    summary = report.summary()
    table = Table(title=f"swap quality ({summary['frames_with_face']} of {summary['frames_evaluated']} "
                        f"evaluated frames with a face)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for label, value in _rows(summary):
        table.add_row(label, value)
    if report.coverage is not None:
        table.add_row("src coverage of dst angles/expressions", f"{100 * report.coverage.score:.1f} %")
    console.print(table)
    if report.length_mismatch:
        console.print(f"[yellow]warning[/]: the videos differ in length ({report.frame_counts[0]} vs "
                      f"{report.frame_counts[1]} frames); only the common frames were compared")
    if report.coverage is not None and report.coverage.poor:
        console.print(f"[yellow]poor coverage[/]: {report.coverage.describe()} (recast faceset coverage lists them)")
    if report.coverage is not None and report.coverage.mouth_mismatch() is not None:
        console.print(f"[yellow]mouth[/]: {report.coverage.mouth_mismatch()}")
    console.print(f"[green]done[/]: {json_path}, {png_path}")


def _rows(summary: dict[str, object]) -> list[tuple[str, str]]:
    def num(key: str, fmt: str = "{:.3f}", scale: float = 1.0) -> str:
        value = summary[key]
        return "n/a" if value is None else fmt.format(float(cast(SupportsFloat, value)) * scale)

    identical = summary["background_identical_frames"]
    psnr = num("background_psnr_db_mean", "{:.2f} dB")
    if identical:
        psnr += f" ({identical} frames identical: ∞)"
    return [
        ("identity: same person as src (< 0.6 and closer)", num("identity_same_person", "{:.1f} %", 100.0)),
        ("  closer to src than dst (weaker)", num("identity_retrieval", "{:.1f} %", 100.0)),
        ("distance to src / dst centroid", f"{num('src_distance')} / {num('dst_distance')}"),
        ("pose error (mean |Δ| pitch, yaw, roll)", num("pose_error_deg", "{:.2f}°")),
        ("  pitch / yaw / roll", " / ".join(num(k, "{:.2f}°") for k in
                                            ("pitch_error_deg", "yaw_error_deg", "roll_error_deg"))),
        ("expression error (eyes+mouth, ÷ inter-ocular)", num("expression_error", "{:.4f}")),
        ("  eyes / mouth", f"{num('eyes_error', '{:.4f}')} / {num('mouth_error', '{:.4f}')}"),
        ("detail, result ÷ dst edge crispness (1 = as crisp)", num("detail", "{:.2f}")),
        ("  ceiling at the model's size / convergence",
         f"{num('detail_ceiling', '{:.2f}')} / {num('convergence', '{:.2f}')}"),
        ("  ceiling by model size", _ladder(summary["ceiling_by_resolution"])),
        ("sharpness (older: Laplacian energy ÷ dst)", num("sharpness", "{:.2f}")),
        ("  eye region: sharpness / brightness ÷ dst",
         f"{num('eye_sharpness', '{:.2f}')} / {num('eye_brightness', '{:.2f}')}"),
        ("jitter result / dst (px per frame)",
         f"{num('jitter_result_px', '{:.2f}')} / {num('jitter_dst_px', '{:.2f}')}"),
        ("jitter ratio result / dst", num("jitter_ratio", "{:.2f}")),
        ("background PSNR outside the face", psnr),
    ]


def _ladder(ceilings: object) -> str:
    """``64: 0.41  96: 0.62 …`` of the summary's ``ceiling_by_resolution`` (``n/a`` when empty)."""
    if not isinstance(ceilings, dict) or not ceilings:
        return "n/a"
    return "  ".join(f"{size}: {'n/a' if value is None else f'{value:.2f}'}" for size, value in ceilings.items())


def register(app: typer.Typer) -> None:
    """Add ``eval`` to the app."""
    app.command("eval")(eval_command)
