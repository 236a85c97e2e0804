"""Live benchmark: a real video file played at its own frame rate as the camera, through ``recast live``.

    python benchmarks/live.py                                 # cpu preset at 640×480, torch and .dfm
    python benchmarks/live.py --sizes 1280x720 --untrained saehd:128:df-ud
    python benchmarks/live.py --model-dir workspace/model/cpu --seconds 8

The video (default ``../shared/data/videos/person_A__sadtalker_…_000.mp4``, 25 fps) is first
scaled and letterboxed to each ``--sizes`` entry and re-encoded (H.264, before any timing). Each
row then plays it in real time through a :class:`recast.live.engine.LiveSession` (detect every 5
frames, landmarks every frame, One-Euro smoothing, swap, dst mask, rct colour transfer, blend,
watermark) into a labelled H.264 recording, for ``--seconds`` seconds, once with the model
folder in PyTorch and once with its exported ``.dfm`` in onnxruntime. It reports delivered
frames/s, frames dropped because the loop was busy, capture → written latency (median, p95), and
whether the recording's frames carry the watermark. The machine's load average is printed with
the table: the cores may be shared.
Targets on 2 cores: 640×480 with the ``cpu`` preset ≥ 25 fps delivered and ≤ 120 ms median
latency; 1280×720 with a 128 px SAEHD ≥ 12 fps.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from recast.cli.merge import prefer_passive_openmp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import SHARED_DATA, print_table
from merge import save_untrained
from recast.live.capture import open_source
from recast.live.engine import LiveOptions, LiveSession, run_live
from recast.live.sinks import FileSink
from recast.media.video import iter_frames, probe
from recast.media.video_encode import VideoWriter
from recast.merge.settings import MergeSettings
from recast.models.loader import load_face_model
from recast.provenance.watermark import detect_watermark
from recast.runtime.threads import plan_threads

DEFAULT_VIDEO = SHARED_DATA / "videos" / "person_A__sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"


def letterboxed(video: Path, size: tuple[int, int], out: Path) -> Path:
    """``video`` scaled to fit ``size`` (width, height), padded black, as a CRF 16 H.264 file."""
    import cv2

    width, height = size
    with VideoWriter(out, probe(video).fps_fraction, crf=16, preset="veryfast") as writer:
        for _, frame in iter_frames(video):
            scale = min(width / frame.shape[1], height / frame.shape[0])
            small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            canvas = np.zeros((height, width, 3), np.uint8)
            y, x = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
            canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
            writer.write(canvas)
    return out


def watermarked_share(recording: Path, samples: int = 10) -> float:
    """Share of sampled frames of ``recording`` in which the watermark is found."""
    frames = [frame for _, frame in iter_frames(recording)]
    picked = frames[:: max(1, len(frames) // samples)][:samples]
    return sum(detect_watermark(frame).found for frame in picked) / max(1, len(picked))


def run_once(model_path: Path, video: Path, seconds: float, out: Path) -> list[object]:
    model = load_face_model(model_path)
    source = open_source(str(video))
    options = LiveOptions(MergeSettings(mask_mode="dst", color="rct", blur=20),
                          max_frames=max(1, round(seconds * source.fps)))
    session = LiveSession(model, source, options)
    stats = run_live(session, [FileSink(out, session.fps, provenance={"model": {"path": str(model_path)}})])
    return [f"{stats.fps:.1f}", f"{stats.dropped}/{stats.captured}", f"{stats.latency_ms(50):.0f}",
            f"{stats.latency_ms(95):.0f}", f"{stats.faces / max(1, stats.delivered):.2f}",
            f"{watermarked_share(out):.0%}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--sizes", nargs="+", default=["640x480"], metavar="WxH")
    parser.add_argument("--model-dir", type=Path, action="append", default=[], help="trained model folder(s)")
    parser.add_argument("--untrained", nargs="+", default=[], metavar="NAME[:RES[:ARCHI]]",
                        help="untrained registry models (inference cost), e.g. cpu saehd:128:df-ud")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds of video per row")
    args = parser.parse_args()
    prefer_passive_openmp()
    from recast.export.dfm import export_model  # torch loads after the OpenMP policy is set

    if not args.video.is_file():
        sys.exit(f"no video at {args.video} (pass --video)")
    untrained = args.untrained or ([] if args.model_dir else ["cpu"])
    print(f"threads: {plan_threads().describe()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models = {str(path): path for path in args.model_dir}
        models.update({spec: save_untrained(root / f"model_{i}", spec) for i, spec in enumerate(untrained)})
        exported = {label: export_model(folder, root / f"model_{i}.dfm").path
                    for i, (label, folder) in enumerate(models.items())}
        rows = []
        for size_text in args.sizes:
            width, height = (int(v) for v in size_text.lower().split("x"))
            video = letterboxed(args.video, (width, height), root / f"input_{size_text}.mp4")
            for index, (label, folder) in enumerate(models.items()):
                for runtime, path in (("torch", folder), ("onnxruntime .dfm", exported[label])):
                    out = root / f"live_{size_text}_{index}_{len(rows)}.mp4"
                    load = os.getloadavg()[0]
                    rows.append([size_text, label, runtime, *run_once(path, video, args.seconds, out), f"{load:.1f}"])
        print(f"input: {args.video.name} at its own frame rate, {args.seconds:.0f} s per row")
        print_table(["input", "model", "runtime", "fps", "dropped", "latency ms p50", "p95", "faces/frame",
                     "watermarked", "load avg"], rows)


if __name__ == "__main__":
    main()
