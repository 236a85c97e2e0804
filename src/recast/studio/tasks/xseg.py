"""The XSeg page's jobs (see :mod:`recast.studio.tasks`): train an XSeg mask model, apply its masks
to a faceset, remove them, fetch the labelled faces — each calls the library function its
``recast xseg …`` command calls, with the same backups: apply and remove copy every face whose
mask they change to ``<faceset>_backup/`` first (:func:`recast.faceset.files.backup_faces`), fetch
copies and never replaces."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recast.errors import InputError
from recast.options import from_mapping
from recast.studio.tasks import Emit
from recast.studio.tasks.options import XSegApplyJob, XSegSideJob, XSegTrainJob, checked, split
from recast.studio.tasks.runs import progress_events, training_events
from recast.workspace import Workspace


def _faceset(workspace: Path, side: str) -> Path:
    ws = Workspace(workspace)
    return ws.src_aligned if side == "src" else ws.dst_aligned


def _relative(workspace: Path, path: Path | None) -> str | None:
    return None if path is None else path.resolve().relative_to(Path(workspace).resolve()).as_posix()


@dataclass(frozen=True)
class XSegTrain:
    """The xseg-train task's options, parsed: the task's own, the settings overrides, the limits and the
    compute options (:class:`~recast.runtime.options.ComputeOptions`)."""

    job: XSegTrainJob
    settings: dict[str, Any]
    limits: Any
    compute: Any


def check_xseg_train(workspace: Path, options: Any) -> XSegTrain:
    """The xseg-train task's options parsed (:class:`XSegTrain`); OptionError naming what is refused."""
    from recast.runtime.options import ComputeOptions, Limits

    job_part, settings, limits_part, compute_part = checked(options, "xseg-train")
    job = from_mapping(XSegTrainJob, job_part)
    limits = from_mapping(Limits, limits_part)
    limits.check()
    return XSegTrain(job, settings, limits, from_mapping(ComputeOptions, compute_part))


def run_xseg_train(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Train (or resume) the XSeg model ``model/<name>`` (``recast xseg train``) on the src and/or dst
    facesets; previews go to ``model/<name>/previews/preview.png`` every ``preview_every`` iterations.

    options: :class:`~recast.studio.tasks.options.XSegTrainJob` fields (name, model, faces, preview_every),
    :class:`~recast.train.xseg_options.XSegSettings` fields, the limits (iterations, more, minutes) and
    the compute options device, threads, workers, seed.
    """
    from recast.models import checkpoint as ckpt
    from recast.runtime.devices import resolve_device
    from recast.train.xseg_trainer import XSegTrainOptions, train_xseg

    parsed = check_xseg_train(workspace, options)
    job, limits, compute = parsed.job, parsed.limits, parsed.compute
    ws = Workspace(workspace)
    faces = [ws.src_aligned, ws.dst_aligned] if job.faces == "both" else [_faceset(workspace, job.faces)]
    model_dir = ws.model_dir(job.name)
    start = ckpt.read_state(model_dir) if model_dir.is_dir() else None
    begun = int(start.get("iteration", 0)) if start else 0
    target = limits.iterations if limits.iterations is not None else (
        begun + limits.more if limits.more is not None else None)
    result = train_xseg(XSegTrainOptions(
        faces=faces, model_dir=model_dir, model=job.model, settings=parsed.settings, iterations=limits.iterations,
        more=limits.more, minutes=limits.minutes, device=resolve_device(compute.device), threads=compute.threads,
        workers=compute.workers, seed=compute.seed, preview_every=job.preview_every,
        on_event=training_events(emit, target)))
    return {"status": result.status, "iteration": result.iteration, "model_dir": f"model/{job.name}",
            "loss": round(result.loss, 5), "ms_per_iter": round(result.ms_per_iter, 1), "message": result.message}


def check_xseg_apply(workspace: Path, options: Any) -> tuple[XSegApplyJob, str]:
    """(the apply task's options, its device); InputError when ``model/<name>`` holds no XSeg model."""
    from recast.models.xseg_inference import check_saved_xseg
    from recast.runtime.options import ComputeOptions

    job_part, compute_part = checked(options, "xseg-apply")
    job = from_mapping(XSegApplyJob, job_part)
    model_dir = Workspace(workspace).model_dir(job.name)
    if not model_dir.is_dir():
        raise InputError(model_dir, "no such XSeg model: train one first")
    check_saved_xseg(model_dir)
    return job, from_mapping(ComputeOptions, compute_part).device


def run_xseg_apply(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Store the masks of XSeg model ``model/<name>`` in every face of the ``side`` faceset (``recast xseg
    apply``); faces that already had a mask are copied to ``<faceset>_backup/`` first.

    options: :class:`~recast.studio.tasks.options.XSegApplyJob` fields (side, name, batch_size), ``device``.
    """
    from recast.faceset.xsegtools import apply_masks
    from recast.runtime.devices import resolve_device

    job, device = check_xseg_apply(workspace, options)
    result = apply_masks(_faceset(workspace, job.side), Workspace(workspace).model_dir(job.name),
                         resolve_device(device), job.batch_size, progress_events(emit, "xseg-apply"))
    return {"side": job.side, "model": f"model/{job.name}", "changed": len(result.changed),
            "backup": _relative(workspace, result.backup)}


def check_xseg_side(workspace: Path, options: Any) -> XSegSideJob:
    """The remove and fetch tasks' options (which side)."""
    (given,) = split(options, "xseg-remove")
    return from_mapping(XSegSideJob, given)


def run_xseg_remove(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Drop the applied XSeg masks of the ``side`` faceset (``recast xseg remove``; the labels stay); the
    faces are copied to ``<faceset>_backup/`` first."""
    from recast.faceset.xsegtools import remove_masks

    job = check_xseg_side(workspace, options)
    result = remove_masks(_faceset(workspace, job.side))
    return {"side": job.side, "changed": len(result.changed), "backup": _relative(workspace, result.backup)}


def run_xseg_fetch(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Copy the labelled faces of the ``side`` faceset to ``<faceset>_xseg/`` (``recast xseg fetch``);
    faces already there are left as they are."""
    from recast.faceset.xsegtools import fetch_labelled

    job = check_xseg_side(workspace, options)
    folder = _faceset(workspace, job.side)
    result = fetch_labelled(folder)
    return {"side": job.side, "copied": len(result.changed), "skipped": len(result.skipped),
            "output": _relative(workspace, folder.with_name(folder.name + "_xseg"))}
