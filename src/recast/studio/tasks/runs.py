"""The task functions the studio's workers call (see :mod:`recast.studio.tasks`): form options →
the stage's options → the stage → a JSON-able summary. Each is as thin as its CLI command.

Each task ``x`` has a ``check_x(workspace, options)`` the server calls before starting the job (it
parses the options with the same declarations the run uses, and touches nothing), and the run
parses them again in the worker."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recast.atomic import atomic_write_text
from recast.errors import InputError, OptionError
from recast.options import from_mapping
from recast.paths import kept_aside
from recast.studio.files import check_name
from recast.studio.tasks import Emit
from recast.studio.tasks.options import (
    ExtractJob,
    RenderJob,
    SortJob,
    TrainJob,
    checked,
    in_workspace,
    split,
)
from recast.workspace import Workspace

VERIFY_REPORT = Path(".studio") / "verify.json"
"""Where the verify task keeps its last report (the Result page reads it)."""
EVAL_DIR = "result_eval"


def check_train(workspace: Path, options: Any) -> tuple[str, dict[str, Any]]:
    """(model folder name, :class:`~recast.train.options.TrainOptions` keywords) of the train task's options:
    the ``train-run`` form's keys plus ``settings`` (TrainSettings overrides) and ``model_config``
    (model options of a new model); OptionError naming what is refused."""
    from recast.models.registry import DEFAULT_MODEL, get_entry
    from recast.runtime.options import Limits
    from recast.train.options import TrainSettings

    if not isinstance(options, dict):
        raise OptionError(f"train options must be an object of name: value, got {str(options)[:40]!r}")
    rest = {key: value for key, value in options.items() if key not in ("settings", "model_config")}
    job_part, limits, run, compute = checked(rest, "train-run")
    job = from_mapping(TrainJob, job_part)
    from_mapping(Limits, limits).check()
    settings, model_config = options.get("settings") or {}, options.get("model_config") or {}
    from_mapping(TrainSettings, settings)
    if not isinstance(model_config, dict):
        raise OptionError(f"model_config must be an object of name: value, got {str(model_config)[:40]!r}")
    if model_config:
        get_entry(job.model or DEFAULT_MODEL).build_config(**model_config)
    return job.name, {**limits, **run, **compute, "model": job.model, "settings": settings,
                      "model_config": model_config}


def run_train(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Train (or resume) ``model/<name>`` on the workspace's src and dst facesets.

    options: ``name`` (model folder, default "default"), ``model`` (registry name for a new model),
    ``iterations`` (target), ``more``, ``minutes``, ``settings`` (TrainSettings overrides),
    ``model_config`` (architecture, new model only), ``preview_every``.
    """
    from recast.runtime.devices import resolve_device
    from recast.train.options import TrainOptions
    from recast.train.trainer import train

    ws = Workspace(workspace)
    name, run = check_train(workspace, options)
    train_options = TrainOptions(src=ws.src_aligned, dst=ws.dst_aligned, model_dir=ws.model_dir(name),
                                 on_event=training_events(emit), **run)
    train_options.device = resolve_device(train_options.device)
    result = train(train_options)
    return {"status": result.status, "iteration": result.iteration, "model_dir": f"model/{name}"}


def training_events(emit: Emit, target: int | None = None) -> Any:
    """An ``on_event(ProgressEvent)`` callback turning training events (face model or XSeg) into job progress
    events (``kind``: iteration, preview, save, info, done; ``iteration``, ``ms_per_iter``, ``losses``,
    ``message``, ``phase``; ``total``: the target iteration when there is one). Iteration events go out at
    most twice a second (a long run must not flood the stream), every other kind at once (the page
    reloads the preview on ``preview``)."""
    last = 0.0

    def on_event(event: Any) -> None:
        nonlocal last
        if event.kind == "iteration":
            if time.monotonic() - last < 0.5:
                return
            last = time.monotonic()
        emit({"type": "progress", "kind": event.kind, "iteration": event.iteration, "total": target,
              "ms_per_iter": round(event.ms_per_iter, 1), "losses": event.losses, "message": event.message,
              "phase": event.phase})

    return on_event


def progress_events(emit: Emit, kind: str) -> Any:
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


def check_extract(workspace: Path, options: Any) -> tuple[ExtractJob, Any]:
    """The extract task's options: (which side and source, :class:`~recast.extract.stage.ExtractOptions`);
    ``reference`` photos must lie in the workspace."""
    from recast.extract.stage import ExtractOptions

    job_part, given = split(options, "extract")
    job = from_mapping(ExtractJob, job_part)
    references = given.get("reference", [])
    if isinstance(references, list):
        given["reference"] = [in_workspace(workspace, str(item), "--reference") for item in references]
    return job, from_mapping(ExtractOptions, given)


