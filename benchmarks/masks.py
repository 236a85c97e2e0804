"""Mask benchmark: the landmark hull vs. XSeg models on faces with occluders at known positions.

Ground truth: held-out real faces (``../shared/data``: the person_I and person_J clips and one photo
of each deepface identity, none of them used for training; training uses 2 fps of the other
person_* clips) with synthetic occluders composited at
fixed, seeded positions (:func:`recast.train.occluders.occlude`); GT = the face's landmark hull
minus the occluder (the hull is the only face outline the data has). Reported per method: mean IoU
with GT and *occluder leak* (share of occluder pixels inside the face hull that the mask keeps).

Methods: ``hull`` (the landmark hull: leaks every occluder pixel inside it); ``no-label`` (an XSeg
model trained from the training clips with no labels: hull masks + synthetic occluders);
``40-labels`` (that model trained further with 40 "hand-labelled" faces — here the GT masks of 40
training faces with synthetic occluders of another seed stand in for hand labels).

Also: before/after images of ``photos/occlusion`` (hull | model mask overlays) into the output
folder (never into the repository), and ``xseg apply`` speed in faces/s for both presets at 256 px.
Merge speed with an XSeg mask mode is measured by ``benchmarks/merge.py --xseg``.

The report also gives each model's IoU on the same held-out faces *without* occluders (GT = the
hull): how well it has learned the face outline itself, apart from cutting occluders out.

Run (skips cleanly when ../shared/data is absent)::

    nice -n 10 python benchmarks/masks.py --out /tmp/recast-masks --minutes 14 --label-minutes 6
    python benchmarks/masks.py --out /tmp/recast-masks --reuse    # keep the faces and the no-label model
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from recast.extract.stage import ExtractOptions, extract
from recast.faces.aligned import read_face, write_face
from recast.faces.labels import polygon
from recast.faces.masks import hull_mask
from recast.faceset.files import list_faces
from recast.train.occluders import occlude
from recast.train.xseg_samples import hull_target

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
HELD_OUT = ("person_I", "person_J")


def prepare(out: Path) -> tuple[Path, Path, Path]:
    """Extract training faces (2 fps of every clip but the held-out ones) and held-out faces."""
    train, test, photos = out / "train_faces", out / "test_faces", out / "occlusion_faces"
    options = ExtractOptions(size=256, fps=2.0, max_faces=1, smooth=False)
    for video in sorted((SHARED / "videos").glob("person_*.mp4")):
        held = video.name.startswith(HELD_OUT)
        target = test if held else train
        extract(video, target / video.stem, options)
    frames = out / "id_photos"
    frames.mkdir(parents=True, exist_ok=True)
    for folder in sorted((SHARED / "photos" / "identities").glob("df_*")):
        first = sorted(folder.glob("*.jpg"))[0]
        shutil.copy(first, frames / f"{folder.name}.jpg")
    extract(frames, test / "photos", ExtractOptions(size=256, max_faces=1))
    extract(SHARED / "photos" / "occlusion", photos, ExtractOptions(size=256, max_faces=1))
    return train, test, photos


def faces_in(root: Path) -> list[Path]:
    return [p for folder in sorted(d for d in root.iterdir() if d.is_dir()) for p in list_faces(folder)]


def occluded_set(paths: list[Path], seed: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, object]]:
    """``(image uint8, GT mask, occluder mask inside the hull, meta)`` per face, occluders at seeded positions."""
    donors = [read_face(p).image.astype(np.float32) / 255 for p in paths[:: max(1, len(paths) // 8)]]
    out = []
    for index, path in enumerate(paths):
        face = read_face(path)
        hull = hull_target(face)
        rng = np.random.default_rng([seed, index])
        image, gt = occlude(face.image.astype(np.float32) / 255, hull, rng, donors, count=2)
        out.append(((image * 255 + 0.5).astype(np.uint8), gt, (hull > 0.5) & (gt < 0.5), face.meta))
    return out


def clean_set(paths: list[Path]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, object]]:
    """The same faces without occluders: ``(image, hull as GT, no occluder, meta)``."""
    out = []
    for path in paths:
        face = read_face(path)
        hull = hull_target(face)
        out.append((face.image, hull, np.zeros(hull.shape, bool), face.meta))
    return out


def scores(masks: list[np.ndarray], cases: list[tuple]) -> dict[str, float]:
    ious, leaks = [], []
    for mask, (_, gt, occluder, _) in zip(masks, cases, strict=True):
        m, g = mask >= 0.5, gt >= 0.5
        ious.append((m & g).sum() / max((m | g).sum(), 1))
        if occluder.sum() > 0:
            leaks.append((m & occluder).sum() / occluder.sum())
    return {"iou": float(np.mean(ious)), "leak": float(np.mean(leaks)) if leaks else 0.0, "faces": len(masks)}


def model_masks(model_dir: Path, cases: list[tuple]) -> list[np.ndarray]:
    from recast.models.xseg_inference import XSegPredictor

    masker = XSegPredictor.load(model_dir)
    return masker.face_masks([c[0] for c in cases], [c[3] for c in cases])


def labelled_faces(train: list[Path], out: Path, count: int = 40) -> Path:
    """``count`` training faces with occluders pasted and their GT written as XSeg labels (the hand labels)."""
    folder = out / "labelled"
    shutil.rmtree(folder, ignore_errors=True)
    picks = [train[i] for i in np.linspace(0, len(train) - 1, count).astype(int)]
    for index, (image, gt, _, meta) in enumerate(occluded_set(picks, seed=777)):
        contours, _ = cv2.findContours((gt >= 0.5).astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        outer = [c for c in contours if len(c) >= 3 and cv2.contourArea(c) > 4]
        outer.sort(key=cv2.contourArea, reverse=True)
        meta.xseg_labels = [polygon(True, c[:, 0, :].astype(np.float64)) for c in outer[:8]]
        holes = np.zeros_like(gt)
        for c in outer[:8]:
            cv2.fillPoly(holes, [c], 1.0)
        holes = ((holes > 0.5) & (gt < 0.5)).astype(np.uint8)
        for c in cv2.findContours(holes, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]:
            if len(c) >= 3 and cv2.contourArea(c) > 4:
                meta.xseg_labels.append(polygon(False, c[:, 0, :].astype(np.float64)))
        write_face(folder / f"{index:05d}.png", image, meta)
    return folder


def train(folders: list[Path], model_dir: Path, minutes: float, settings: dict) -> dict:
    from recast.train.xseg_trainer import XSegTrainOptions, train_xseg

    started = time.monotonic()
    result = train_xseg(XSegTrainOptions(folders, model_dir, model="xseg-cpu", settings=settings, minutes=minutes,
                                         workers=1, preview_every=200))
    return {"iterations": result.iteration, "ms_per_iter": round(result.ms_per_iter), "loss": round(result.loss, 4),
            "minutes": round((time.monotonic() - started) / 60, 2)}


def before_after(photos: Path, model_dir: Path, out: Path) -> list[str]:
    from recast.models.xseg_inference import XSegPredictor

    masker = XSegPredictor.load(model_dir)
    written = []
    for path in list_faces(photos):
        face = read_face(path)
        hull = hull_target(face)
        model = masker.face_mask(face.image, face.meta)
        panels = [face.image]
        for mask in (hull, model):
            shade = face.image.copy()
            shade[mask < 0.5] = (shade[mask < 0.5] * 0.3).astype(np.uint8)
            panels.append(shade)
        target = out / "before_after" / f"{path.stem}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(target), np.hstack(panels))
        written.append(str(target))
    return written


def apply_speed(paths: list[Path]) -> dict[str, float]:
    """faces/s of the whole apply path (crop, predict, map back) for each preset, on 64 faces."""
    import torch

    from recast.models.xseg import XSeg
    from recast.models.xseg_config import XSEG_PRESETS, xseg_config
    from recast.models.xseg_inference import XSegPredictor

    torch.set_num_threads(2)
    faces = [read_face(p) for p in (paths * 4)[:64]]
    out = {}
    for name in sorted(XSEG_PRESETS):
        masker = XSegPredictor(XSeg(xseg_config(name)))
        masker.face_masks([f.image for f in faces[:4]], [f.meta for f in faces[:4]])
        count = 64 if name == "xseg-cpu" else 16
        started = time.perf_counter()
        for start in range(0, count, 16):
            chunk = faces[start:start + 16]
            masker.face_masks([f.image for f in chunk], [f.meta for f in chunk])
        out[name] = round(count / (time.perf_counter() - started), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="Output folder (outside the repository).")
    parser.add_argument("--minutes", type=float, default=14.0, help="No-label training time.")
    parser.add_argument("--label-minutes", type=float, default=6.0, help="Further training with 40 labels.")
    parser.add_argument("--reuse", action="store_true",
                        help="Reuse the faces and the no-label model an earlier run left in --out.")
    args = parser.parse_args()
    if not (SHARED / "MANIFEST.md").is_file():
        print("skipped: ../shared/data is absent")
        return
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {}
    reuse = args.reuse and (out / "test_faces").is_dir()
    train_root, test_root, photos = ((out / "train_faces", out / "test_faces", out / "occlusion_faces") if reuse
                                     else prepare(out))
    train_faces, test_faces = faces_in(train_root), faces_in(test_root)
    report["faces"] = {"train": len(train_faces), "held_out": len(test_faces)}
    cases, clean = occluded_set(test_faces, seed=1), clean_set(test_faces)
    report["hull"] = scores([hull_mask(c[3].landmarks, c[0].shape[:2], c[3].eyebrows_expand) for c in cases], cases)
    print(json.dumps(report), flush=True)
    report["apply_faces_per_s"] = apply_speed(test_faces)
    print(json.dumps(report), flush=True)
    model_dir = out / "xseg_nolabel"
    if not (reuse and (model_dir / "state.json").is_file()):
        shutil.rmtree(model_dir, ignore_errors=True)
        report["no_label_training"] = train(sorted({p.parent for p in train_faces}), model_dir, args.minutes, {})
    report["no-label"] = scores(model_masks(model_dir, cases), cases)
    report["no-label, no occluders"] = scores(model_masks(model_dir, clean), clean)
    print(json.dumps(report), flush=True)
    labelled = labelled_faces(train_faces, out)
    tuned = out / "xseg_40labels"
    shutil.rmtree(tuned, ignore_errors=True)
    shutil.copytree(model_dir, tuned)
    report["label_training"] = train([labelled, *sorted({p.parent for p in train_faces})], tuned,
                                     args.label_minutes, {"labelled_share": 0.5})
    report["40-labels"] = scores(model_masks(tuned, cases), cases)
    report["40-labels, no occluders"] = scores(model_masks(tuned, clean), clean)
    report["before_after"] = before_after(photos, tuned, out)
    (out / "masks_report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    sys.exit(main())
