"""Extraction benchmark: end-to-end speed, memory on long vs short clips, and landmark smoothing.

    python benchmarks/extract.py            # all three tables
    python benchmarks/extract.py --only speed|memory|smoothing

Speed: a 1280×720 single-face clip (person_J) decoded, detected, landmarked, aligned (512 px
whole face) and written, with dlib-hog and with mtcnn. Memory: peak RSS of the whole process
tree for the 33 s clip (person_H) vs a 5 s clip (person_A, face_3). Smoothing: on person_C and
person_H, mean landmark motion on still segments without / with smoothing, and how closely the
smoothed landmarks follow fast head turns. Needs ../shared/data.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import SHARED_DATA, print_table, python_command, run_measured

VIDEOS = SHARED_DATA / "videos"
_RUN_ONE = """
import json, sys, time
from recast.extract.stage import ExtractOptions, extract
t = time.perf_counter()
s = extract(sys.argv[1], sys.argv[2], ExtractOptions(detector=sys.argv[3], size=512, smooth=sys.argv[4] == "1"))
print(json.dumps({"frames": s.frames, "faces": s.faces, "seconds": time.perf_counter() - t}))
"""


def _extract(video: Path, out: Path, detector: str = "dlib-hog", smooth: bool = True) -> tuple[dict, float]:
    measured = run_measured(python_command("-c", _RUN_ONE, str(video), str(out), detector, "1" if smooth else "0"))
    if measured.returncode != 0:
        raise SystemExit(measured.output)
    return json.loads(measured.output.strip().splitlines()[-1]), measured.peak_rss_mb


def speed(tmp: Path) -> None:
    video = VIDEOS / "person_J__liveportrait_s32.mp4"
    rows = []
    for detector in ("dlib-hog", "mtcnn"):
        result, rss = _extract(video, tmp / f"speed_{detector}", detector)
        fps = result["frames"] / result["seconds"]
        target = 20 if detector == "dlib-hog" else 5
        rows.append([detector, result["frames"], result["faces"], f"{result['seconds']:.1f}", f"{fps:.1f}",
                     f"≥ {target}", "yes" if fps >= target else "NO", f"{rss:.0f}"])
    print("\nExtraction speed, 1280x720, end to end (decode, detect, landmarks, align 512 wf, write):")
    print_table(["detector", "frames", "faces", "seconds", "frames/s", "target", "met", "peak RSS MB"], rows)


def memory(tmp: Path) -> None:
    rows = []
    for label, name in (("5 s", "person_A__videoretalking_face_3.mp4"), ("33 s", "person_H__liveportrait_d6.mp4")):
        result, rss = _extract(VIDEOS / name, tmp / f"mem_{label}")
        rows.append([label, name, result["frames"], f"{rss:.0f}"])
    ratio = float(rows[1][3]) / float(rows[0][3])
    print("\nPeak RSS of the whole extraction process tree (dlib-hog, 512 px):")
    print_table(["clip", "file", "frames", "peak RSS MB"], rows)
    print(f"33 s / 5 s peak RSS = {ratio:.3f} (target ≤ 1.10: {'met' if ratio <= 1.10 else 'NOT met'})")


def smoothing(tmp: Path) -> None:
    from recast.faces.aligned import read_meta
    from recast.faces.smoothing import smooth_track

    rows = []
    for name in ("person_C__liveportrait_d3.mp4", "person_H__liveportrait_d6.mp4"):
        out = tmp / f"smooth_{name}"
        _extract(VIDEOS / name, out, smooth=False)
        metas = [read_meta(p) for p in sorted(out.glob("*_0.jpg"))]
        raw = np.stack([m.source_landmarks for m in metas]).astype(np.float64)
        from recast.media.video import probe

        smooth = smooth_track(raw, probe(VIDEOS / name).fps)
        size = np.ptp(raw[:, :, 0], axis=1).mean()
        centre = raw.mean(axis=1)
        step = np.linalg.norm(np.diff(centre, axis=0), axis=1)
        # Head speed from a ±4-frame window, so detector jitter does not count as motion.
        window = 4
        speed_w = np.array([np.linalg.norm(centre[min(i + window, len(centre) - 1)] - centre[max(i - window, 0)])
                            / (min(i + window, len(centre) - 1) - max(i - window, 0)) for i in range(len(step))])
        still = speed_w < 0.0015 * size
        fast = speed_w >= np.quantile(speed_w, 0.9)
        raw_motion = np.linalg.norm(np.diff(raw, axis=0), axis=2).mean(axis=1)
        smooth_motion = np.linalg.norm(np.diff(smooth, axis=0), axis=2).mean(axis=1)
        lag = np.linalg.norm(smooth[1:] - raw[1:], axis=2).mean(axis=1)
        reduction = 1 - smooth_motion[still].mean() / raw_motion[still].mean()
        rows.append([
            name.split("__")[0], len(raw), int(still.sum()), f"{raw_motion[still].mean():.2f}",
            f"{smooth_motion[still].mean():.2f}", f"{100 * reduction:.0f} %", int(fast.sum()),
            f"{step[fast].mean():.1f}", f"{lag[fast].mean():.2f}", f"{100 * lag[fast].mean() / size:.1f} %",
        ])
    print("\nLandmark smoothing (One-Euro), px per frame. still: head speed < 0.15 % of the face width per frame")
    print("(±4-frame window); fast: the fastest 10 % of frames; lag: smoothed vs raw landmarks on fast frames.")
    print_table(["clip", "frames", "still", "raw motion", "smoothed", "reduction (≥ 50 %)", "fast frames",
                 "head px/frame", "lag px", "lag / face width"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["speed", "memory", "smoothing"])
    args = parser.parse_args()
    if not VIDEOS.is_dir():
        raise SystemExit(f"{VIDEOS} not found: this benchmark needs ../shared/data")
    with tempfile.TemporaryDirectory() as tmp:
        for name, bench in (("speed", speed), ("memory", memory), ("smoothing", smoothing)):
            if args.only in (None, name):
                bench(Path(tmp))


if __name__ == "__main__":
    main()