def run_extract(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Extract one side's faces (``recast extract``) into ``data_<side>/aligned``.

    options: ``side`` (src, dst), ``source`` (auto, frames, video) and any ``recast extract``
    option (:class:`~recast.extract.stage.ExtractOptions`); ``reference`` photos must lie in the
    workspace. Reading the video, it also writes its frames into ``data_<side>/`` (as ``recast frames``,
    at the same ``fps``, named as the faces' source frames: ``00001.png`` …) for merging, the manual
    fix and the coverage links; frames already there are kept.
    """
    from recast.extract.stage import extract
    from recast.media.video import extract_frames

    job, extract_options = check_extract(workspace, options)
    ws = Workspace(workspace)
    source = _frames_or_video(ws, job.side, job.source)
    out = ws.src_aligned if job.side == "src" else ws.dst_aligned
    summary = extract(source, out, extract_options, on_progress=progress_events(emit, "extract"))
    frames_written = None
    if source.is_file():
        report = progress_events(emit, "frames")
        folder = ws.src_frames if job.side == "src" else ws.dst_frames
        frames_written = extract_frames(source, folder, fps=extract_options.fps,
                                        progress=lambda index, _written: report(index, max(index, summary.frames)))
    return {"side": job.side, "source": source.name, "frames": summary.frames, "faces": summary.faces,
            "frames_without_face": summary.frames_without_face, "frames_with_several": summary.frames_with_several,
            "skipped_done": summary.skipped_done, "frames_written": frames_written}


def check_sort(workspace: Path, options: Any) -> tuple[SortJob, Any]:
    """The sort task's options: (which side, whether to restore; :class:`~recast.faceset.sort.SortOptions`)."""
    from recast.faceset.sort import SortOptions

    job_part, given = split(options, "sort")
    return from_mapping(SortJob, job_part), from_mapping(SortOptions, given)


def run_sort(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Sort one side's faceset (``recast sort``), or undo every sort (``restore``).

    options: :class:`~recast.studio.tasks.options.SortJob` fields (side, restore) and
    :class:`~recast.faceset.sort.SortOptions` fields (method, target, max_distance, workers).
    """
    from recast.faceset.sort import restore, sort_faceset

    job, sort = check_sort(workspace, options)
    ws = Workspace(workspace)
    folder = ws.src_aligned if job.side == "src" else ws.dst_aligned
    if job.restore:
        restored = restore(folder)
        return {"side": job.side, "restored": restored.restored, "missing": len(restored.missing),
                "conflicts": len(restored.conflicts)}
    outcome = sort_faceset(folder, sort.method, workers=sort.workers, on_progress=progress_events(emit, "sort"),
                           target=sort.target, max_distance=sort.max_distance)
    return {"side": job.side, "method": sort.method, "kept": len(outcome.kept), "trashed": len(outcome.trashed)}


@dataclass(frozen=True)
class Render:
    """The render task's options, parsed: the task's own, the merge settings (or session), the video
    options, the compute options, and the output and XSeg model paths inside the workspace."""

    job: RenderJob
    settings: Any
    encode: Any
    compute: Any
    output: Path
    xseg: Path | None


def check_render(workspace: Path, options: Any) -> Render:
    """The render task's options parsed (:class:`Render`); OptionError or InputError naming what is refused."""
    from recast.merge.settings import MergeSession, MergeSettings, load_session
    from recast.provenance.writer import EncodeOptions
    from recast.runtime.options import ComputeOptions

    merge_part, encode_part, job_part, compute_part = split(options, "render")
    job = from_mapping(RenderJob, job_part)
    ws = Workspace(workspace)
    encode = from_mapping(EncodeOptions, encode_part, EncodeOptions(
        audio_from=ws.dst_video if ws.dst_video.is_file() else None))
    check_name(job.model)
    settings: MergeSettings | MergeSession
    if job.session is not None:
        loaded = load_session(in_workspace(workspace, job.session, "session"))
        settings = MergeSession(base=loaded.base.updated(merge_part), keyframes=loaded.keyframes)
    else:
        settings = MergeSettings.from_dict(merge_part)
    xseg = ws.model_dir(check_name(job.xseg, "xseg")) if job.xseg is not None else None
    return Render(job, settings, encode, from_mapping(ComputeOptions, compute_part),
                  in_workspace(workspace, job.output, "output"), xseg)


def run_render(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Merge model/<model> into every destination frame, straight into the labelled result video
    (``recast merge -o result.mp4``: mask video, audio of data_dst.mp4, provenance sidecar), then
    check its labels with :func:`recast.provenance.verify.verify`.

    options: any :class:`~recast.merge.settings.MergeSettings` field (mode, mask_mode, color,
    erode, blur, …), any video option of :class:`~recast.provenance.writer.EncodeOptions` (``crf``,
    ``preset``, ``lossless``, ``visible_label``), the merge's compute options (``batch_size``,
    ``workers``, ``device``, ``precision``: :data:`~recast.merge.settings.MERGE_COMPUTE`) and any
    :class:`~recast.studio.tasks.options.RenderJob` field: ``model`` (folder under model/, default
    "default"), ``session`` (a merge session JSON in the workspace, whose keyframes apply; the settings
    given replace its base), ``xseg`` (an XSeg model under model/ for the xseg mask modes), ``output``
    (default result.mp4), ``force`` (an existing result, its mask video and sidecar move to
    ``.recast/backup/<time>/`` first (:func:`recast.paths.kept_aside`, as ``recast merge --force``) and
    come back if the render fails). The destination frames are
    ``data_dst/`` when it holds frames, else ``data_dst.mp4``.
    """
    from recast.merge.settings import MergeSession
    from recast.merge.stage import merge_to_video
    from recast.provenance.verify import verify
    from recast.provenance.writer import result_files
    from recast.runtime.devices import resolve_device

    render = check_render(workspace, options)
    job, settings, encode, compute = render.job, render.settings, render.encode, render.compute
    ws = Workspace(workspace)
    root = ws.root.resolve()
    model_dir, output, xseg = ws.model_dir(job.model), render.output, render.xseg
    frames = _frames_or_video(ws, "dst")
    with kept_aside(root, result_files(output), job.force) as backup:
        summary = merge_to_video(model_dir, frames, ws.dst_aligned, output, settings, encode,
                                 workers=compute.workers, batch_size=compute.batch_size,
                                 device=resolve_device(compute.device), precision=compute.precision, xseg=xseg,
                                 on_progress=progress_events(emit, "render"))
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


def check_eval(workspace: Path, options: Any) -> Any:
    """The eval task's options (:class:`~recast.eval.options.EvalOptions`, ``recast eval``'s)."""
    from recast.eval.options import EvalOptions

    (given,) = split(options, "eval")
    return from_mapping(EvalOptions, given)


def run_eval(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """``recast eval`` of result.mp4 against the destination → ``result_eval/eval.json`` and ``eval.png``.

    options: :class:`~recast.eval.options.EvalOptions` fields (``every``, ``force``).
    """
    from recast.eval import evaluate, write_report
    from recast.eval.report import check_report_dir

    job = check_eval(workspace, options)
    ws = Workspace(workspace)
    if not ws.result.is_file():
        raise InputError(ws.result, "no result video yet: render first")
    out = ws.root / EVAL_DIR
    check_report_dir(out, overwrite=job.force)
    dst = ws.dst_video if ws.dst_video.is_file() else _frames_or_video(ws, "dst", "frames")
    report = evaluate(ws.result, dst, ws.src_aligned, ws.dst_aligned, every=job.every,
                      on_progress=progress_events(emit, "eval"))
    write_report(report, out, overwrite=job.force)
    return {"report": f"{EVAL_DIR}/", "summary": report.summary()}


def check_verify(workspace: Path, options: Any) -> Any:
    """The verify task's options (:class:`~recast.provenance.verify.VerifyOptions`, ``recast verify``'s)."""
    from recast.provenance.verify import VerifyOptions

    (given,) = split(options, "verify")
    return from_mapping(VerifyOptions, given)


def run_verify(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """``recast verify`` of result.mp4; the report is also kept in ``.studio/verify.json``.

    options: :class:`~recast.provenance.verify.VerifyOptions` fields (``frames``).
    """
    import json

    from recast.provenance.verify import verify

    job = check_verify(workspace, options)
    ws = Workspace(workspace)
    searched = [ws.dst_frames, ws.src_frames, ws.models]  # where the sidecar's inputs lie in a workspace
    report = verify(ws.result, sample_frames=job.frames, input_dirs=searched).to_dict()
    atomic_write_text(ws.root / VERIFY_REPORT, json.dumps(report, indent=1))
    return {"labelled": report["labelled"], "verdict": report["verdict"]}
