"""``recast verify``: report the "synthetic media, made with recast" labels of a result.

Exit status: 0 — labelled synthetic (container tag, sidecar, or watermark found); 3 — no recast
label found; 1 — the file could not be read (one-line ``error:``); 2 — bad command line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from recast.cli.progress import new_console
from recast.options import from_mapping, option_fields
from recast.options.cli import cli_options
from recast.provenance.verify import VerifyOptions, VerifyReport, verify

EXIT_LABELLED = 0
EXIT_NO_LABEL = 3

_out = new_console(stderr=False, highlight=False)


@cli_options("given", option_fields(VerifyOptions))
def verify_command(
    path: Path = typer.Argument(..., help="Video file, image file, or folder of frames to check."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
    inputs: list[Path] = typer.Option([], "--inputs", help="Folder to look in for the recorded inputs (by name; "
                                      "repeatable). The result's own folder is always searched."),
    given: dict[str, Any] | None = None,
) -> None:
    """Check PATH for recast's labels: container tag, provenance sidecar, invisible watermark.

    For an exported model (.dfm / .onnx): its synthetic-media notice and recast's metadata.

    Exit status 0 when PATH is labelled synthetic, 3 when no recast label is found, 1 on errors.
    """
    from recast.models.contract import is_model_file  # onnx loads only for model files

    if is_model_file(path):
        _verify_model(path, as_json)
        return
    report = verify(path, sample_frames=from_mapping(VerifyOptions, given or {}).frames, input_dirs=inputs)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report)
    if not report.labelled:
        raise typer.Exit(code=EXIT_NO_LABEL)


def _verify_model(path: Path, as_json: bool) -> None:
    from recast.export.modellabel import read_model_label

    label = read_model_label(path)
    if as_json:
        typer.echo(json.dumps(label.to_dict(), indent=2))
    else:
        _out.print(f"[bold]{escape(str(label.path))}[/bold] ({label.kind})")
        mark = "[green]✓[/green]" if label.notice else "[red]✗[/red]"
        _out.print(f"  {mark} notice: {escape(label.notice or 'none')}")
        for key, value in sorted(label.metadata.items()):
            if key.endswith((".notice", ".config")):
                continue
            _out.print(f"  [dim]-[/dim] {escape(key)}: {escape(value)}")
        colour = "green" if label.labelled else "yellow"
        _out.print(f"[bold {colour}]{escape(label.verdict)}[/bold {colour}]")
    if not label.labelled:
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
