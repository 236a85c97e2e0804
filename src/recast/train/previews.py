"""Preview images written while training: a sample grid and a loss curve (PNG, written atomically).

Grid columns, one row per sample: src, src reconstruction, dst, dst reconstruction, src→dst swap,
learned masks (src-decoder mask on dst, dst mask). All images are BGR uint8.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import torch

from recast.atomic import atomic_write_bytes, atomic_write_text
from recast.models.base import FaceSwapModel
from recast.models.growth import resize
from recast.train.options import PREVIEW_COLUMNS

COLUMNS = PREVIEW_COLUMNS


def _to_image(t: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) float in [0, 1] → (N, H, W, 3) uint8 BGR (1-channel masks repeated)."""
    arr = t.detach().float().clamp(0, 1).cpu().numpy().transpose(0, 2, 3, 1)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return (arr * 255 + 0.5).astype(np.uint8)


@torch.no_grad()
def preview_grid(model: FaceSwapModel, src: torch.Tensor, dst: torch.Tensor, rows: int = 4) -> np.ndarray:
    """Grid image (rows·S, 7·S, 3) uint8 BGR from target faces ``src``, ``dst`` (N, 3, R, R); S is the size the
    model trains at now (:attr:`~recast.models.base.FaceSwapModel.train_resolution`)."""
    was_training = model.training
    model.eval()
    src, dst = src[:rows], dst[:rows]
    n = min(len(src), len(dst))
    src, dst = src[:n], dst[:n]
    out = model(src, dst)
    face, swap_mask, dst_mask = model.swap(dst)
    model.train(was_training)
    size = out.pred_src_src.shape[-1]  # a growing model's current size
    columns = [resize(c, size) for c in (src, out.pred_src_src, dst, out.pred_dst_dst, face, swap_mask, dst_mask)]
    images = [_to_image(c) for c in columns]
    return np.vstack([np.hstack([col[i] for col in images]) for i in range(n)])


def loss_curve_png(history: dict[str, list[float]], width_px: int = 900, height_px: int = 400,
                   phases: dict[str, int] | None = None) -> bytes:
    """PNG bytes of the loss curves (every history key but ``iteration``, e.g. src and dst; log scale when
    positive; raw and smoothed) using matplotlib's Agg; ``phases`` (a training recipe's phase → the iteration
    it began at) are marked by labelled vertical lines."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_px / 100, height_px / 100), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    iters = np.asarray(history.get("iteration", []), dtype=np.float64)
    curves = [key for key in history if key != "iteration"]
    for key, colour in zip(curves, ("tab:orange", "tab:blue", "tab:green", "tab:red"), strict=False):
        values = np.asarray(history.get(key, []), dtype=np.float64)
        if len(values) == 0:
            continue
        ax.plot(iters, values, color=colour, alpha=0.25, linewidth=0.8)
        window = max(1, len(values) // 50)
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        ax.plot(iters[window - 1:], smooth, color=colour, label=key, linewidth=1.6)
    for name, begun in (phases or {}).items():
        ax.axvline(begun, color="grey", linestyle="--", linewidth=0.8)
        ax.annotate(name, (begun, 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
                    textcoords="offset points", color="dimgrey", fontsize=8)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    if len(iters) and all(np.all(np.asarray(history[key]) > 0) for key in curves):
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def write_previews(folder: Path, iteration: int, grid: np.ndarray, history: dict[str, list[float]],
                   size: int | None = None, phases: dict[str, int] | None = None) -> None:
    """Write preview.png, history/<iteration>.png, loss.png and loss_history.json into ``folder``;
    with ``size`` (a growing model's current face size) also preview_<size>px.png, the latest of that size;
    with ``phases`` (a training recipe's phase → the iteration it began at) the phases are marked on
    loss.png and kept under ``phases`` in loss_history.json (the last one is the grid's phase)."""
    ok, encoded = cv2.imencode(".png", grid)
    if ok:
        data = encoded.tobytes()
        atomic_write_bytes(folder / "preview.png", data)
        if size is not None:
            atomic_write_bytes(folder / f"preview_{size}px.png", data)
        atomic_write_bytes(folder / "history" / f"{iteration:09d}.png", data)
    atomic_write_bytes(folder / "loss.png", loss_curve_png(history, phases=phases))
    atomic_write_text(folder / "loss_history.json", json.dumps({**history, "phases": phases} if phases else history))
