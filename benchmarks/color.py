"""Colour transfer on dark regions: does a mode tint the swapped face's darks (brows, eye sockets)?

    python benchmarks/color.py MODEL_DIR DST_ALIGNED [--faces 120] [--json out.json]

For up to ``--faces`` dst faces (evenly spaced), as the merger does: crop at the model's size and
face type, swap, take the face mask (the model's dst mask ≥ 0.5 inside the landmark hull), and
recolour the swapped face with each colour transfer fitted on the masked pixels. Measured in CIE
L*a*b* inside the mask, against the dst crop (the footage the face goes into):

* dark Δa*, Δb*: mean a* and b* of the result's darkest 15 % of face pixels minus the same for the
  dst crop's darkest 15 % (brows, lashes, eye sockets, nostrils). Negative Δb* is a blue cast,
  positive Δa* a red one; 0 = the darks carry the footage's tint;
* dark ΔL*: the same for lightness (negative: darker darks);
* dark chroma: mean C* of those result pixels ÷ the dst's (1 = as saturated as the footage's darks);
* face ΔE: CIE76 distance between the mean L*a*b* of the whole masked face, result vs dst;
* ms/face of the transfer alone.

Medians over faces. Use a trained model (the figures mean nothing for an untrained one) and say which.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import print_table
from recast.color import COLOR_TRANSFERS, transfer_color
from recast.faces.alignment import transform_points
from recast.faces.crop import crop_matrix
from recast.faces.masks import hull_mask
from recast.faceset.source import open_faceset
from recast.models.inference import FaceSwapper
from recast.train.samples import crop_face

DARK_SHARE = 0.15
HEADERS = ["mode", "dark Δa*", "dark Δb*", "dark ΔL*", "dark chroma", "face ΔE", "ms/face"]


def dark_stats(bgr: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean L*a*b* of the darkest :data:`DARK_SHARE` of the masked pixels and of all of them.

    ``bgr``: (R, R, 3) float32 BGR in [0, 1]; ``mask``: (R, R) bool. Returns two (3,) float64 arrays.
    """
    lab = cv2.cvtColor(bgr.astype(np.float32), cv2.COLOR_BGR2LAB)[mask].astype(np.float64)
    dark = lab[lab[:, 0] <= np.quantile(lab[:, 0], DARK_SHARE)]
    return dark.mean(axis=0), lab.mean(axis=0)


def chroma(lab: np.ndarray) -> float:
    return float(np.hypot(lab[1], lab[2]))


def measure(model_dir: Path, dst: Path, faces: int) -> list[list[object]]:
    """One row per colour mode (``none`` first): medians of the figures in the module docstring."""
    swapper = FaceSwapper.load(model_dir)
    res = swapper.resolution
    faceset = open_faceset(dst)
    picks = np.unique(np.linspace(0, len(faceset) - 1, min(faces, len(faceset))).round().astype(int))
    modes = ["none", *COLOR_TRANSFERS]
    figures: dict[str, list[list[float]]] = {mode: [] for mode in modes}
    for index in picks:
        face = faceset[int(index)]
        crop = crop_face(face.image, face.meta.landmarks, face.meta.face_type, res, swapper.face_type)
        mat = crop_matrix(face.meta.landmarks, face.image.shape[1], face.meta.face_type, res, swapper.face_type)
        hull = hull_mask(transform_points(np.asarray(face.meta.landmarks, np.float64), mat), (res, res)) > 0.5
        predicted, _, dst_mask = swapper.swap(crop[None])
        mask = hull & (dst_mask[0] >= 0.5)
        if mask.sum() < 50:
            continue
        dst_dark, dst_face = dark_stats(crop, mask)
        for mode in modes:
            started = time.perf_counter()
            out = transfer_color(mode, predicted[0], crop, mask.astype(np.float32))
            ms = 1000 * (time.perf_counter() - started)
            dark, whole = dark_stats(out, mask)
            figures[mode].append([dark[1] - dst_dark[1], dark[2] - dst_dark[2], dark[0] - dst_dark[0],
                                  chroma(dark) / max(chroma(dst_dark), 1e-6),
                                  float(np.linalg.norm(whole - dst_face)), ms])
    rows = []
    for mode in modes:
        medians = np.median(np.asarray(figures[mode]), axis=0)
        rows.append([mode, *(f"{value:+.2f}" for value in medians[:3]), f"{medians[3]:.2f}", f"{medians[4]:.2f}",
                     f"{medians[5]:.1f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("dst", type=Path, help="the dst aligned faces")
    parser.add_argument("--faces", type=int, default=120)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args()
    rows = measure(args.model_dir, args.dst, args.faces)
    print_table(HEADERS, rows)
    if args.json:
        args.json.write_text(json.dumps([dict(zip(HEADERS, row, strict=True)) for row in rows], indent=1))


if __name__ == "__main__":
    main()
