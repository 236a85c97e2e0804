"""``recast sort`` and ``recast faceset …``: curate folders of aligned faces."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import typer

from recast.cli.locks import writes_into
from recast.cli.progress import console, progress_bar
from recast.errors import InputError, OptionError
from recast.faces.facetype import parse_face_type
from recast.faceset.sort import SORT_METHODS, SortOptions
from recast.options import from_mapping, option_fields
from recast.options.cli import cli_options

faceset_app = typer.Typer(no_args_is_help=True, help="Curate facesets: cluster, dedupe, pack, resize, metadata, "
                          "debug, info, coverage.")
metadata_app = typer.Typer(no_args_is_help=True, help="Export or import the metadata of a faceset.")

@writes_into("folder", what="recast sort")
@cli_options("given", option_fields(SortOptions), lambda item: "give one" if item.name == "method" else None)
def sort_command(
    folder: Path = typer.Argument(..., help="Folder of aligned faces."),
    restore_names: bool = typer.Option(False, "--restore", help="Undo every sort: put back the original names."),
    reference: list[Path] = typer.Option([], help="face: photo(s) or aligned faces of the person."),
    given: dict[str, Any] | None = None,
) -> None:
    """Sort aligned faces by a DeepFaceLab method (renames to 00000_<name>…; rejects → FOLDER_trash/);
    --by list describes the methods."""
    from recast.faceset.sort import restore, sort_faceset

    given = given or {}
    if restore_names:
        result = restore(folder)
        console.print(f"[green]restored[/] {result.restored} original names in {folder}")
        for label, names in (("missing", result.missing), ("left in place (name taken)", result.conflicts)):
            if names:
                console.print(f"[yellow]{label}[/]: {len(names)} ({', '.join(names[:5])}…)")
        return
    if given.get("method") == "list":
        for name, method in SORT_METHODS.items():
            console.print(f"[bold]{name}[/]: {method.summary}")
        return
    if "method" not in given:
        raise OptionError(f"give --by METHOD ({', '.join(SORT_METHODS)}) or --restore")
    options = from_mapping(SortOptions, given)
    with progress_bar(f"sort by {options.method}") as update:
        outcome = sort_faceset(folder, options.method, workers=options.workers, on_progress=update,
                               target=options.target, references=list(reference), max_distance=options.max_distance)
    trash = f", {len(outcome.trashed)} moved to {folder.name}_trash/" if outcome.trashed else ""
    console.print(f"[green]sorted[/] {len(outcome.kept)} faces by {options.method}{trash} "
                  f"(undo: recast sort {folder} --restore)")


@faceset_app.command("cluster")
@writes_into("folder", what="recast faceset cluster")
def cluster_command(
    folder: Path = typer.Argument(..., help="Folder of aligned faces."),
    threshold: float = typer.Option(0.6, help="Identity distance (dlib scale) that splits groups."),
    min_group: int = typer.Option(2, help="Smaller groups go to unsorted/."),
    dry_run: bool = typer.Option(False, help="Only print the groups."),
    workers: int = typer.Option(2, help="Processes computing embeddings."),
) -> None:
    """Group faces by identity into sub-folders person_01 (largest), person_02, … (undo: sort --restore)."""
    from recast.faceset.identity import cluster_faceset

    with progress_bar("embedding") as update:
        result = cluster_faceset(folder, threshold, min_group, move=not dry_run, workers=workers, on_progress=update)
    for group in sorted(result.groups):
        console.print(f"{group}: {len(result.groups[group])} faces")


@faceset_app.command("dedupe")
@writes_into("folder", what="recast faceset dedupe")
def dedupe_command(
    folder: Path = typer.Argument(..., help="Folder of aligned faces."),
    max_bits: int = typer.Option(4, help="Max differing bits of the 64-bit difference hash."),
    max_diff: float = typer.Option(0.03, help="Max mean difference of 32x32 grey thumbnails (0-1)."),
    dry_run: bool = typer.Option(False, help="Only print the duplicates."),
    workers: int = typer.Option(2, help="Processes."),
) -> None:
    """Move near-duplicate faces to FOLDER_trash/ (the one from the largest source face stays; undo: sort --restore)."""
    from recast.faceset.dedupe import dedupe_faceset

    with progress_bar("hashing") as update:
        result = dedupe_faceset(folder, max_bits, max_diff, workers, dry_run, on_progress=update)
    verb = "would move" if dry_run else "moved"
    console.print(f"[green]{len(result.groups)} duplicate groups[/], {verb} {result.moved} faces to the trash")
    if result.frames_emptied:
        console.print(f"[yellow]warning[/]: {result.frames_emptied} source frames {'would be' if dry_run else 'are'} "
                      "left without a face. Fine for a src (training) set; a dst set needs every frame's face for "
                      f"merging" + ("" if dry_run else f" (undo: recast sort {folder} --restore)"))


@faceset_app.command("pack")
@writes_into("folder", what="recast faceset pack")
def pack_command(
    folder: Path = typer.Argument(..., help="Folder of aligned faces."),
    keep_loose: bool = typer.Option(False, help="Leave the loose files (else they move to _packed_backup/)."),
) -> None:
    """Pack all faces into FOLDER/faceset.rfs (one file; training reads it directly)."""
    from recast.faceset.pack import pack_faceset

    with progress_bar("packing") as update:
        path = pack_faceset(folder, keep_loose, on_progress=update)
    console.print(f"[green]packed[/] → {path}")


@faceset_app.command("unpack")
@writes_into("folder", what="recast faceset unpack")
def unpack_command(folder: Path = typer.Argument(..., help="Folder holding faceset.rfs, or the .rfs file.")) -> None:
    """Write the faces of a pack back as files (refuses to overwrite); the pack moves to _packed_backup/."""
    from recast.faceset.pack import unpack_faceset

    with progress_bar("unpacking") as update:
        written = unpack_faceset(folder, on_progress=update)
    console.print(f"[green]unpacked[/] {len(written)} faces")


@faceset_app.command("resize")
@writes_into("output", "folder", what="recast faceset resize")
def resize_command(
    folder: Path = typer.Argument(..., help="Folder of aligned faces."),
    size: int = typer.Option(..., help="New side in pixels."),
    face_type: str | None = typer.Option(None, help="New face type (default: keep)."),
    frames: Path | None = typer.Option(None, help="Folder with the source frames (default: FOLDER's parent)."),
    in_place: bool = typer.Option(False, help="Replace the faces (originals copied to FOLDER_backup first)."),
    output: Path | None = typer.Option(None, help="Output folder (default FOLDER_<size>)."),
) -> None:
    """Re-crop every face at a new size / face type, from the source frame when available."""
    from recast.faceset.resize import resize_faceset

    kind = parse_face_type(face_type) if face_type else None
    with progress_bar("resizing") as update:
        result = resize_faceset(folder, size, kind, frames, in_place, output, on_progress=update)
    backup = f" (originals in {result.backup})" if result.backup else ""
    console.print(f"[green]resized[/] {len(result.written)} faces → {result.output}: {result.from_frames} "
                  f"from source frames, {result.from_aligned} from the aligned images{backup}")


@metadata_app.command("export")
@writes_into("file", "folder", what="recast faceset metadata export")
def metadata_export_command(
    folder: Path = typer.Argument(..., help="Folder of aligned faces."),
    file: Path | None = typer.Option(None, help="Output JSON (default FOLDER/metadata.json)."),
) -> None:
    """Save the metadata of every face to one JSON file."""
    from recast.faceset.metafile import export_metadata

    path, count, skipped = export_metadata(folder, file)
    note = f"; {len(skipped)} without metadata" if skipped else ""
    console.print(f"[green]exported[/] {count} faces → {path}{note}")


@metadata_app.command("import")
@writes_into("folder", what="recast faceset metadata import")
def metadata_import_command(
    folder: Path = typer.Argument(..., help="Folder of (edited) aligned faces."),
    file: Path | None = typer.Option(None, help="JSON written by export (default FOLDER/metadata.json)."),
) -> None:
    """Put exported metadata back into edited images (rescaled to their new size)."""
    from recast.faceset.metafile import import_metadata

    result = import_metadata(folder, file)
    console.print(f"[green]imported[/] {len(result.updated)} faces ({len(result.rescaled)} rescaled)")
    if result.missing_images:
        console.print(f"[yellow]{len(result.missing_images)} exported faces have no image now[/]")
    if result.not_in_file:
        console.print(f"[yellow]{len(result.not_in_file)} images have no exported metadata[/]: "
                      + ", ".join(result.not_in_file[:5]))


@faceset_app.command("debug")
@writes_into("output", "folder", what="recast faceset debug")
def debug_command(
    folder: Path = typer.Argument(..., help="Folder of aligned faces."),
    output: Path | None = typer.Option(None, help="Output folder (default FOLDER_debug)."),
) -> None:
    """Write copies with landmarks, mask outline and pose drawn on them."""
    from recast.faceset.debug import debug_faceset

    with progress_bar("drawing") as update:
        path = debug_faceset(folder, output, on_progress=update)
    console.print(f"[green]debug images[/] → {path}")


@faceset_app.command("info")
def info_command(
    folder: Path = typer.Argument(..., help="Folder of aligned faces (or with faceset.rfs)."),
    plot: Path | None = typer.Option(None, help="Also save a yaw/pitch plot as PNG."),
) -> None:
    """Counts, face types, sizes, yaw/pitch histograms and files without metadata."""
    from recast.faceset.info import faceset_info, plot_info

    info = faceset_info(folder)
    if info.faces == 0:
        raise InputError(folder, f"none of its {len(info.without_metadata)} images is an aligned face with recast "
                                 "metadata: extract faces from photos with recast extract, convert DeepFaceLab faces "
                                 "with recast faceset import-dfl")
    console.print(f"[bold]{folder}[/]{' (packed)' if info.packed else ''}: {info.faces} faces from "
                  f"{info.source_frames} source frames")
    console.print("face types: " + ", ".join(f"{t} {n}" for t, n in info.face_types.most_common()))
    console.print("sizes: " + ", ".join(f"{s} {n}" for s, n in info.sizes.most_common()))
    console.print(f"with embedding: {info.with_embedding}, with XSeg mask: {info.with_xseg}")
    for which in ("yaw", "pitch"):
        console.print(f"{which} (degrees):")
        peak = max((c for _, _, c in info.histogram(which)), default=0) or 1
        for start, end, count in info.histogram(which):
            console.print(f"  {start:+4d}..{end:+4d} {count:6d} {'#' * round(40 * count / peak)}")
    if info.without_metadata:
        console.print(f"[yellow]{len(info.without_metadata)} files without metadata[/]: "
                      + ", ".join(info.without_metadata[:10]))
    if plot is not None:
        console.print(f"plot → {plot_info(info, plot)}")


@faceset_app.command("coverage")
def coverage_command(
    src: Path = typer.Argument(..., help="Src faceset (folder of aligned faces or .rfs)."),
    dst: Path = typer.Argument(..., help="Dst faceset."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the full report as JSON."),
    show: int = typer.Option(10, help="Uncovered dst faces to list (the farthest first)."),
) -> None:
    """Does SRC cover DST's angles and expressions? Yaw, pitch, mouth and eye openness compared."""
    from rich.table import Table

    from recast.faceset.coverage import faceset_coverage, write_coverage

    with progress_bar("reading metadata") as update:
        report = faceset_coverage(src, dst, on_progress=update)
    table = Table(title=f"coverage of {report.dst_faces} dst faces by {report.src_faces} src faces")
    for column in ("feature", "close within", "src p5 / p50 / p95", "dst p5 / p50 / p95", "dst covered"):
        table.add_column(column, justify="left" if column == "feature" else "right")
    for item in report.features.values():
        table.add_row(item.name, f"{item.tolerance:g}", " / ".join(f"{v:.2f}" for v in item.src_percentiles),
                      " / ".join(f"{v:.2f}" for v in item.dst_percentiles), f"{100 * item.covered:.1f} %")
    console.print(table)
    colour = "red" if report.poor else "green"
    console.print(f"[{colour}]coverage {100 * report.score:.1f} %[/]: {report.describe()}")
    if report.uncovered:
        console.print(f"uncovered dst frames: {_frame_ranges(report.uncovered_frames())}")
        for face in sorted(report.uncovered, key=lambda u: -u.distance)[:show]:
            values = ", ".join(f"{k} {v:.2f}" for k, v in face.values.items())
            console.print(f"  {face.name}: {values}; nearest src {face.nearest_src} is {face.distance:.1f}× "
                          f"the tolerance away in {face.feature}")
    if report.poor:
        console.print(f"[yellow]poor coverage[/]: add src footage with the dst's {report.weakest_feature()} "
                      "(DeepFaceLab: the src faceset must cover the dst's angles and expressions)")
    if report.mouth_mismatch() is not None:
        console.print(f"[yellow]mouth[/]: {report.mouth_mismatch()}")
    if json_out is not None:
        console.print(f"report → {write_coverage(report, json_out)}")


