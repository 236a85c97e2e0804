"""GPU check: the CUDA tests, then training, merge, live and DDP timings, in one short run on any CUDA machine.

    python benchmarks/gpu.py               # or: make gpu-check (under 8 minutes on one H100)
    python benchmarks/gpu.py --no-compile  # skip the torch.compile rows (the slowest part)

On a machine without CUDA it prints "no CUDA device" and exits 0. Otherwise, in order:

1. ``pytest -m cuda tests/test_cuda.py``: a training step in bf16 and in fp16 with loss scaling, merge and
   export on the GPU (the exit status is the tests' own when they fail).
2. Training: ms/iter of ``saehd`` (liae-ud, its default widths) at 128, 256 and 512 px, batch 8, in bf16
   and in fp16 + ``GradScaler``, eager and under ``torch.compile`` (the warm-up, compilation included, is
   reported apart), with the peak GPU memory of the timed steps.
3. Merge: frames/s of the merge stage on a synthetic 1920×1080 clip (a face moving across a photo,
   aligned metadata as extraction writes it) with an untrained 256 px ``saehd`` on the GPU.
4. Live: delivered frames/s, drops and latency of ``recast live`` playing the same clip in real time.
5. DDP: ``torchrun --nproc-per-node N -m recast.cli train`` on all N visible GPUs (and on one), ms/iter at
   the same per-GPU batch, from the difference of a short and a longer run (start-up cancels out).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import print_table

ROOT = Path(__file__).resolve().parents[1]
NO_CUDA = "no CUDA device: nothing to check here (run this on a machine with an NVIDIA GPU)"
FRAME_SIZE = (1920, 1080)


def cuda_ready() -> bool:
    """Whether torch sees a usable CUDA device."""
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.device_count() > 0)


def run_cuda_tests() -> int:
    """``pytest -m cuda tests/test_cuda.py`` in a child process; its exit status (its summary is printed)."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider",
                           str(ROOT / "tests" / "test_cuda.py")], cwd=ROOT, capture_output=True, text=True, check=False)
    lines = (done.stdout + done.stderr).strip().splitlines()
    print("CUDA tests: " + (lines[-1] if lines else "no output"))
    if done.returncode:
        print("\n".join(lines[-40:]))
    print()
    return done.returncode


