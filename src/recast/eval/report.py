"""Write an :class:`~recast.eval.evaluate.EvalReport` as ``eval.json`` and ``eval.png``.

The JSON holds the summary and every frame's values (an infinite background PSNR is ``null``
with ``background_identical: true``). The PNG (matplotlib, Agg backend) plots the metrics over
time (with a dst faceset, also the src faceset's coverage of each dst frame) and shows
destination | result | difference crops of the worst and the median frame.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import SupportsFloat, cast

import cv2
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from recast.atomic import atomic_write_bytes, atomic_write_text
from recast.errors import InputError
from recast.eval.evaluate import EvalReport, FrameMetrics, open_frames
from recast.eval.metrics import SAME_PERSON_DISTANCE
from recast.faceset.coverage import CoverageReport

JSON_NAME = "eval.json"
PNG_NAME = "eval.png"
_STRIP_HEIGHT = 200


def write_report(report: EvalReport, out_dir: str | Path, overwrite: bool = False) -> tuple[Path, Path]:
    """Write ``out_dir/eval.json`` and ``out_dir/eval.png``; returns their paths.

    Re-reads (streams) the two inputs once more, up to the worst/median frame, for the image strips.

    Raises:
        InputError: a report already exists there and not ``overwrite``.
    """
    json_path, png_path = check_report_dir(out_dir, overwrite)
    atomic_write_text(json_path, json.dumps(report.to_json(), indent=1, allow_nan=False) + "\n")
    atomic_write_bytes(png_path, render_png(report))
    return json_path, png_path


def check_report_dir(out_dir: str | Path, overwrite: bool = False) -> tuple[Path, Path]:
    """The JSON and PNG paths of a report in ``out_dir``.

    Raises :class:`InputError` when one exists and not ``overwrite`` (or ``out_dir`` is a file).
    Call it before a long evaluation so it does not fail only at the end.
    """
    out_dir = Path(out_dir)
    paths = out_dir / JSON_NAME, out_dir / PNG_NAME
    for path in paths:
        if path.exists() and not overwrite:
            raise InputError(path, "already exists; refusing to overwrite it (--force)")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(out_dir, "is a file, not a folder")
    return paths


def pick_frames(frames: list[FrameMetrics]) -> dict[str, FrameMetrics]:
    """The ``worst`` and ``median`` frames by a combined score (empty when no frame had a face).

    The score of a frame is the mean of its percentile ranks in src identity distance, summed
    pose error and expression error (higher = worse).
    """
    faces = [f for f in frames if f.pose_error is not None]
    if not faces:
        return {}
    columns = np.array([[f.src_distance or 0.0, _pose_sum(f), f.expression or 0.0] for f in faces])
    ranks = columns.argsort(axis=0).argsort(axis=0) / max(len(faces) - 1, 1)
    order = np.argsort(ranks.mean(axis=1), kind="stable")
    return {"worst": faces[int(order[-1])], "median": faces[int(order[len(order) // 2])]}


def render_png(report: EvalReport) -> bytes:
    """The PNG report as bytes: five metric plots over time and two image strips."""
    frames = report.frames
    index = np.array([f.index for f in frames])
    picked = pick_frames(frames)
    strips = _strips(report, picked)
    plots = 5 + (report.coverage is not None)
    figure = Figure(figsize=(12, 16 + 3 * (plots - 5)), dpi=80)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(plots + len(strips), 1, height_ratios=[1] * plots + [1.6] * len(strips))
    summary = report.summary()

    axis = figure.add_subplot(grid[0])
    axis.plot(index, _series(frames, "src_distance"), label="to src centroid")
    axis.plot(index, _series(frames, "dst_distance"), label="to dst centroid")
    axis.axhline(SAME_PERSON_DISTANCE, color="grey", linestyle=":", label=f"same person < {SAME_PERSON_DISTANCE}")
    axis.set_title(f"identity distance (same person as src {_percent(summary['identity_same_person'])}, "
                   f"closer to src {_percent(summary['identity_retrieval'])})")
    axis.legend(loc="upper right", fontsize=8)

    axis = figure.add_subplot(grid[1])
    for column, name in enumerate(("pitch", "yaw", "roll")):
        axis.plot(index, [f.pose_error[column] if f.pose_error else np.nan for f in frames], label=name)
    axis.set_title(f"pose error, degrees (mean {_number(summary['pose_error_deg'])})")
    axis.legend(loc="upper right", fontsize=8)

    axis = figure.add_subplot(grid[2])
    for name in ("expression", "eyes", "mouth"):
        axis.plot(index, _series(frames, name), label=name)
    axis.set_title(f"expression error, inter-ocular units (mean {_number(summary['expression_error'])})")
    axis.legend(loc="upper right", fontsize=8)

    axis = figure.add_subplot(grid[3])
    axis.plot(index, _series(frames, "motion_result"), label="result")
    axis.plot(index, _series(frames, "motion_dst"), label="destination")
    axis.set_title(f"landmark motion per evaluated frame, px (ratio {_number(summary['jitter_ratio'])})")
    axis.legend(loc="upper right", fontsize=8)

    axis = figure.add_subplot(grid[4])
    psnr = _series(frames, "background_psnr")
    finite = np.where(np.isinf(psnr), np.nan, psnr)
    axis.plot(index, finite, label="PSNR outside the face")
    identical = np.isinf(psnr)
    if identical.any():
        top = np.nanmax(finite) if np.isfinite(finite).any() else 60.0
        axis.plot(index[identical], np.full(int(identical.sum()), top), "^", label="identical (∞)")
    axis.set_title("background PSNR, dB")
    axis.set_xlabel("frame")
    axis.legend(loc="lower right", fontsize=8)

    if report.coverage is not None:
        _coverage_panel(figure.add_subplot(grid[5]), report.coverage)

    for row, (label, (frame, image)) in enumerate(strips.items()):
        axis = figure.add_subplot(grid[plots + row])
        axis.imshow(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        axis.set_axis_off()
        axis.set_title(f"{label} frame {frame.index}: destination | result | difference ×4  "
                       f"(src dist {_number(frame.src_distance)}, pose Σ|Δ| {_number(_pose_sum(frame))}°, "
                       f"expr {_number(frame.expression)})")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _coverage_panel(axis: Axes, coverage: CoverageReport) -> None:
    """Per dst face: the nearest src face's largest feature gap in tolerance units (> 1 = uncovered)."""
    x = np.array([np.nan if f is None else f for f in coverage.dst_frames], dtype=np.float64)
    if np.isnan(x).any():
        x = np.arange(1, len(coverage.nearest) + 1, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    axis.plot(x[order], coverage.nearest[order], ".", markersize=3, label="nearest src face")
    axis.axhline(1.0, color="grey", linestyle=":", label="close enough (1 tolerance)")
    per_feature = ", ".join(f"{f.name} {100 * f.covered:.0f} %" for f in coverage.features.values())
    axis.set_title(f"src coverage of the dst faces {100 * coverage.score:.0f} % ({per_feature})")
    axis.set_xlabel("dst frame")
    axis.legend(loc="upper right", fontsize=8)


def _strips(report: EvalReport, picked: dict[str, FrameMetrics]) -> dict[str, tuple[FrameMetrics, np.ndarray]]:
    """``label → (frame, destination | result | difference image)`` for the picked frames."""
    wanted = {frame.index for frame in picked.values()}
    if not wanted:
        return {}
    images: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    result_frames, _ = open_frames(report.result)
    dst_frames, _ = open_frames(report.dst)
    for (index, result_frame), (_, dst_frame) in zip(result_frames, dst_frames, strict=False):
        if index in wanted:
            images[index] = (dst_frame, result_frame)
        if index >= max(wanted):
            break
    strips = {}
    for label, frame in picked.items():
        if frame.index in images and frame.face_box is not None:
            strips[label] = (frame, _strip(*images[frame.index], frame.face_box))
    return strips


def _strip(dst: np.ndarray, result: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """Crops around ``box`` (grown by half its size) of dst, result and 4 × their difference, side by side."""
    left, top, right, bottom = box
    grow_x, grow_y = 0.5 * (right - left), 0.5 * (bottom - top)
    height, width = dst.shape[:2]
    x0, x1 = max(0, int(left - grow_x)), min(width, int(math.ceil(right + grow_x)))
    y0, y1 = max(0, int(top - grow_y)), min(height, int(math.ceil(bottom + grow_y)))
    crops = [dst[y0:y1, x0:x1], result[y0:y1, x0:x1]]
    difference = cv2.absdiff(crops[0], crops[1]).astype(np.float32) * 4.0
    crops.append(np.clip(difference, 0, 255).astype(np.uint8))
    scale = _STRIP_HEIGHT / max(y1 - y0, 1)
    size = (max(1, round((x1 - x0) * scale)), _STRIP_HEIGHT)
    return np.hstack([cv2.resize(crop, size, interpolation=cv2.INTER_AREA) for crop in crops])


def _series(frames: list[FrameMetrics], name: str) -> np.ndarray:
    return np.array([np.nan if getattr(f, name) is None else getattr(f, name) for f in frames], dtype=np.float64)


def _pose_sum(frame: FrameMetrics) -> float:
    """Summed pose error of a frame that had a face."""
    assert frame.pose_error is not None
    return sum(frame.pose_error)


def _number(value: object) -> str:
    return "n/a" if value is None else f"{float(cast(SupportsFloat, value)):.3g}"


def _percent(value: object) -> str:
    return "n/a" if value is None else f"{100 * float(cast(SupportsFloat, value)):.1f} %"