def _frame_ranges(frames: list[int]) -> str:
    """[1, 2, 3, 7, 9, 10] → '1–3, 7, 9–10'."""
    runs: list[list[int]] = []
    for frame in frames:
        if runs and frame == runs[-1][1] + 1:
            runs[-1][1] = frame
        else:
            runs.append([frame, frame])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs)


@faceset_app.command("import-dfl")
@writes_into("output", "folder", what="recast faceset import-dfl")
def import_dfl_command(
    folder: Path = typer.Argument(..., help="DeepFaceLab aligned folder (.jpg faces with pickled metadata)."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Folder for recast faces [FOLDER_recast]."),
    frames: Path | None = typer.Option(None, help="Source frames, for their sizes (merging needs them) "
                                       "[FOLDER's parent, as in a DeepFaceLab workspace]."),
) -> None:
    """Convert DeepFaceLab aligned faces to recast's format (metadata read as plain data, never run)."""
    from recast.faceset.dfl import import_dfl

    with progress_bar("converting") as update:
        result = import_dfl(folder, output, frames, on_progress=update)
    console.print(f"[green]converted[/] {len(result.converted)} faces → {result.output}")
    _report_skipped(result.skipped)
    if result.ignored_keys:
        console.print("metadata recast does not use, left out: "
                      + ", ".join(f"{key} ({count})" for key, count in result.ignored_keys.most_common()))
    if result.without_frame_size:
        console.print(f"[yellow]note[/]: {result.without_frame_size} faces' source frames were not found, so their "
                      "frame size is unknown: fine for training; to merge with them, give --frames")
    if not result.converted:
        raise InputError(folder, "no face could be converted")


@faceset_app.command("import-faceswap")
@writes_into("output", "folder", what="recast faceset import-faceswap")
def import_faceswap_command(
    folder: Path = typer.Argument(..., help="FaceSwap faces folder (.png with faceswap headers)."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Folder for recast faces [FOLDER_recast]."),
    frames: Path | None = typer.Option(None, help="Source frames: exact re-crops and frame sizes (merging needs "
                                       "them); without them faces are re-cropped from FaceSwap's crops."),
    face_type: str = typer.Option("whole", help="recast face type of the new crops: half, mid, full, whole, head."),
    size: int = typer.Option(512, help="Side of the new crops in pixels."),
) -> None:
    """Convert FaceSwap faces to recast's format (headers read as literals, never run)."""
    from recast.faceset.faceswap import import_faceswap

    with progress_bar("converting") as update:
        result = import_faceswap(folder, output, frames, face_type, size, on_progress=update)
    console.print(f"[green]converted[/] {len(result.converted)} faces → {result.output} ({result.from_frames} from "
                  f"source frames, {result.from_crops} from FaceSwap's crops)")
    if result.masks:
        console.print("masks: " + ", ".join(f"{name} ({count})" for name, count in result.masks.most_common()))
    _report_skipped(result.skipped)
    if not result.converted:
        raise InputError(folder, "no face could be converted")


def _report_skipped(skipped: dict[str, str]) -> None:
    """Print how many files were skipped, grouped by reason, with one example each."""
    if not skipped:
        return
    console.print(f"[yellow]skipped[/] {len(skipped)} files:")
    for reason, count in Counter(skipped.values()).most_common(10):
        example = next(name for name, why in skipped.items() if why == reason)
        console.print(f"  {count} × {reason} (e.g. {example})")


faceset_app.add_typer(metadata_app, name="metadata")


def register(app: typer.Typer) -> None:
    """Add ``sort`` (top level) and the ``faceset`` command group."""
    app.command("sort")(sort_command)
    app.add_typer(faceset_app, name="faceset")
