"""``recast xseg …``: train, apply, remove, fetch and export XSeg mask models; import/export labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from recast.cli.devices import pick_device
from recast.cli.locks import writes_into
from recast.cli.progress import console, new_console, progress_bar
from recast.errors import OptionError
from recast.models.xseg_config import DEFAULT_XSEG, XSEG_PRESETS, XSegConfig
from recast.options import from_mapping, option_fields, select
from recast.options.cli import cli_options
from recast.runtime.options import ComputeOptions, Limits
from recast.train.options import TRAIN_COMPUTE
from recast.train.xseg_options import XSegSettings

xseg_app = typer.Typer(no_args_is_help=True, help="XSeg mask models (occlusion-aware face masks): train, apply, "
                       "remove, fetch, export; import/export labels (LabelMe, COCO).")

_PRESETS = ", ".join(sorted(XSEG_PRESETS))


@xseg_app.command("train")
@writes_into("model_dir", what="recast xseg train")
@cli_options("model_config", option_fields(XSegConfig), lambda item: "the preset's")
@cli_options("settings", option_fields(XSegSettings), lambda item: None)
@cli_options("limits", option_fields(Limits))
@cli_options("compute", select(ComputeOptions, *TRAIN_COMPUTE))
def train_command(
    faces: list[Path] = typer.Argument(..., help="Aligned faces folders (src and dst)."),
    model_dir: Path = typer.Option(..., "--model-dir", help="XSeg model folder (created if new, resumed if not)."),
    model: str | None = typer.Option(None, "--model", help=f"Preset of a new model: {_PRESETS} "
                                     f"(default {DEFAULT_XSEG}; a saved model keeps its own)."),
    occluders: Path | None = typer.Option(None, "--occluders", help="Folder of images to cut extra synthetic "
                                          "occluders from (objects, hands; PNG or JPEG)."),
    preview_every: int = typer.Option(100, "--preview-every", help="Iterations between preview images in "
                                      "MODEL_DIR/previews (0 = off)."),
    model_config: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    limits: dict[str, Any] | None = None,
    compute: dict[str, Any] | None = None,
) -> None:
    """Train (or resume) an XSeg model. Labelled faces train with their labels; unlabelled ones with their
    landmark hull (so it trains with no labels at all), all with synthetic occluders. Ctrl-C saves."""
    from recast.cli.trainstatus import TrainStatus, is_main_rank
    from recast.runlog import run_log
    from recast.train.xseg_trainer import XSegTrainOptions, train_xseg

    stop = from_mapping(Limits, limits or {})
    stop.check()
    run = from_mapping(ComputeOptions, compute or {})
    options = XSegTrainOptions(faces=faces, model_dir=model_dir, model=model, model_config=model_config or {},
                               settings=settings or {}, iterations=stop.iterations, more=stop.more,
                               minutes=stop.minutes, occluders=occluders, device=pick_device(run.device),
                               threads=run.threads, workers=run.workers, seed=run.seed, preview_every=preview_every)
    err = new_console(quiet=not is_main_rank())  # under torchrun only rank 0 talks
    with run_log(model_dir, "xseg-train"), \
            TrainStatus(err, model_dir / "previews" / "preview.png", stop.iterations, stop.more,
                        stop.minutes) as status:
        options.on_event = status
        result = train_xseg(options)
    err.print(f"{result.status}: iteration {result.iteration}, {result.ms_per_iter:.0f} ms/iter, loss "
              f"{result.loss:.4f} {result.message}")
    if result.status == "diverged":
        raise typer.Exit(2)


@xseg_app.command("apply")
@writes_into("folder", what="recast xseg apply")
@cli_options("compute", select(ComputeOptions, "device"))
def apply_command(
    folder: Path = typer.Argument(..., help="Aligned faces folder."),
    model_dir: Path = typer.Option(..., "--model-dir", help="Trained XSeg model folder."),
    batch_size: int = typer.Option(16, min=1, help="Faces per model batch."),
    compute: dict[str, Any] | None = None,
) -> None:
    """Store the model's mask in every face (training and merging then use it). Faces that already had a
    mask are copied to FOLDER_backup/ first."""
    from recast.faceset.xsegtools import apply_masks

    with progress_bar("xseg apply") as update:
        result = apply_masks(folder, model_dir, pick_device(from_mapping(ComputeOptions, compute or {}).device),
                             batch_size, update)
    console.print(f"[green]done[/]: masks stored in {len(result.changed)} faces"
                  + (f"; previous masks backed up in {result.backup}" if result.backup else ""))


@xseg_app.command("remove")
@writes_into("folder", what="recast xseg remove")
def remove_command(folder: Path = typer.Argument(..., help="Aligned faces folder.")) -> None:
    """Remove the applied XSeg masks (labels stay); the faces are copied to FOLDER_backup/ first."""
    from recast.faceset.xsegtools import remove_masks

    result = remove_masks(folder)
    if not result.changed:
        console.print(f"no face in {folder} has an applied mask")
        return
    console.print(f"[green]done[/]: removed the mask of {len(result.changed)} faces; originals in {result.backup}")


@xseg_app.command("fetch")
def fetch_command(
    folder: Path = typer.Argument(..., help="Aligned faces folder."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Where to copy them [FOLDER_xseg]."),
) -> None:
    """Copy the faces that have XSeg labels to another folder (DeepFaceLab's fetch)."""
    from recast.faceset.xsegtools import fetch_labelled

    result = fetch_labelled(folder, output)
    target = output or folder.with_name(folder.name + "_xseg")
    console.print(f"[green]done[/]: copied {len(result.changed)} labelled faces to {target}"
                  + (f" ({len(result.skipped)} already there, left as they were)" if result.skipped else ""))


@xseg_app.command("export")
def export_command(
    model_dir: Path = typer.Argument(..., help="Trained XSeg model folder."),
    out: Path = typer.Option(..., "--output", "-o", help="NAME.onnx (in_face [N,256,256,3] → out_mask "
                             "[N,256,256,1], DeepFaceLab's XSeg contract)."),
    opset: int = typer.Option(13, help="ONNX opset, 13 (DeepFaceLab's) … 20; above 18 DeepFaceLive's "
                              "onnxruntime 1.15.1 refuses it."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
) -> None:
    """Export an XSeg model as ONNX with DeepFaceLab's contract."""
    from recast.export.xseg_onnx import export_xseg

    summary = export_xseg(model_dir, out, opset=opset, overwrite=force)
    console.print(f"[green]done[/]: {summary.path} ({summary.bytes / 1e6:.1f} MB, {summary.face_type} face, "
                  f"opset {summary.opset})")


@xseg_app.command("import-labels")
@writes_into("folder", what="recast xseg import-labels")
def import_labels_command(
    folder: Path = typer.Argument(..., help="Aligned faces folder."),
    labelme: Path | None = typer.Option(None, "--labelme", help="LabelMe .json file or folder of them."),
    coco: Path | None = typer.Option(None, "--coco", help="COCO annotations file (polygons)."),
    replace: bool = typer.Option(False, "--replace", help="Replace labels faces already have (backed up first)."),
) -> None:
    """Put polygons drawn in LabelMe or another COCO tool into the faces' XSeg labels."""
    from recast.faceset.labelformats import import_coco, import_labelme

    if (labelme is None) == (coco is None):
        raise OptionError("give one of --labelme or --coco")
    result = import_labelme(folder, labelme, replace) if labelme is not None else import_coco(
        folder, coco, replace)  # type: ignore[arg-type]  # one of the two is set
    console.print(f"[green]done[/]: labels stored in {len(result.updated)} faces"
                  + (f"; {len(result.unmatched)} entries name no face here" if result.unmatched else "")
                  + (f"; {len(result.empty)} faces had no usable polygon (nothing stored)" if result.empty else "")
                  + (f"; replaced faces backed up in {result.backup}" if result.backup else ""))


@xseg_app.command("export-labels")
def export_labels_command(
    folder: Path = typer.Argument(..., help="Aligned faces folder."),
    labelme: Path | None = typer.Option(None, "--labelme", help="Folder for one LabelMe .json per labelled face."),
    coco: Path | None = typer.Option(None, "--coco", help="COCO annotations file to write."),
) -> None:
    """Write the faces' XSeg labels as LabelMe JSON files or one COCO file."""
    from recast.faceset.labelformats import export_coco, export_labelme

    if (labelme is None) == (coco is None):
        raise OptionError("give one of --labelme or --coco")
    count = export_labelme(folder, labelme) if labelme is not None else export_coco(folder, coco)  # type: ignore[arg-type]
    console.print(f"[green]done[/]: exported the labels of {count} faces to {labelme or coco}")


def register(app: typer.Typer) -> None:
    """Add the ``xseg`` command group to ``app``."""
    app.add_typer(xseg_app, name="xseg")
