"""The built-in demo: two short sample clips made from public-domain portraits, swapped end to end.

The portraits ship with recast's dependencies — Grace Hopper (U.S. Navy photo, in matplotlib's
sample data) and the NASA astronaut portrait (in scikit-image's data) — so the demo needs no
download. The clips are the still portraits drifting and turning slightly, so a demo-sized model
learns them in minutes; a real swap needs minutes of footage of each consenting person and an
hour or more of training.

:func:`run_demo` runs :func:`recast.pipeline.run.run` on them, then shows the result: a
before/after image and a side-by-side video (:mod:`recast.pipeline.showcase`) next to it, and
``recast eval``'s figures (:mod:`recast.eval`).

>>> summary = run_demo(DemoOptions(workspace="demo_workspace"))
>>> summary.before_after, summary.evaluation["identity_same_person"]
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from recast.atomic import atomic_write_bytes
from recast.errors import InputError, RecastError
from recast.media.images import read_image
from recast.media.video_encode import VideoWriter
from recast.pipeline.run import ProgressCallback, RunOptions, RunSummary, StageCallback, run
from recast.pipeline.showcase import before_after_image, frame_at, write_side_by_side

DEMO_MODEL = "cpu"
"""The registry preset the demo trains, with :data:`DEMO_MODEL_CONFIG` and :data:`DEMO_TRAIN_SETTINGS`."""
DEMO_MODEL_CONFIG: dict[str, Any] = {}
"""Model config overrides for the sample clips (none: the 64 px ``cpu`` preset)."""
DEMO_TRAIN_SETTINGS: dict[str, Any] = {"lr": 8e-4}
"""Training settings for the sample clips: 4× the ``cpu`` preset's learning rate, which the near-still
sample portraits tolerate. Measured on the 2-core machine, 600 iterations at lr 2e-4 left a smeared
face (dlib distance to the source 0.53); at 5e-4 the glasses and face shape came through (0.45), and
8e-4 for 900 iterations kept that with a sharper face (0.45, sharpness 0.22)."""


def portrait(name: str) -> tuple[np.ndarray, tuple[float, float], float]:
    """A sample portrait as ``(image BGR uint8, face centre (x, y), face width px)``."""
    if name == "hopper":
        import matplotlib.cbook

        path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        return read_image(path), (268.0, 245.0), 215.0
    if name == "astronaut":
        try:
            from skimage import data
        except ImportError:
            raise RecastError("the demo needs scikit-image (pip install scikit-image)") from None
        return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (222.0, 126.0), 87.0
    raise RecastError(f"unknown sample portrait {name!r}")


def sample_frames(name: str, count: int = 60, size: int = 320) -> list[np.ndarray]:
    """Frames of a sample portrait drifting and turning slightly; the face fills about 40 % of the width."""
    image, (cx, cy), face_width = portrait(name)
    zoom = 0.4 * size / face_width
    frames = []
    for t in range(count):
        angle = 5.0 * np.sin(t / 7.0)
        mat = cv2.getRotationMatrix2D((cx, cy), angle, zoom * (1.0 + 0.04 * np.sin(t / 11.0)))
        mat[:, 2] += np.array([size / 2 - cx + 6.0 * np.sin(t / 5.0), size / 2.2 - cy + 4.0 * np.cos(t / 6.0)])
        frames.append(cv2.warpAffine(image, mat, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT))
    return frames


def write_sample_videos(folder: str | Path, count: int = 60, fps: int = 24) -> tuple[Path, Path]:
    """Write ``sample_src.mp4`` (Grace Hopper) and ``sample_dst.mp4`` (the astronaut) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, file_name in (("hopper", "sample_src.mp4"), ("astronaut", "sample_dst.mp4")):
        path = folder / file_name
        if not path.exists():
            with VideoWriter(path, fps, crf=16, preset="fast") as writer:
                for frame in sample_frames(name, count):
                    writer.write(frame)
        paths.append(path)
    return paths[0], paths[1]


