"""Merge benchmark: frames/s of the merge stage on synthetic 1280×720 destination frames.

    python benchmarks/merge.py                      # pipeline only (an image-function "model")
    python benchmarks/merge.py --model-dir M        # with a trained model (FaceSwapper)
    python benchmarks/merge.py --untrained saehd:128 cpu:128   # untrained 128 px models (inference cost)
    python benchmarks/merge.py --frames 96 --profile
    python benchmarks/merge.py --quick              # make bench: 24 frames, saehd:128 and cpu:128
    python benchmarks/merge.py --dst-video ../shared/data/videos/person_J__liveportrait_s32.mp4 --untrained cpu:128 \
        --xseg xseg-cpu                             # also an xseg-dst mask mode (XSeg folder or untrained preset)
    python benchmarks/merge.py --dst-video ../shared/data/videos/person_J__liveportrait_s32.mp4 --model-dir M \
        --enhance M_enhancer                        # also merge --enhance (an enhancer trained for model M)
    python benchmarks/merge.py --dst-video ../shared/data/videos/person_J__liveportrait_s32.mp4 --untrained saehd:128
    python benchmarks/merge.py --end-to-end --dst-video ../shared/data/videos/person_J__liveportrait_s32.mp4 \
        --untrained cpu:128                         # merge + encode: PNG folders vs streaming

Destination: ``--frames`` frames of a photo face moving and turning across a 1280×720
background, one face per frame, with aligned-face metadata as extraction writes it, both as PNG
files (DeepFaceLab's workflow) and as an H.264 video (what ``recast run`` merges from). Each
configuration merges all frames with ``workers=2`` (the whole stage: read/decode, crop, model,
colour transfer, mask, blend, write PNG frame + mask) and prints frames/s. The first "model" is
always a colour inversion of the crop at 128 px, so its numbers measure the merger itself;
``--model-dir`` / ``--untrained`` models include inference, and a first table shows
the model's forward pass alone (batch 8, both cores) in float32 and, where the CPU computes it
natively, bfloat16: ms per face, GFLOP/s, and how far the bf16 output is from the fp32 one in
8-bit levels. ``--profile`` adds a per-step breakdown of one face on one thread.
Target: ≥ 15 frames/s on 2 cores for overlay + rct + erode/blur with a 128 px model.

``--end-to-end`` times, instead of the tables above, the whole way from the destination video to
the labelled result (``recast run``'s merge settings, result + mask video, audio, sidecar) for
each model: merging to PNG folders then ``encode_video`` (the ``--keep-frames`` path), against
``merge_to_video`` streaming into the encoder with x264's default ``medium`` preset and with
``--preset`` (default ``veryfast``). Goals (issue #10): streaming ≥ 1.5x the PNG path's frames/s,
and ≥ 20 frames/s with the 128 px ``cpu`` model on 2 cores. "CPU ms/frame" is the process's CPU
time (every thread: workers, model, encoder) per frame, which other processes on the machine
disturb less than frames/s: 2000 / it bounds the frames/s two idle cores could give.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from recast import color
from recast.cli.merge import prefer_passive_openmp
from recast.faces.aligned import write_face
from recast.faces.alignment import MEAN_FACE_68, transform_matrix, transform_points
from recast.faces.facetype import FaceType
from recast.faces.metadata import FaceMeta
from recast.media.images import FAST_PNG_PARAMS
from recast.media.video_encode import VideoWriter
from recast.merge import blend, maskops
from recast.merge.settings import MergeSettings
from recast.merge.stage import merge, merge_to_video
from recast.pipeline.run import RUN_MERGE_SETTINGS
from recast.provenance.label import mark_frame
from recast.provenance.writer import EncodeOptions, encode_video

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import print_table

SIZE = (1280, 720)
MODEL_CONFIGS = ("overlay rct erode20 blur40", "seamless rct blur20")
"""Configurations timed with a real model (the target one, and seamless reported separately)."""
CONFIGS = {
    "overlay rct erode20 blur40": MergeSettings(mode="overlay", mask_mode="dst", color="rct", erode=20, blur=40),
    "overlay none": MergeSettings(mode="overlay", mask_mode="dst", color="none"),
    "seamless rct blur20": MergeSettings(mode="seamless", mask_mode="dst", color="rct", blur=20),
}
XSEG_CONFIGS = {
    "overlay rct erode20 blur40 xseg-dst": MergeSettings(mode="overlay", mask_mode="xseg-dst", color="rct", erode=20,
                                                         blur=40),
}
"""Configurations timed with ``--xseg`` (the XSeg model runs on every destination face)."""
ENHANCE_CONFIG = "overlay rct erode20 blur40 +enhance"
"""Timed with ``--enhance``: the first model configuration, faces cut at the enhancer's size and enhanced."""