def synthetic_batch(resolution: int, batch: int, device: object) -> dict[str, object]:
    """A fixed training batch on ``device``: smooth random faces, a central mask, eyes-and-mouth bands."""
    import torch
    from torch.nn import functional as F

    g = torch.Generator().manual_seed(0)
    r = resolution
    faces = F.interpolate(torch.rand(2 * batch, 3, r // 8, r // 8, generator=g), size=(r, r), mode="bilinear")
    mask = torch.zeros(2 * batch, 1, r, r)
    mask[..., r // 8: -r // 8, r // 8: -r // 8] = 1
    em = torch.zeros_like(mask)
    em[..., r // 3: r // 2, r // 4: -r // 4] = 1
    cpu = {"src_warped": faces[:batch], "dst_warped": faces[batch:], "src_target": faces[:batch],
           "dst_target": faces[batch:], "src_mask": mask[:batch], "dst_mask": mask[batch:], "src_em": em[:batch],
           "dst_em": em[batch:]}
    return {key: value.to(device) for key, value in cpu.items()}


def time_training(resolution: int, precision_name: str, compiled: bool, batch: int, warm: int,
                  iterations: int) -> list[object]:
    """One row of the training table: warm-up seconds, ms/iter, peak GiB, last loss."""
    import torch

    from recast.models.registry import create_model, get_entry
    from recast.runtime.precision import choose_precision
    from recast.train.distributed import DistInfo
    from recast.train.options import resolve_settings
    from recast.train.step import TrainStep, make_part

    device = torch.device("cuda")
    torch.manual_seed(0)
    model = create_model("saehd", resolution=resolution).to(device)
    settings = resolve_settings(get_entry("saehd").train_defaults, {"batch_size": batch})
    precision = choose_precision(precision_name, device, "train")
    step = TrainStep(make_part(model, settings, device, 0), settings, DistInfo(), device, precision=precision)
    if compiled:
        step.forward = torch.compile(step.forward)
    data = synthetic_batch(resolution, batch, device)
    torch.cuda.synchronize()
    started = time.perf_counter()
    for index in range(warm):
        step(data, index)  # type: ignore[arg-type]
    torch.cuda.synchronize()
    warm_s = time.perf_counter() - started
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for index in range(iterations):
        losses = step(data, warm + index)  # type: ignore[arg-type]
    torch.cuda.synchronize()
    ms = (time.perf_counter() - started) / iterations * 1000
    peak = torch.cuda.max_memory_allocated() / 2**30
    scaled = " + GradScaler" if precision.loss_scaling else ""
    row: list[object] = [f"saehd {resolution}", batch, precision.name + scaled, "yes" if compiled else "no",
                         f"{warm_s:.1f}", f"{ms:.1f}", f"{peak:.2f}", f"{losses['src'] + losses['dst']:.4f}"]
    del step, model, data
    torch.cuda.empty_cache()
    return row


def training_table(compile_rows: bool, batch: int, iterations: int) -> None:
    rows = []
    for resolution in (128, 256, 512):
        for precision_name in ("bf16", "fp16"):
            for compiled in (False, True) if compile_rows else (False,):
                rows.append(time_training(resolution, precision_name, compiled, batch, 3, iterations))
                print("  " + "  ".join(str(cell) for cell in rows[-1]), flush=True)
    print()
    print_table(["model", "batch", "precision", "compile", "warm-up s", "ms/iter", "peak GiB", "loss"], rows)


def face_points(index: int) -> np.ndarray:
    """(68, 2) landmarks of a face moving and turning across a 1080p frame (a ~480 px whole-face crop)."""
    from recast.faces.alignment import MEAN_FACE_68

    angle = np.deg2rad(8.0 * np.sin(index / 7.0))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([960.0 + 300.0 * np.sin(index / 15.0), 510.0 + 45.0 * np.cos(index / 11.0)])
    return (MEAN_FACE_68 - 0.5) @ rotation.T * 225.0 + centre


def build_clip(root: Path, count: int) -> tuple[Path, Path, Path]:
    """``count`` 1080p frames (PNG folder and H.264 video) with the astronaut's face and their aligned faces.

    Returns ``(frames folder, video, aligned folder)``.
    """
    import cv2
    from skimage import data

    from recast.faces.aligned import write_face
    from recast.faces.alignment import MEAN_FACE_68, transform_matrix, transform_points
    from recast.faces.facetype import FaceType
    from recast.faces.metadata import FaceMeta
    from recast.media.video_encode import VideoWriter

    frames, aligned, video = root / "frames", root / "aligned", root / "clip.mp4"
    frames.mkdir()
    aligned.mkdir()
    background = cv2.resize(data.coffee()[..., ::-1], FRAME_SIZE)
    face = np.ascontiguousarray(data.astronaut()[..., ::-1])
    photo_points = ((MEAN_FACE_68 - 0.5) * 140.0 + np.array([230.0, 150.0])).astype(np.float32)
    with VideoWriter(video, 25) as writer:
        for index in range(1, count + 1):
            points = face_points(index)
            to_frame = cv2.estimateAffinePartial2D(photo_points, points.astype(np.float32))[0]
            alpha = cv2.warpAffine(np.ones(face.shape[:2], np.float32), to_frame, FRAME_SIZE)[..., None]
            frame = (background * (1 - alpha) + cv2.warpAffine(face, to_frame, FRAME_SIZE) * alpha).astype(np.uint8)
            name = f"{index:05d}.png"
            cv2.imwrite(str(frames / name), frame)
            writer.write(frame)
            mat = transform_matrix(points, 512, FaceType.WHOLE)
            meta = FaceMeta(face_type=FaceType.WHOLE, landmarks=transform_points(points, mat).astype(np.float32),
                            source_landmarks=points.astype(np.float32), source_rect=(0.0, 0.0, 1.0, 1.0),
                            source_filename=name, source_size=FRAME_SIZE, image_to_face_mat=mat)
            write_face(aligned / f"{index:05d}_0.jpg", cv2.warpAffine(frame, mat, (512, 512)), meta)
    return frames, video, aligned


def save_untrained(model_dir: Path, resolution: int) -> Path:
    """A freshly initialised whole-face ``saehd`` at ``resolution`` saved as a model folder."""
    from recast.models import checkpoint
    from recast.models.registry import create_model

    model = create_model("saehd", resolution=resolution, face_type="whole")
    checkpoint.write_model_config(model_dir, "saehd", model.config.to_dict())
    checkpoint.save_checkpoint(model_dir, 0, {f"model.{k}": v for k, v in model.state_dict().items()}, {}, {}, {})
    return model_dir


def merge_and_live_tables(root: Path, count: int, seconds: float) -> None:
    from recast.live.capture import open_source
    from recast.live.engine import LiveOptions, LiveSession, run_live
    from recast.live.sinks import FileSink
    from recast.merge.settings import MergeSettings
    from recast.merge.stage import merge
    from recast.models.loader import load_face_model

    frames, video, aligned = build_clip(root, count)
    model_dir = save_untrained(root / "model", 256)
    rows = []
    for precision in ("auto", "fp32"):
        out = root / f"merged_{precision}"
        started = time.perf_counter()
        summary = merge(model_dir, frames, aligned, out, MergeSettings(color="rct", blur=20), device="cuda",
                        precision=precision)
        seconds_taken = time.perf_counter() - started
        done = summary.frames_merged + summary.frames_passed_through
        rows.append(["saehd 256 untrained", precision, f"{FRAME_SIZE[0]}x{FRAME_SIZE[1]}", done,
                     f"{seconds_taken:.1f}", f"{done / seconds_taken:.1f}"])
    print_table(["merge model", "precision", "frame", "frames", "seconds", "frames/s"], rows)
    model = load_face_model(model_dir, device="cuda")
    source = open_source(str(video))
    options = LiveOptions(MergeSettings(mask_mode="dst", color="rct", blur=20),
                          max_frames=max(1, round(seconds * source.fps)))
    session = LiveSession(model, source, options)
    stats = run_live(session, [FileSink(root / "live.mp4", session.fps, provenance={"model": {"path": "untrained"}})])
    print_table(["live model", "frame", "source fps", "delivered fps", "dropped", "latency p50 ms", "p95 ms"],
                [["saehd 256 untrained", f"{FRAME_SIZE[0]}x{FRAME_SIZE[1]}", f"{source.fps:.0f}", f"{stats.fps:.1f}",
                  f"{stats.dropped}/{stats.captured}", f"{stats.latency_ms(50):.0f}", f"{stats.latency_ms(95):.0f}"]])


def ddp_run(faces: tuple[Path, Path], model_dir: Path, nproc: int, batch: int, iterations: int) -> float:
    """Seconds of one ``torchrun`` training run of ``iterations`` (from a fresh folder) on ``nproc`` GPUs."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "recast.cli", "train", "--src", str(faces[0]), "--dst", str(faces[1]), "--model-dir",
               str(model_dir), "--model", "saehd", "--device", "cuda", "--batch-size", str(batch * nproc),
               "--iterations", str(iterations), "--preview-every", "0", "--autosave-minutes", "0"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    if done.returncode:
        raise RuntimeError(f"torchrun with {nproc} process(es) failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return time.perf_counter() - started


def ddp_table(root: Path, batch: int) -> None:
    """ms/iter at ``batch`` faces per GPU on one GPU and on all, each from a 10- and a 40-iteration run."""
    import torch

    from recast.faces.facetype import FaceType
    from recast.train.synthetic import write_synthetic_faceset

    faces = (write_synthetic_faceset(root / "src", 64, identity=0, size=256, face_type=FaceType.FULL),
             write_synthetic_faceset(root / "dst", 64, identity=1, size=256, face_type=FaceType.FULL))
    rows = []
    counts = sorted({1, torch.cuda.device_count()})
    for nproc in counts:
        short = ddp_run(faces, root / f"ddp_{nproc}_short", nproc, batch, 10)
        long = ddp_run(faces, root / f"ddp_{nproc}_long", nproc, batch, 40)
        ms = (long - short) / 30 * 1000
        rows.append([nproc, batch, batch * nproc, f"{short:.1f}", f"{ms:.0f}", f"{batch * nproc / ms * 1000:.0f}"])
    print_table(["GPUs", "batch/GPU", "global batch", "start-up + 10 it s", "ms/iter", "faces/s"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    parser.add_argument("--no-tests", action="store_true", help="skip the CUDA-marked tests")
    parser.add_argument("--batch", type=int, default=8, help="training batch (per GPU)")
    parser.add_argument("--iterations", type=int, default=20, help="timed training iterations per row")
    parser.add_argument("--frames", type=int, default=48, help="frames of the 1080p merge clip")
    parser.add_argument("--live-seconds", type=float, default=6.0, help="seconds of real-time live playback")
    args = parser.parse_args(argv)
    if not cuda_ready():
        print(NO_CUDA)
        return 0
    import torch

    started = time.perf_counter()
    props = torch.cuda.get_device_properties(0)
    print(f"{torch.cuda.device_count()} × {props.name} ({props.total_memory / 2**30:.0f} GiB, capability "
          f"{props.major}.{props.minor}); torch {torch.__version__}, CUDA {torch.version.cuda}\n")
    status = 0 if args.no_tests else run_cuda_tests()
    training_table(not args.no_compile, args.batch, args.iterations)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        merge_and_live_tables(root, args.frames, args.live_seconds)
        ddp_table(root, args.batch)
    print(f"whole check: {time.perf_counter() - started:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
