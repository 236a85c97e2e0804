"""Studio merge-tuner benchmark: preview latency through the HTTP endpoint of a running studio.

    nice -n 10 python benchmarks/studio_merge.py                  # person_J (1280×720), saehd:128
    python benchmarks/studio_merge.py --seconds 2 --requests 100 --model saehd:128

A workspace is made from the first ``--seconds`` of a real 1280×720 clip (frames and faces
extracted by recast) and a freshly initialised ``--model`` (untrained weights: the latency is the
same as a trained model's). The studio runs on a local port (:class:`recast.studio.server.BackgroundStudio`)
and every request goes through HTTP with the token, as the page sends it:

* **cold**: the first preview (the warm worker starts: imports torch, loads the model, merges);
* **setting change**: ``--requests`` previews of one frame, each changing one merge setting (erode,
  blur, colour transfer, mode, …), as a user tuning the current frame does;
* **frame change**: previews of consecutive frames (scrubbing): the model runs on each.

Target (issue #11): ≤ 300 ms median for a 720p frame with a 128 px model on 2 cores.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import SHARED_DATA, print_table

VIDEO = SHARED_DATA / "videos" / "person_J__liveportrait_s32.mp4"
CHANGES: list[dict[str, Any]] = [
    {"erode": 20}, {"blur": 40}, {"color": "none"}, {"erode": -20}, {"blur": 0}, {"color": "lct"},
    {"mode": "hist-match"}, {"sharpen_mode": "gaussian", "sharpen_amount": 30}, {"output_face_scale": 5},
    {"mode": "overlay"}, {"color": "rct"}, {"erode": 0}, {"sharpen_amount": 0}, {"output_face_scale": 0},
]
"""One setting per request (sharpen mode needs its amount), applied cumulatively and cycled."""


def build_workspace(root: Path, video: Path, seconds: float, model: str) -> Path:
    """Frames, aligned faces and an untrained ``model`` (``name:resolution``) in a new workspace."""
    from merge import save_untrained
    from recast.extract.stage import ExtractOptions, extract
    from recast.media.video import extract_frames
    from recast.media.video_encode import cut
    from recast.workspace import init_workspace

    ws = init_workspace(root)
    cut(video, ws.dst_video, 0, seconds)
    extract_frames(ws.dst_video, ws.dst_frames)
    extract(ws.dst_frames, ws.dst_aligned, ExtractOptions(size=256, workers=1))
    save_untrained(ws.model_dir("default"), model)
    return root


def timed(client: httpx.Client, frame: int, settings: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Milliseconds of one preview request, and the worker's info header."""
    started = time.perf_counter()
    response = client.post("/api/merge/preview", json={"frame": frame, "settings": settings})
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed, json.loads(response.headers["x-recast-preview"])


def row(label: str, samples: list[tuple[float, dict[str, Any]]]) -> list[object]:
    times = sorted(ms for ms, _ in samples)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    worker = statistics.median(info["worker_ms"] for _, info in samples)
    return [label, len(times), f"{statistics.median(times):.1f}", f"{p95:.1f}", f"{min(times):.1f}",
            f"{max(times):.1f}", f"{worker:.1f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=VIDEO)
    parser.add_argument("--seconds", type=float, default=1.0, help="length of the clip taken from the video")
    parser.add_argument("--model", default="saehd:128", help="untrained registry model, name:resolution")
    parser.add_argument("--requests", type=int, default=60, help="previews per measured row")
    args = parser.parse_args()

    from recast.studio.app import StudioConfig
    from recast.studio.server import BackgroundStudio, free_port

    with tempfile.TemporaryDirectory(prefix="recast_bench_studio_merge_") as tmp:
        started = time.perf_counter()
        root = build_workspace(Path(tmp) / "ws", args.video, args.seconds, args.model)
        frames = len(list((root / "data_dst").glob("*.png")))
        print(f"workspace: {frames} frames of {args.video.name}, model {args.model} "
              f"(built in {time.perf_counter() - started:.0f} s)\n")
        config = StudioConfig(workspace=root, port=free_port())
        studio = BackgroundStudio(config).start()
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{config.port}", timeout=600,
                              headers={"x-recast-token": config.token}) as client:
                cold = [timed(client, 1, {})]
                settings: dict[str, Any] = {}
                changes = []
                for change in itertools.islice(itertools.cycle(CHANGES), args.requests):
                    settings = {**settings, **change}
                    changes.append(timed(client, 1, settings))
                scrub = [timed(client, 1 + index % frames, settings) for index in range(1, args.requests + 1)]
        finally:
            studio.stop()
    print_table(["preview (1280×720, HTTP, warm worker)", "requests", "median ms", "p95 ms", "min ms", "max ms",
                 "worker median ms"],
                [row("cold: first preview (worker start + model load)", cold),
                 row("setting change, same frame", changes),
                 row("frame change (scrub: model runs)", scrub)])


if __name__ == "__main__":
    main()
