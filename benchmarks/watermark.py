"""Watermark benchmark: speed, PSNR, and detection after re-encoding, downscaling and JPEG.

    python benchmarks/watermark.py                # synthetic clips + every ../shared/data video
    python benchmarks/watermark.py --frames 20    # shorter clips (faster)
    python benchmarks/watermark.py --no-real      # synthetic clips only

Speed: embed / detect milliseconds per 1280x720 frame (person_J when ../shared/data is there,
else a synthetic 720p clip), one process. Robustness: for each clip, ``--frames`` consecutive
frames are marked, then attacked (H.264 libx264 preset medium at CRF 23/28/35, INTER_AREA
downscale to half size with and without CRF 28, JPEG quality 50), and the table gives the share
of frames in which the watermark is found (score >= threshold). ``unmarked`` is the share of
the *unmarked* frames (plain and after CRF 28) that are wrongly reported: it must be 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import skimage.data

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import SHARED_DATA, print_table
from recast.media.video_encode import h264_roundtrip
from recast.provenance.watermark import SCORE_THRESHOLD, detect_watermark, embed_watermark

VIDEOS = SHARED_DATA / "videos"


def half(frames: list[np.ndarray]) -> list[np.ndarray]:
    return [cv2.resize(f, (f.shape[1] // 2, f.shape[0] // 2), interpolation=cv2.INTER_AREA) for f in frames]


def jpeg(frames: list[np.ndarray], quality: int = 50) -> list[np.ndarray]:
    out = []
    for frame in frames:
        _, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
        out.append(cv2.imdecode(data, cv2.IMREAD_COLOR))
    return out


ATTACKS: dict[str, Callable[[list[np.ndarray]], list[np.ndarray]]] = {
    "as is": lambda f: f,
    "crf23": lambda f: h264_roundtrip(f, 23),
    "crf28": lambda f: h264_roundtrip(f, 28),
    "crf35": lambda f: h264_roundtrip(f, 35),
    "half": half,
    "half+crf28": lambda f: h264_roundtrip(f, 28, 0.5),
    "jpeg50": jpeg,
}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def synthetic_clip(n: int, width: int = 640, height: int = 360, pan: int = 0) -> list[np.ndarray]:
    """Face-swap-like clip (astronaut background, a cat face that moves and turns), or with
    ``pan`` > 0 a camera pan over the astronaut at ``pan`` pixels per frame."""
    background = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    face = cv2.cvtColor(skimage.data.chelsea(), cv2.COLOR_RGB2BGR)[50:250, 100:300]
    side = round(height * 200 / 360)
    face = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    big_w = width + pan * n
    big = cv2.resize(background, (big_w, big_w), interpolation=cv2.INTER_CUBIC)
    top = (big_w - height) // 2
    frames = []
    for i in range(n):
        if pan:
            frames.append(big[top:top + height, pan * i:pan * i + width].copy())
            continue
        t = i / max(n - 1, 1)
        frame = big[top:top + height, :width].copy()
        turn = cv2.getRotationMatrix2D((side / 2, side / 2), 10 * np.sin(2 * np.pi * t), 1 + 0.1 * np.sin(np.pi * t))
        moved = cv2.warpAffine(face, turn, (side, side), borderMode=cv2.BORDER_REFLECT)
        x = round(width * 0.31 + width * 0.09 * np.sin(2 * np.pi * t))
        y = (height - side) // 2
        frame[y:y + side, x:x + side] = moved
        frames.append(frame)
    return frames


def video_clip(path: Path, n: int) -> list[np.ndarray]:
    """``n`` consecutive frames starting a third of the way into the video."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    start = max(0, min(len(frames) // 3, len(frames) - n))
    return frames[start:start + n]


def speed(frames: list[np.ndarray]) -> list[object]:
    embed_watermark(frames[0])  # build the cached layout
    t0 = time.perf_counter()
    marked = [embed_watermark(f) for f in frames]
    t1 = time.perf_counter()
    for frame in marked:
        detect_watermark(frame)
    t2 = time.perf_counter()
    n = len(frames)
    h, w = frames[0].shape[:2]
    return [f"{w}x{h}", n, f"{(t1 - t0) / n * 1e3:.1f}", f"{n / (t1 - t0):.0f}", f"{(t2 - t1) / n * 1e3:.1f}",
            f"{n / (t2 - t1):.0f}"]


def robustness(name: str, frames: list[np.ndarray]) -> list[object]:
    marked = [embed_watermark(f) for f in frames]
    psnrs = [psnr(a, b) for a, b in zip(frames, marked, strict=True)]
    false = [detect_watermark(f).found for f in [*frames, *h264_roundtrip(frames, 28)]]
    row: list[object] = [name, f"{min(psnrs):.1f}/{np.mean(psnrs):.1f}", f"{np.mean(false):.0%}"]
    for attack in ATTACKS.values():
        scores = np.array([detect_watermark(f).score for f in attack(marked)])
        row.append(f"{np.mean(scores >= SCORE_THRESHOLD):.0%} ({np.median(scores):.0f})")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40, help="frames per clip (default 40)")
    parser.add_argument("--no-real", action="store_true", help="skip the ../shared/data videos")
    args = parser.parse_args()

    real = sorted(VIDEOS.glob("*.mp4")) if VIDEOS.is_dir() and not args.no_real else []
    hd = VIDEOS / "person_J__liveportrait_s32.mp4"
    frames_720 = video_clip(hd, 60) if hd in real else synthetic_clip(60, 1280, 720)
    print(f"Speed per frame (cv2 threads: {cv2.getNumThreads()})")
    print_table(["size", "frames", "embed ms", "embed fps", "detect ms", "detect fps"], [speed(frames_720)])

    clips = {"synthetic face": synthetic_clip(args.frames), "pan 2 px/frame": synthetic_clip(args.frames, pan=2),
             "pan 8 px/frame": synthetic_clip(args.frames, pan=8)}
    clips.update({p.stem.split("__")[0] + "/" + p.stem.split("__")[1][:14]: video_clip(p, args.frames) for p in real})
    print(f"\nDetection rate (median score), threshold {SCORE_THRESHOLD}, {args.frames} frames per clip")
    headers = ["clip", "PSNR min/mean", "unmarked", *ATTACKS]
    rows = []
    for name, frames in clips.items():
        rows.append(robustness(name, frames))
        print(f"  {name} done", file=sys.stderr, flush=True)
    print_table(headers, rows)


if __name__ == "__main__":
    main()
