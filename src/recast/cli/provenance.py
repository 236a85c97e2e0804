"""``recast verify``: report the "synthetic media, made with recast" labels of a result.

Exit status: 0 — labelled synthetic (container tag, sidecar, or watermark found); 3 — no recast
label found; 1 — the file could not be read (one-line ``error:``); 2 — bad command line.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from recast.provenance.verify import VerifyReport, verify

EXIT_LABELLED = 0
EXIT_NO_LABEL = 3

_out = Console(highlight=False)


def verify_command(
    path: Path = typer.Argument(..., help="Video file, image file, or folder of frames to check."),
    frames: int = typer.Option(50, "--frames", min=1, help="Frames to sample for the watermark."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
    inputs: list[Path] = typer.Option([], "--inputs", help="Folder to look in for the recorded inputs (by name; "
                                      "repeatable). The result's own folder is always searched."),
) -> None:
    """Check PATH for recast's labels: container tag, provenance sidecar, invisible watermark.

    Exit status 0 when PATH is labelled synthetic, 3 when no recast label is found, 1 on errors.
    """
    report = verify(path, sample_frames=frames, input_dirs=inputs)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report)
    if not report.labelled:
        raise typer.Exit(code=EXIT_NO_LABEL)


def _print_report(report: VerifyReport) -> None:
    def line(ok: bool | None, what: str) -> None:
        mark = "[dim]-[/dim]" if ok is None else ("[green]✓[/green]" if ok else "[red]✗[/red]")
        _out.print(f"  {mark} {what}")

    _out.print(f"[bold]{escape(str(report.path))}[/bold] ({report.kind})")
    if report.container_tag is None:
        line(None, "container tag: not applicable")
    else:
        line(report.container_tag, "container tag" + ("" if report.container_tag else ": none"))
    if report.sidecar is None:
        line(False, "sidecar: none")
    else:
        detail = "" if report.sidecar_ok else f" ({escape(report.sidecar_problem or 'unusable')})"
        line(report.sidecar_ok, f"sidecar: {escape(report.sidecar.name)}{detail}")
        if report.result_hash is not None:
            line(report.result_hash == "ok", "result unchanged since labelling" if report.result_hash == "ok"
                 else "result changed since labelling (re-encoded or edited)")
        for check in report.input_checks:
            reason = f" ({escape(check.reason)})" if check.reason else ""
            line(None if check.status in ("missing", "unchecked") else check.status == "ok",
                 f"input {escape(check.role)}: {check.status} {escape(check.path)}{reason}")
    if report.c2pa is None:
        line(None, "C2PA manifest: none (or c2pa-python not installed)")
    else:
        kinds = ", ".join(t.rsplit("/", 1)[-1] for t in report.c2pa.digital_source_types) or "no source type"
        trust = "signature valid" if report.c2pa.signature_valid else "signature INVALID"
        if "signingCredential.untrusted" in report.c2pa.validation:
            trust += ", signer not in a trust list"
        line(report.c2pa.synthetic and report.c2pa.signature_valid,
             f"C2PA manifest: {escape(kinds)} by {escape(report.c2pa.generator)}, signed {escape(report.c2pa.signer)} "
             f"({trust})")
    median = sorted(report.scores)[len(report.scores) // 2] if report.scores else 0.0
    line(report.watermark, f"watermark: {report.frames_marked}/{report.frames_checked} frames "
                           f"(median score {median:.1f})")
    colour = "green" if report.labelled else "yellow"
    _out.print(f"[bold {colour}]{escape(report.verdict)}[/bold {colour}]")


def register(app: typer.Typer) -> None:
    """Add ``recast verify`` to the CLI."""
    app.command("verify")(verify_command)