class InvertModel:
    """A 128 px whole-face "model" that inverts the crop's colours (no inference cost)."""

    resolution = 128
    face_type = FaceType.WHOLE
    has_learned_mask = True
    is_amp = False

    def swap(
        self, faces: np.ndarray, morph: float = 1.0, masks: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ones = np.ones(faces.shape[:3], np.float32)
        return 1.0 - faces, ones, ones


def _landmarks(index: int) -> np.ndarray:
    angle = np.deg2rad(8.0 * np.sin(index / 7.0))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([640.0 + 200.0 * np.sin(index / 15.0), 340.0 + 30.0 * np.cos(index / 11.0)])
    return (MEAN_FACE_68 - 0.5) @ rotation.T * 150.0 + centre  # ~320 px whole-face crop


def build_destination(root: Path, count: int) -> tuple[Path, Path, Path]:
    """Write ``count`` 720p frames (PNG files and an H.264 video) and their aligned faces under ``root``.

    Returns ``(frames folder, video file, aligned folder)``.
    """
    frames, aligned, video = root / "frames", root / "aligned", root / "dst.mp4"
    frames.mkdir()
    aligned.mkdir()
    background = cv2.resize(data.coffee()[..., ::-1], SIZE)
    face = data.astronaut()[..., ::-1]
    face_points = (MEAN_FACE_68 - 0.5) * 140.0 + np.array([230.0, 150.0])  # roughly the astronaut's face
    for index in range(1, count + 1):
        points = _landmarks(index)
        to_frame = cv2.estimateAffinePartial2D(face_points.astype(np.float32), points.astype(np.float32))[0]
        layer = cv2.warpAffine(face, to_frame, SIZE)
        alpha = cv2.warpAffine(np.ones(face.shape[:2], np.float32), to_frame, SIZE)[..., None]
        frame = (background * (1 - alpha) + layer * alpha).astype(np.uint8)
        name = f"{index:05d}.png"
        cv2.imwrite(str(frames / name), frame)
        mat = transform_matrix(points, 256, FaceType.WHOLE)
        meta = FaceMeta(
            face_type=FaceType.WHOLE, landmarks=transform_points(points, mat).astype(np.float32),
            source_landmarks=points.astype(np.float32), source_rect=(0.0, 0.0, 1.0, 1.0),
            source_filename=name, source_size=SIZE, image_to_face_mat=mat,
        )
        write_face(aligned / f"{index:05d}_0.jpg", cv2.warpAffine(frame, mat, (256, 256)), meta)
    with VideoWriter(video, 25) as writer:
        for path in sorted(frames.iterdir()):
            writer.write(cv2.imread(str(path)))
    return frames, video, aligned


def real_destination(root: Path, video: Path) -> tuple[Path, Path, Path]:
    """A real destination video's PNG frames and aligned faces (extracted by recast) under ``root``.

    Returns ``(frames folder, video file, aligned folder)``; the run's frame count is the number
    of frames with one face. Frames with no or several faces are dropped from both.
    """
    from recast.extract.stage import ExtractOptions, extract
    from recast.media.video import extract_frames

    frames, aligned = root / "frames", root / "aligned"
    extract_frames(video, frames)
    extract(video, aligned, ExtractOptions(size=256))
    return frames, video, aligned


def run_configs(models: dict[str, object], sources: dict[str, Path], aligned: Path, root: Path, count: int,
                xseg: object | None = None, enhance: Path | None = None) -> None:
    """Merge every frame for each model × configuration × destination source; print frames/s."""
    rows = []
    configs = {**CONFIGS, **XSEG_CONFIGS, ENHANCE_CONFIG: CONFIGS[MODEL_CONFIGS[0]]}
    for label, model in models.items():
        trained = not isinstance(model, InvertModel)
        names = list(MODEL_CONFIGS) if trained else list(CONFIGS)
        names += list(XSEG_CONFIGS) if xseg is not None else []
        names += [ENHANCE_CONFIG] if enhance is not None and trained else []
        for name in names:
            for source, frames in sources.items():
                out = root / f"out_{len(rows)}"
                started = time.perf_counter()
                summary = merge(model, frames, aligned, out, configs[name], workers=2,
                                xseg=xseg if name in XSEG_CONFIGS else None,
                                enhance=enhance if name == ENHANCE_CONFIG else None)
                seconds = time.perf_counter() - started
                assert summary.faces_merged == count, summary
                frames_done = summary.frames_merged + summary.frames_passed_through
                rows.append([label, name, source, frames_done, f"{seconds:.2f}", f"{frames_done / seconds:.1f}"])
    print_table(["model", "config", "destination", "frames", "seconds", "frames/s"], rows)


def end_to_end(models: dict[str, object], video: Path, aligned: Path, root: Path, fast_preset: str) -> None:
    """Destination video → labelled result + mask video: PNG folders + encode vs streaming, each at the
    default x264 preset and at ``fast_preset``; print frames/s and the ratio to the PNG path at the same preset."""
    rows = []
    for label, model in models.items():
        for preset in ("medium", fast_preset):
            png_rate = None
            for path in ("png folders + encode", "stream"):
                out = root / f"e2e_{len(rows)}"
                started, cpu_started = time.perf_counter(), time.process_time()
                options = EncodeOptions(audio_from=video, preset=preset)
                if path.startswith("png"):
                    merge(model, video, aligned, out / "merged", RUN_MERGE_SETTINGS)
                    options.mask_dir = out / "merged_mask"
                    encoded = encode_video(out / "merged", out / "result.mp4", options)
                else:
                    encoded = merge_to_video(model, video, aligned, out / "result.mp4", RUN_MERGE_SETTINGS,
                                             options).video
                seconds = time.perf_counter() - started
                cpu_ms = (time.process_time() - cpu_started) / encoded.frames * 1000
                rate = encoded.frames / seconds
                png_rate = png_rate or rate
                megabytes = (encoded.output.stat().st_size) / 1e6
                rows.append([label, f"{path} ({preset})", encoded.frames, f"{seconds:.1f}", f"{rate:.1f}",
                             f"{rate / png_rate:.2f}", f"{cpu_ms:.0f}", f"{megabytes:.1f}"])
    print_table(["model", "path (x264 preset)", "frames", "seconds", "frames/s merge+encode", "ratio to png",
                 "CPU ms/frame", "result MB"], rows)


def forward_table(model_dirs: dict[str, Path], device: str) -> None:
    """Model forward alone, batch 8 of 8-bit faces: fp32 vs bf16 speed and output difference."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from recast.models.inference import FaceSwapper
    from recast.runtime.precision import choose_precision

    auto = choose_precision("auto", torch.device(device), "infer")
    precisions = ["fp32"] + (["auto"] if auto.dtype is not None else [])
    rows = []
    for label, model_dir in model_dirs.items():
        reference = None
        for precision in precisions:
            swapper = FaceSwapper.load(model_dir, device=device, precision=precision)
            r = swapper.resolution
            faces = np.random.default_rng(0).integers(0, 256, (8, r, r, 3)).astype(np.float32) / 255
            with FlopCounterMode(display=False) as counter:
                swapper.swap(faces[:1])
            swapper.swap(faces)
            started = time.perf_counter()
            repeats = 3
            for _ in range(repeats):
                output = swapper.swap(faces)[0]
            ms = (time.perf_counter() - started) / repeats / 8 * 1000
            gflop = counter.get_total_flops() / 1e9
            if reference is None:
                reference, diff = output, "-"
            else:
                levels = np.abs(output - reference) * 255
                diff = f"{levels.mean():.2f} / {np.percentile(levels, 99.9):.1f}"
            rows.append([label, swapper.precision.name, f"{gflop:.2f}", f"{ms:.1f}", f"{gflop / ms * 1000:.0f}", diff])
    print_table(["model", "precision", "GFLOP/face", "ms/face", "GFLOP/s", "vs fp32: mean / p99.9 levels"], rows)


def profile(frames: Path) -> None:
    """Per-step milliseconds for one face, one thread (mean of 20 runs)."""
    frame = cv2.imread(str(frames / "00001.png"))
    points = _landmarks(1)
    model = InvertModel()
    settings = CONFIGS["overlay rct erode20 blur40"]
    seamless = CONFIGS["seamless rct blur20"]
    crop = blend.crop_face(frame, points, 128, FaceType.WHOLE)
    prediction = blend.predict(model, [crop])[0]
    mask = maskops.select_mask("full", (320, 320))
    png = cv2.imencode(".png", frame, FAST_PNG_PARAMS)[1]
    mask_frame = (blend.merge_frame(frame, [(crop, prediction, None)], settings)[1] * 255).astype(np.uint8)
    steps = {
        "read png frame": lambda: cv2.imread(str(frames / "00001.png")),
        "crop face (warp 128)": lambda: blend.crop_face(frame, points, 128, FaceType.WHOLE),
        "colour transfer rct 128": lambda: color.rct(prediction.face, crop.image, mask[:128, :128]),
        "erode+blur mask 320": lambda: maskops.erode_blur(mask, 12.5, 25),
        "composite_face (all)": lambda: blend.composite_face(frame, crop, prediction, settings),
        "merge_frame (+copy)": lambda: blend.merge_frame(frame, [(crop, prediction, None)], settings),
        "seamless composite_face": lambda: blend.composite_face(frame, crop, prediction, seamless),
        "watermark (mark_frame)": lambda: mark_frame(frame),
        "encode png frame (stage)": lambda: cv2.imencode(".png", frame, FAST_PNG_PARAMS),
        "encode png mask (stage)": lambda: cv2.imencode(".png", mask_frame, FAST_PNG_PARAMS),
        "decode png frame": lambda: cv2.imdecode(png, cv2.IMREAD_COLOR),
    }
    rows = []
    for name, step in steps.items():
        step()
        started = time.perf_counter()
        for _ in range(20):
            step()
        rows.append([name, f"{(time.perf_counter() - started) / 20 * 1000:.2f}"])
    print_table(["step (one thread)", "ms"], rows)


def save_untrained(model_dir: Path, spec: str) -> Path:
    """Save a freshly initialised registry model as a model folder.

    ``spec``: ``name``, ``name:resolution`` or ``name:resolution:archi`` (e.g. ``saehd:128:df-ud``;
    SAEHD's default archi is DeepFaceLab's ``liae-ud``).
    """
    from recast.models import checkpoint
    from recast.models.registry import create_model

    name, resolution, archi = [*spec.split(":"), "", ""][:3]
    config = {"face_type": "whole", **({"resolution": int(resolution)} if resolution else {}),
              **({"archi": archi} if archi else {})}
    model = create_model(name, **config)
    checkpoint.write_model_config(model_dir, name, model.config.to_dict())
    weights = {f"model.{key}": value for key, value in model.state_dict().items()}
    checkpoint.save_checkpoint(model_dir, 0, weights, {}, {}, {})
    return model_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--dst-video", type=Path, default=None,
                        help="a real destination video instead of the synthetic one (faces extracted first)")
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--untrained", nargs="+", default=[], metavar="NAME[:RES]",
                        help="build, save and load untrained registry models, e.g. saehd:128 "
                             "saehd:128:df-ud cpu:128")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto", help="merge inference precision: auto, fp32, bf16")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--xseg", default=None, help="an XSeg model folder, or an untrained preset (xseg-cpu, "
                        "xseg), to also time an xseg-dst mask mode")
    parser.add_argument("--end-to-end", action="store_true",
                        help="time merge + encode to the result video: PNG folders vs streaming (only this table)")
    parser.add_argument("--preset", default="veryfast", help="--end-to-end: the faster x264 preset to time")
    parser.add_argument("--quick", action="store_true",
                        help="24 frames with untrained saehd:128 and cpu:128 models (make bench)")
    parser.add_argument("--cv-threads", type=int, default=1,
                        help="OpenCV's own threads (the stage already runs 2 frames in parallel)")
    parser.add_argument("--omp-wait", choices=("passive", "active"), default="passive",
                        help="OpenMP wait policy: passive is what `recast merge` uses")
    parser.add_argument("--enhance", type=Path, default=None,
                        help="an enhancer folder (recast train-enhancer) for --model-dir's model: "
                             "also time merge --enhance")
    args = parser.parse_args()
    if args.omp_wait == "passive":
        prefer_passive_openmp()  # before torch loads, as the CLI does
    if args.quick:
        args.frames, args.untrained = 24, args.untrained or ["saehd:128", "cpu:128"]
    cv2.setNumThreads(args.cv_threads)
    with tempfile.TemporaryDirectory(prefix="recast_bench_merge_") as tmp:
        root = Path(tmp)
        if args.dst_video is not None:
            frames, video, aligned = real_destination(root, args.dst_video)
        else:
            frames, video, aligned = build_destination(root, args.frames)
        faces = sum(1 for path in aligned.iterdir() if path.suffix == ".jpg")
        model_dirs = {spec: save_untrained(root / f"model_{i}", spec) for i, spec in enumerate(args.untrained)}
        if args.model_dir is not None:
            model_dirs[str(args.model_dir)] = args.model_dir
        models: dict[str, object] = {"invert 128 (merger only)": InvertModel()}
        if model_dirs:
            from recast.models.inference import FaceSwapper

            if not args.end_to_end:
                forward_table(model_dirs, args.device)
            for label, model_dir in model_dirs.items():
                swapper = FaceSwapper.load(model_dir, device=args.device, precision=args.precision)
                models[f"{label} {swapper.precision.name}"] = swapper
        if args.end_to_end:
            end_to_end(models, video, aligned, root, args.preset)
            return
        sources = {"png frames": frames, "h264 video": video}
        run_configs(models, sources, aligned, root, faces, _xseg(args.xseg), args.enhance)
        if args.profile:
            profile(frames)


def _xseg(spec: str | None) -> object | None:
    """An XSeg model folder, or an untrained preset (its speed is that of a trained one)."""
    if spec is None:
        return None
    from recast.models.xseg import XSeg
    from recast.models.xseg_config import XSEG_PRESETS, xseg_config
    from recast.models.xseg_inference import XSegPredictor

    return XSegPredictor(XSeg(xseg_config(spec))) if spec in XSEG_PRESETS else XSegPredictor.load(spec)


if __name__ == "__main__":
    main()
