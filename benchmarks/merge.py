"""Merge benchmark: frames/s of the merge stage on synthetic 1280×720 destination frames.

    python benchmarks/merge.py                      # pipeline only (an image-function "model")
    python benchmarks/merge.py --model-dir M        # with a trained model (FaceSwapper)
    python benchmarks/merge.py --untrained saehd:128    # an untrained 128 px SAEHD (inference cost)
    python benchmarks/merge.py --frames 96 --profile

Destination: ``--frames`` PNG frames of a photo face moving and turning across a 1280×720
background, one face per frame, with aligned-face metadata as extraction writes it. Each
configuration merges all frames with ``workers=2`` (the whole stage: read PNG, crop, model,
colour transfer, mask, blend, write PNG frame + mask) and prints frames/s. Without
``--model-dir`` / ``--untrained`` the model is a colour inversion of the crop at 128 px, so the
numbers measure the merger itself; with a model they include inference. ``--profile`` adds a per-step breakdown of
one face on one thread. Target: ≥ 15 frames/s on 2 cores for overlay + rct + erode/blur.
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
from recast.faces.aligned import write_face
from recast.faces.alignment import MEAN_FACE_68, transform_matrix, transform_points
from recast.faces.facetype import FaceType
from recast.faces.metadata import FaceMeta
from recast.merge import blend, maskops
from recast.merge.settings import MergeSettings
from recast.merge.stage import PNG_WRITE_PARAMS, merge

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import print_table

SIZE = (1280, 720)
CONFIGS = {
    "overlay rct erode20 blur40": MergeSettings(mode="overlay", mask_mode="dst", color="rct", erode=20, blur=40),
    "overlay none": MergeSettings(mode="overlay", mask_mode="dst", color="none"),
    "seamless rct blur20": MergeSettings(mode="seamless", mask_mode="dst", color="rct", blur=20),
}


class InvertModel:
    """A 128 px whole-face "model" that inverts the crop's colours (no inference cost)."""

    resolution = 128
    face_type = FaceType.WHOLE
    has_learned_mask = True
    is_amp = False

    def swap(self, faces: np.ndarray, morph: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        masks = np.ones(faces.shape[:3], np.float32)
        return 1.0 - faces, masks, masks


def _landmarks(index: int) -> np.ndarray:
    angle = np.deg2rad(8.0 * np.sin(index / 7.0))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([640.0 + 200.0 * np.sin(index / 15.0), 340.0 + 30.0 * np.cos(index / 11.0)])
    return (MEAN_FACE_68 - 0.5) @ rotation.T * 150.0 + centre  # ~320 px whole-face crop


def build_destination(root: Path, count: int) -> tuple[Path, Path]:
    """Write ``count`` 720p frames and their aligned faces under ``root``; returns the two folders."""
    frames, aligned = root / "frames", root / "aligned"
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
    return frames, aligned


def run_configs(model: object, frames: Path, aligned: Path, root: Path, count: int) -> None:
    rows = []
    for name, settings in CONFIGS.items():
        out = root / f"out_{len(rows)}"
        started = time.perf_counter()
        summary = merge(model, frames, aligned, out, settings, workers=2)
        seconds = time.perf_counter() - started
        assert summary.faces_merged == count, summary
        rows.append([name, count, f"{seconds:.2f}", f"{count / seconds:.1f}"])
    print_table(["config", "frames", "seconds", "frames/s"], rows)


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
    png = cv2.imencode(".png", frame, PNG_WRITE_PARAMS)[1]
    steps = {
        "read png frame": lambda: cv2.imread(str(frames / "00001.png")),
        "crop face (warp 128)": lambda: blend.crop_face(frame, points, 128, FaceType.WHOLE),
        "colour transfer rct 128": lambda: color.rct(prediction.face, crop.image, mask[:128, :128]),
        "erode+blur mask 320": lambda: maskops.erode_blur(mask, 12.5, 25),
        "composite_face (all)": lambda: blend.composite_face(frame, crop, prediction, settings),
        "merge_frame (+copy)": lambda: blend.merge_frame(frame, [(crop, prediction, None)], settings),
        "seamless composite_face": lambda: blend.composite_face(frame, crop, prediction, seamless),
        "encode png frame (stage)": lambda: cv2.imencode(".png", frame, PNG_WRITE_PARAMS),
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
    """Save a freshly initialised registry model (``name`` or ``name:resolution``) as a model folder."""
    from recast.train import checkpoint
    from recast.train.models.registry import create_model

    name, _, resolution = spec.partition(":")
    config = {"face_type": "whole", **({"resolution": int(resolution)} if resolution else {})}
    model = create_model(name, **config)
    checkpoint.write_model_config(model_dir, name, model.config.to_dict())
    weights = {f"model.{key}": value for key, value in model.state_dict().items()}
    checkpoint.save_checkpoint(model_dir, 0, weights, {}, {}, {})
    return model_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--untrained", default=None, metavar="NAME[:RES]",
                        help="build, save and load an untrained registry model, e.g. saehd:128 or cpu")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--cv-threads", type=int, default=1,
                        help="OpenCV's own threads (the stage already runs 2 frames in parallel)")
    args = parser.parse_args()
    cv2.setNumThreads(args.cv_threads)
    with tempfile.TemporaryDirectory(prefix="recast_bench_merge_") as tmp:
        root = Path(tmp)
        frames, aligned = build_destination(root, args.frames)
        model_dir = args.model_dir
        if args.untrained is not None:
            model_dir = save_untrained(root / "model", args.untrained)
        if model_dir is not None:
            from recast.train.inference import FaceSwapper

            model = FaceSwapper.load(model_dir, device=args.device)
            print(f"model {args.untrained or model_dir}: {model.resolution} px, {model.face_type.value}")
        else:
            model = InvertModel()
            print("model: colour inversion at 128 px (merger cost only)")
        run_configs(model, frames, aligned, root, args.frames)
        if args.profile:
            profile(frames)


if __name__ == "__main__":
    main()