def set_aside_demo_work(workspace: str | Path) -> Path | None:
    """Move a previous demo's ``work`` folder (faces, model, merged frames) into ``work_trash/<n>``.

    The next demo run then starts from scratch (nothing is deleted). Returns where it went, or
    None when there was no previous work.
    """
    work = Path(workspace) / "work"
    if not work.exists():
        return None
    trash = Path(workspace) / "work_trash"
    trash.mkdir(exist_ok=True)
    number = 1
    while (trash / str(number)).exists():
        number += 1
    os.replace(work, trash / str(number))
    return trash / str(number)


@dataclass
class DemoOptions:
    """Options of :func:`run_demo`.

    Attributes:
        workspace: folder for the sample clips (``samples/``), the pipeline's files (``work/``),
            the result and its showcase.
        minutes: training time budget; iterations: stop training at this iteration instead.
        frames: frames per sample clip (24 fps).
        precision, threads: as for :class:`recast.pipeline.run.RunOptions`.
        evaluate_every: evaluate every N-th frame of the result.
        force: make the demo again (the previous ``work/`` moves to ``work_trash/``; the result
            and its showcase are replaced).
    """

    workspace: Path = Path("demo_workspace")
    minutes: float = 3.5
    iterations: int | None = None
    frames: int = 60
    precision: str = "auto"
    threads: int | None = None
    evaluate_every: int = 2
    force: bool = False


@dataclass
class DemoSummary:
    """What :func:`run_demo` made: the pipeline's summary, the result and its showcase, eval figures.

    ``evaluation`` is :meth:`recast.eval.EvalReport.summary` of the result (identity, pose,
    sharpness, …); ``eval_dir`` holds its JSON and plot.
    """

    run: RunSummary
    result: Path
    before_after: Path
    side_by_side: Path
    eval_dir: Path
    evaluation: dict[str, object] = field(default_factory=dict)
    moved_work: Path | None = None


def run_demo(
    options: DemoOptions, on_stage: StageCallback | None = None, on_progress: ProgressCallback | None = None,
    on_train_event: Callable[[object], None] | None = None,
) -> DemoSummary:
    """Swap the sample clips end to end, then write the before/after image, the side-by-side video
    and the evaluation next to the result.

    Raises:
        InputError: the workspace is a file, or the result exists and not ``options.force``.
    """
    from recast.eval import evaluate
    from recast.eval.report import write_report

    workspace = Path(options.workspace)
    if workspace.exists() and not workspace.is_dir():
        raise InputError(workspace, "exists and is not a folder")
    output = workspace / "result.mp4"
    if output.exists() and not options.force:
        raise InputError(output, "already exists; pass --force to make the demo again")
    moved = set_aside_demo_work(workspace) if options.force else None
    src, dst = write_sample_videos(workspace / "samples", count=options.frames)
    summary = run(RunOptions(
        src=src, dst=dst, output=output, workspace=workspace / "work", model=DEMO_MODEL,
        model_config=DEMO_MODEL_CONFIG, train_settings=DEMO_TRAIN_SETTINGS, minutes=options.minutes,
        iterations=options.iterations, device="auto", precision=options.precision, threads=options.threads,
        overwrite=options.force,
    ), on_stage=on_stage, on_progress=on_progress, on_train_event=on_train_event)
    if on_stage is not None:
        on_stage("showcase")
    middle = max(1, options.frames // 2)
    assert summary.encode.mask_output is not None
    image = before_after_image(frame_at(src, middle), frame_at(dst, middle), frame_at(output, middle),
                               frame_at(summary.encode.mask_output, middle))
    before_after = workspace / "result_before_after.png"
    atomic_write_bytes(before_after, cv2.imencode(".png", image)[1].tobytes())
    side_by_side = write_side_by_side(dst, output, workspace / "result_side_by_side.mp4", overwrite=True).output
    if on_stage is not None:
        on_stage("evaluate")
    report = evaluate(output, dst, summary.workspace.src_aligned, every=options.evaluate_every)
    eval_dir = workspace / "result_eval"
    write_report(report, eval_dir, overwrite=True)
    return DemoSummary(summary, output, before_after, side_by_side, eval_dir, report.summary(), moved)
