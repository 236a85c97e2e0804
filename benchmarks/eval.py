"""Evaluation benchmark: frames/s of ``recast eval`` (identity, pose, expression, jitter, background).

    python benchmarks/eval.py                 # 96 frames of person_J (1280×720), every frame
    python benchmarks/eval.py --quick         # 32 frames
    python benchmarks/eval.py --frames 200 --every 2 --json results.json

Destination: the first ``--frames`` frames of ``person_J__liveportrait_s32.mp4`` from
../shared/data, or, when that is absent, a synthetic 1280×720 clip of the astronaut photo
drifting across a background. Result: the same frames re-encoded at CRF 32 (a stand-in swap
whose face and background differ only by compression), so the metric table doubles as a sanity
check: retrieval 0 %, small pose/expression error, finite background PSNR. Src faceset: Grace
Hopper (matplotlib's sample photo), one face without a stored embedding. Timing covers the whole
``evaluate`` call (decode both, detect, landmarks, embeddings, metrics) after the models are
loaded; the model load is reported apart.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from matplotlib import cbook
from skimage import data

from recast.atomic import atomic_write_text
from recast.eval.evaluate import evaluate, shared_models
from recast.extract.stage import ExtractOptions, extract
from recast.media.video import iter_frames
from recast.media.video_encode import VideoWriter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import SHARED_DATA, print_table

REAL_CLIP = SHARED_DATA / "videos" / "person_J__liveportrait_s32.mp4"


def synthetic_frames(count: int) -> list[np.ndarray]:
    """The astronaut's head drifting over a gradient, ``(720, 1280, 3)`` uint8 BGR frames."""
    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[20:300, 100:360]
    background = np.zeros((720, 1280, 3), np.uint8)
    background[:] = np.linspace(40, 200, 1280, dtype=np.uint8)[None, :, None]
    frames = []
    for t in range(count):
        frame = background.copy()
        x, y = int(500 + 120 * np.sin(t / 12.0)), int(200 + 40 * np.cos(t / 9.0))
        frame[y:y + face.shape[0], x:x + face.shape[1]] = face
        frames.append(frame)
    return frames


def make_clips(tmp: Path, count: int) -> tuple[Path, Path, str]:
    """Write ``dst.mp4`` (CRF 18) and ``result.mp4`` (CRF 32) of the same frames; returns them and a label."""
    if REAL_CLIP.is_file():
        frames = (frame for index, frame in iter_frames(REAL_CLIP) if index <= count)
        label = REAL_CLIP.name.split("__")[0]
    else:
        frames = iter(synthetic_frames(count))
        label = "synthetic"
    dst, result = tmp / "dst.mp4", tmp / "result.mp4"
    with VideoWriter(dst, 25, crf=18, preset="ultrafast") as dst_writer, \
            VideoWriter(result, 25, crf=32, preset="ultrafast") as result_writer:
        for frame in frames:
            dst_writer.write(frame)
            result_writer.write(frame)
            if dst_writer.frames_written >= count:
                break
    return dst, result, label


def src_faceset(tmp: Path) -> Path:
    """Grace Hopper's face, extracted (256 px, no embedding stored)."""
    photos = tmp / "photos"
    photos.mkdir()
    shutil.copy(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), photos / "00001.jpg")
    extract(photos, tmp / "src_aligned", ExtractOptions(size=256, workers=1))
    return tmp / "src_aligned"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=96, help="frames in the clip (default 96)")
    parser.add_argument("--every", type=int, default=1, help="evaluate every N-th frame")
    parser.add_argument("--quick", action="store_true", help="32 frames")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here as JSON")
    args = parser.parse_args()
    count = 32 if args.quick else args.frames
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        dst, result, label = make_clips(tmp, count)
        src = src_faceset(tmp)
        start = time.perf_counter()
        shared_models()
        load = time.perf_counter() - start
        start = time.perf_counter()
        report = evaluate(result, dst, src, every=args.every)
        seconds = time.perf_counter() - start
        height, width = next(iter_frames(dst))[1].shape[:2]
    summary = report.summary()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    evaluated = summary["frames_evaluated"]
    row = {
        "clip": label, "size": f"{width}x{height}", "frames": report.frames_decoded, "every": args.every,
        "evaluated": evaluated, "model_load_s": round(load, 2), "seconds": round(seconds, 2),
        "frames_per_s": round(report.frames_decoded / seconds, 2),
        "evaluated_frames_per_s": round(evaluated / seconds, 2), "peak_rss_mb": round(rss, 1),
    }
    print("\nEvaluation speed (decode both videos, detect, 2 × landmarks, embeddings, metrics; 1 process):")
    print_table(["clip", "size", "frames", "every", "model load s", "eval s", "frames/s", "evaluated/s",
                 "peak RSS MB"],
                [[row["clip"], row["size"], row["frames"], row["every"], row["model_load_s"], row["seconds"],
                  row["frames_per_s"], row["evaluated_frames_per_s"], row["peak_rss_mb"]]])
    print("\nMetrics of the stand-in swap (CRF 32 re-encode of the destination; expected: same person 0 %,"
          " retrieval 0 %, small errors):")
    print_table(["same person", "retrieval", "src / dst distance", "pose error °", "expression error", "jitter ratio",
                 "background PSNR dB"],
                [[_fmt(summary["identity_same_person"], "{:.1%}"), _fmt(summary["identity_retrieval"], "{:.1%}"),
                  f"{_fmt(summary['src_distance'])} / {_fmt(summary['dst_distance'])}",
                  _fmt(summary["pose_error_deg"], "{:.2f}"), _fmt(summary["expression_error"], "{:.4f}"),
                  _fmt(summary["jitter_ratio"], "{:.2f}"), _fmt(summary["background_psnr_db_mean"], "{:.1f}")]])
    if args.json is not None:
        atomic_write_text(args.json, json.dumps({"benchmark": "eval", "rows": [row], "summary": summary}, indent=1))


def _fmt(value: object, spec: str = "{:.3f}") -> str:
    return "n/a" if value is None else spec.format(value)


if __name__ == "__main__":
    main()
