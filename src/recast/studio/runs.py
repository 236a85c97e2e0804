"""The task functions the studio's workers call (see :mod:`recast.studio.tasks`): form options →
the stage's options → the stage → a JSON-able summary. Each is as thin as its CLI command."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from recast.atomic import atomic_write_text
from recast.errors import InputError, OptionError
from recast.options import from_mapping
from recast.studio.taskoptions import (
    EvalJob,
    ExtractJob,
    RenderJob,
    SortJob,
    VerifyJob,
    check_name,
    in_workspace,
    split_options,
)
from recast.studio.tasks import Emit
from recast.workspace import Workspace

TRAIN_KEYS = ("name", "model", "iterations", "more", "minutes", "settings", "model_config", "preview_every",
              "autosave_minutes", "workers", "threads", "seed", "device", "precision")
"""The train task's options: :class:`~recast.train.options.TrainOptions` fields a form may set
(paths are the workspace's own; ``name`` is the folder under ``model/``)."""
VERIFY_REPORT = Path(".studio") / "verify.json"
"""Where the verify task keeps its last report (the Result page reads it)."""
EVAL_DIR = "result_eval"
BACKUP_DIR = Path(".studio") / "backup"
"""Where a forced render moves the result it replaces."""


def run_train(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Train (or resume) ``model/<name>`` on the workspace's src and dst facesets.

    options: ``name`` (model folder, default "default"), ``model`` (registry name for a new model),
    ``iterations`` (target), ``more``, ``minutes``, ``settings`` (TrainSettings overrides),
    ``model_config`` (architecture, new model only), ``preview_every``.
    """
    from recast.train.options import ProgressEvent, TrainOptions
    from recast.train.trainer import train

    ws = Workspace(workspace)
    last_iteration_event = 0.0

    def on_event(event: ProgressEvent) -> None:
        nonlocal last_iteration_event
        if event.kind == "iteration":  # at most two per second: a long run must not flood the stream
            if time.monotonic() - last_iteration_event < 0.5:
                return
            last_iteration_event = time.monotonic()
        emit({"type": "progress", "kind": event.kind, "iteration": event.iteration,
              "ms_per_iter": round(event.ms_per_iter, 1), "losses": event.losses, "message": event.message})

    if not isinstance(options, dict):
        raise OptionError(f"train options must be an object of name: value, got {str(options)[:40]!r}")
    unknown = sorted(str(key) for key in options if key not in TRAIN_KEYS)
    if unknown:
        raise OptionError(f"unknown train option {', '.join(map(repr, unknown))}; "
                          f"known: {', '.join(sorted(TRAIN_KEYS))}")
    options = dict(options)
    name = check_name(options.pop("name", "default"))
    if "device" in options:
        from recast.runtime.devices import resolve_device

        options["device"] = resolve_device(str(options["device"]))
    result = train(TrainOptions(src=ws.src_aligned, dst=ws.dst_aligned, model_dir=ws.model_dir(name),
                                on_event=on_event, **options))
    return {"status": result.status, "iteration": result.iteration, "model_dir": f"model/{name}"}


def _progress(emit: Emit, kind: str) -> Any:
    """An ``on_progress(done, total)`` callback emitting at most two progress events per second
    (and always the last one)."""
    last = 0.0

    def report(done: int, total: int | None) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < 0.5 and done != total:
            return
        last = now
        emit({"type": "progress", "kind": kind, "done": done, "total": total})

    return report


def _frames_or_video(ws: Workspace, side: str, source: str = "auto") -> Path:
    """The frames folder of ``side`` when it holds frames (``source="auto"``), else its video."""
    from recast.media.images import list_images

    folder, video = (ws.src_frames, ws.src_video) if side == "src" else (ws.dst_frames, ws.dst_video)
    has_frames = folder.is_dir() and bool(list_images(folder))
    if source == "frames" or (source == "auto" and has_frames):
        if not has_frames:
            raise InputError(folder, "holds no frames")
        return folder
    if not video.is_file():
        raise InputError(video, f"no {side} video (and no frames in {folder.name}/)")
    return video


def run_extract(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Extract one side's faces (``recast extract``) into ``data_<side>/aligned``.

    options: ``side`` (src, dst), ``source`` (auto, frames, video) and any ``recast extract``
    option (:class:`~recast.extract.stage.ExtractOptions`); ``reference`` photos must lie in the
    workspace.
    """
    from recast.extract.stage import ExtractOptions, extract

    job_part, given = split_options(options, "extract option", ExtractJob, ExtractOptions)
    job = from_mapping(ExtractJob, job_part)
    references = given.get("reference", [])
    if isinstance(references, list):
        given["reference"] = [in_workspace(workspace, str(item), "--reference") for item in references]
    extract_options = from_mapping(ExtractOptions, given)
    ws = Workspace(workspace)
    source = _frames_or_video(ws, job.side, job.source)
    out = ws.src_aligned if job.side == "src" else ws.dst_aligned
    summary = extract(source, out, extract_options, on_progress=_progress(emit, "extract"))
    return {"side": job.side, "source": source.name, "frames": summary.frames, "faces": summary.faces,
            "frames_without_face": summary.frames_without_face, "frames_with_several": summary.frames_with_several,
            "skipped_done": summary.skipped_done}


def run_sort(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Sort one side's faceset (``recast sort``), or undo every sort (``restore``).

    options: :class:`~recast.studio.taskoptions.SortJob` fields (side, method, target,
    max_distance, workers, restore).
    """
    from recast.faceset.sort import restore, sort_faceset

    (given,) = split_options(options, "sort option", SortJob)
    job = from_mapping(SortJob, given)
    ws = Workspace(workspace)
    folder = ws.src_aligned if job.side == "src" else ws.dst_aligned
    if job.restore:
        restored = restore(folder)
        return {"side": job.side, "restored": restored.restored, "missing": len(restored.missing),
                "conflicts": len(restored.conflicts)}
    outcome = sort_faceset(folder, job.method, workers=job.workers, on_progress=_progress(emit, "sort"),
                           target=job.target, max_distance=job.max_distance)
    return {"side": job.side, "method": job.method, "kept": len(outcome.kept), "trashed": len(outcome.trashed)}


def run_render(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Merge model/<model> into every destination frame, straight into the labelled result video
    (``recast merge -o result.mp4``: mask video, audio of data_dst.mp4, provenance sidecar), then
    check its labels with :func:`recast.provenance.verify.verify`.

    options: any :class:`~recast.merge.settings.MergeSettings` field (mode, mask_mode, color,
    erode, blur, …), any video option of :class:`~recast.pipeline.encode.EncodeOptions` (``crf``,
    ``preset``, ``lossless``, ``visible_label``) and any :class:`~recast.studio.taskoptions.RenderJob`
    field: ``model`` (folder under model/, default "default"), ``session`` (a merge session JSON in
    the workspace, whose keyframes apply; the settings given replace its base), ``xseg`` (an XSeg
    model under model/ for the xseg mask modes), ``output`` (default result.mp4), ``force`` (an
    existing result, its mask video and sidecar move to ``.studio/backup/<time>/`` first and come
    back if the render fails), ``batch_size``, ``workers``, ``device``, ``precision``. The
    destination frames are ``data_dst/`` when it holds frames, else ``data_dst.mp4``.
    """
    from recast.merge.settings import MergeSession, MergeSettings, load_session
    from recast.merge.stage import merge_to_video
    from recast.pipeline.encode import EncodeOptions, mask_output_path
    from recast.provenance.label import sidecar_path
    from recast.provenance.verify import verify
    from recast.runtime.devices import resolve_device

    merge_part, encode_part, job_part = split_options(options, "render option", MergeSettings, EncodeOptions,
                                                      RenderJob)
    job = from_mapping(RenderJob, job_part)
    ws = Workspace(workspace)
    root = ws.root.resolve()
    encode = from_mapping(EncodeOptions, encode_part, EncodeOptions(
        audio_from=ws.dst_video if ws.dst_video.is_file() else None))
    model_dir = ws.model_dir(check_name(job.model))
    settings: MergeSettings | MergeSession
    if job.session is not None:
        loaded = load_session(in_workspace(workspace, job.session, "session"))
        settings = MergeSession(base=loaded.base.updated(merge_part), keyframes=loaded.keyframes)
    else:
        settings = MergeSettings.from_dict(merge_part)
    output = in_workspace(workspace, job.output, "output")
    xseg = ws.model_dir(check_name(job.xseg, "xseg")) if job.xseg is not None else None
    frames = _frames_or_video(ws, "dst")
    backup = _move_aside(root, [output, mask_output_path(output), sidecar_path(output)]) if job.force else None
    try:
        summary = merge_to_video(model_dir, frames, ws.dst_aligned, output, settings, encode, workers=job.workers,
                                 batch_size=job.batch_size, device=resolve_device(job.device),
                                 precision=job.precision, xseg=xseg, on_progress=_progress(emit, "render"))
    except BaseException:
        if backup is not None:
            _put_back(root, backup)
        raise
    emit({"type": "progress", "kind": "verify", "message": f"verifying the labels of {output.name}"})
    report = verify(output, input_dirs=[root, ws.dst_frames, ws.models])
    video = summary.video
    return {"output": output.relative_to(root).as_posix(), "mask": summary.mask_dir.relative_to(root).as_posix(),
            "frames": summary.frames_total, "merged": summary.frames_merged, "faces_merged": summary.faces_merged,
            "without_face": summary.frames_passed_through, "masked_out": summary.frames_masked_out,
            "seconds": round(summary.seconds, 2), "has_audio": bool(video and video.has_audio),
            "sidecar": video.sidecar.name if video else None,
            "keyframes": sorted(settings.keyframes) if isinstance(settings, MergeSession) else [],
            "backup": None if backup is None else backup.relative_to(root).as_posix(),
            "verified": report.labelled and not report.failed, "verify": report.to_dict()}


def _move_aside(root: Path, paths: list[Path]) -> Path | None:
    """Move the existing ``paths`` (inside ``root``) into a fresh ``.studio/backup/<time>/``; that folder,
    or None when none of them exists."""
    existing = [path for path in paths if path.exists()]
    if not existing:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder, suffix = root / BACKUP_DIR / stamp, 1
    while folder.exists():
        suffix += 1
        folder = root / BACKUP_DIR / f"{stamp}~{suffix}"
    folder.mkdir(parents=True)
    for path in existing:
        target = folder / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
    return folder


def _put_back(root: Path, folder: Path) -> None:
    """Undo :func:`_move_aside`: every file in ``folder`` back to its place under ``root``."""
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            target = root / path.relative_to(folder)
            target.unlink(missing_ok=True)
            shutil.move(path, target)


def run_eval(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """``recast eval`` of result.mp4 against the destination → ``result_eval/eval.json`` and ``eval.png``.

    options: :class:`~recast.studio.taskoptions.EvalJob` fields (``every``, ``force``).
    """
    from recast.eval import evaluate, write_report
    from recast.eval.report import check_report_dir

    (given,) = split_options(options, "eval option", EvalJob)
    job = from_mapping(EvalJob, given)
    ws = Workspace(workspace)
    if not ws.result.is_file():
        raise InputError(ws.result, "no result video yet: render first")
    out = ws.root / EVAL_DIR
    check_report_dir(out, overwrite=job.force)
    dst = ws.dst_video if ws.dst_video.is_file() else _frames_or_video(ws, "dst", "frames")
    report = evaluate(ws.result, dst, ws.src_aligned, ws.dst_aligned, every=job.every,
                      on_progress=_progress(emit, "eval"))
    write_report(report, out, overwrite=job.force)
    return {"report": f"{EVAL_DIR}/", "summary": report.summary()}


def run_verify(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """``recast verify`` of result.mp4; the report is also kept in ``.studio/verify.json``.

    options: :class:`~recast.studio.taskoptions.VerifyJob` fields (``frames``).
    """
    import json

    from recast.provenance.verify import verify

    (given,) = split_options(options, "verify option", VerifyJob)
    job = from_mapping(VerifyJob, given)
    ws = Workspace(workspace)
    searched = [ws.dst_frames, ws.src_frames, ws.models]  # where the sidecar's inputs lie in a workspace
    report = verify(ws.result, sample_frames=job.frames, input_dirs=searched).to_dict()
    atomic_write_text(ws.root / VERIFY_REPORT, json.dumps(report, indent=1))
    return {"labelled": report["labelled"], "verdict": report["verdict"]}
