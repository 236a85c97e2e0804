"""The merge tuner's files and its render task.

Sessions are :class:`recast.merge.settings.MergeSession` JSON files (what ``recast merge
--session`` reads) kept in ``WORKSPACE/merge_sessions/<name>.json``. :func:`run_merge_session` is
the ``merge-session`` studio task: it merges the destination frames with a session straight into
the labelled result video (:func:`recast.merge.stage.merge_to_video`), then checks the result's
labels with :func:`recast.provenance.verify.verify`.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

from recast.errors import OptionError
from recast.studio.tasks import Emit
from recast.workspace import Workspace

SESSIONS_DIR = "merge_sessions"
BACKUP_DIR = Path(".studio") / "backup"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""Session and model names the tuner accepts (no separators, no leading dot)."""


def check_name(name: str, what: str) -> str:
    """``name`` when it is a plain file name (:data:`NAME`); OptionError otherwise."""
    if not isinstance(name, str) or not NAME.fullmatch(name) or name.endswith("."):
        raise OptionError(f"{what} {name!r} is not a plain name (letters, digits, '_', '-', '.')")
    return name


def within(workspace: Path, relative: str, what: str) -> Path:
    """``workspace/relative`` resolved, or OptionError when it would leave the workspace."""
    base = Path(workspace).resolve()
    if not isinstance(relative, str) or not relative or "\x00" in relative or Path(relative).is_absolute():
        raise OptionError(f"{what} must be a path inside the workspace, got {relative!r}")
    path = (base / relative).resolve()
    if base not in path.parents:
        raise OptionError(f"{what} {relative!r} is outside the workspace")
    return path


def run_merge_session(workspace: Path, options: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Render the result video with a merge session, then verify its labels.

    options: ``model`` (folder name in ``model/``, default ``default``); ``session`` (a session
    file, relative to the workspace) or ``session_json`` (the session object itself; neither: the
    default settings); ``output`` (default ``result.mp4``); ``replace`` (an existing result is
    moved to ``.studio/backup/<time>/`` first, and put back if the render fails); ``crf``,
    ``preset``, ``visible_label`` (encoding, as ``recast merge``); ``xseg`` (an XSeg model in ``model/``
    for the xseg mask modes).
    """
    from recast.merge.settings import MergeSession, load_session
    from recast.merge.stage import merge_to_video
    from recast.pipeline.encode import EncodeOptions, mask_output_path
    from recast.provenance.label import sidecar_path
    from recast.provenance.verify import verify
    from recast.runtime.devices import resolve_device

    options = dict(options)
    unknown = sorted(set(options) - {"model", "session", "session_json", "output", "replace", "crf", "preset",
                                     "visible_label", "xseg"})
    if unknown:
        raise OptionError(f"unknown merge-session option {unknown[0]!r}")
    ws = Workspace(Path(workspace))
    model_dir = ws.model_dir(check_name(options.get("model", "default"), "model"))
    xseg = ws.model_dir(check_name(options["xseg"], "xseg")) if options.get("xseg") else None
    if options.get("session") is not None and options.get("session_json") is not None:
        raise OptionError("give the session as a file (session) or as JSON (session_json), not both")
    session = MergeSession()
    if options.get("session") is not None:
        session = load_session(within(ws.root, options["session"], "session"))
    elif options.get("session_json") is not None:
        session = MergeSession.from_dict(options["session_json"])
    output = within(ws.root, str(options.get("output", "result.mp4")), "output")
    encode = EncodeOptions(audio_from=ws.dst_video if ws.dst_video.is_file() else None,
                           crf=int(options.get("crf", 18)), preset=str(options.get("preset", "veryfast")),
                           visible_label=bool(options.get("visible_label", False)))
    outputs = [output, mask_output_path(output), sidecar_path(output)]
    backup = _move_aside(ws.root, outputs) if options.get("replace") else None
    last = 0.0

    def progress(done: int, total: int | None) -> None:
        nonlocal last
        if time.monotonic() - last >= 0.5 or done == total:
            last = time.monotonic()
            emit({"type": "progress", "kind": "merge", "done": done, "total": total,
                  "message": f"frame {done}/{total if total is not None else '?'}"})

    try:
        summary = merge_to_video(model_dir, ws.dst_frames, ws.dst_aligned, output, session, encode,
                                 device=resolve_device("auto"), xseg=xseg, on_progress=progress)
    except BaseException:
        if backup is not None:
            _put_back(ws.root, backup)
        raise
    emit({"type": "progress", "kind": "verify", "message": f"verifying the labels of {output.name}"})
    report = verify(output, input_dirs=[ws.root, ws.dst_frames, ws.models])
    assert summary.video is not None
    return {
        "output": output.relative_to(ws.root.resolve()).as_posix(),
        "mask": summary.mask_dir.relative_to(ws.root.resolve()).as_posix(),
        "frames": summary.video.frames, "faces_merged": summary.faces_merged, "seconds": round(summary.seconds, 2),
        "keyframes": sorted(session.keyframes),
        "backup": None if backup is None else backup.relative_to(ws.root.resolve()).as_posix(),
        "verified": report.labelled and not report.failed,
        "verify": report.to_dict(),
    }


def _move_aside(root: Path, paths: list[Path]) -> Path | None:
    """Move the existing ``paths`` into a fresh ``.studio/backup/<time>/``; its path, or None when none exists."""
    existing = [path for path in paths if path.exists()]
    if not existing:
        return None
    folder = root.resolve() / BACKUP_DIR / time.strftime("%Y%m%d-%H%M%S")
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = folder.with_name(f"{folder.name.split('~')[0]}~{suffix}")
    folder.mkdir(parents=True)
    for path in existing:
        target = folder / path.relative_to(root.resolve())
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
    return folder


def _put_back(root: Path, folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            target = root.resolve() / path.relative_to(folder)
            target.unlink(missing_ok=True)
            shutil.move(path, target)
