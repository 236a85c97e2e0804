"""Faceset curation benchmark: hist sort and best-faces selection on a large faceset.

    python benchmarks/faceset.py                 # 10,000 faces of 256 px
    python benchmarks/faceset.py --n 2000 --size 512 --workers 2

The faceset is made by augmenting real aligned faces (the identity photos of ../shared/data,
detected once) — random flip, shift/rotation/zoom, brightness/contrast/colour, blur, noise and
JPEG quality — or synthetic drawn faces when the data is absent. Each sort runs in its own
process; the table gives its wall time (process start included) and the peak RSS of the whole
process tree (workers included). Targets: < 2 min and < 2 GB each.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from measure import SHARED_DATA, print_table, python_command, run_measured

_RUN_ONE = """
import sys, time
from recast.faceset.sort import sort_faceset
t = time.perf_counter()
r = sort_faceset(sys.argv[1], sys.argv[2], workers=int(sys.argv[3]), target=int(sys.argv[4]))
print(f"kept {len(r.kept)} trashed {len(r.trashed)} in {time.perf_counter() - t:.1f} s")
"""


def _base_faces(size: int) -> list[tuple[np.ndarray, object]]:
    """Aligned faces (image, meta) to augment: real extractions if ../shared/data exists."""
    photos = SHARED_DATA / "photos" / "identities"
    if photos.is_dir():
        from recast.extract.analyze import AnalyzeOptions, FrameAnalyzer
        from recast.faces.alignment import transform_matrix, transform_points
        from recast.faces.facetype import FaceType
        from recast.faces.metadata import FaceMeta
        from recast.faces.pose import estimate_pose
        from recast.media.images import read_image

        analyzer = FrameAnalyzer(AnalyzeOptions(max_faces=1))
        out = []
        for photo in sorted(p for p in photos.rglob("*") if p.is_file()):
            frame = read_image(photo)
            for face in analyzer.analyze(frame):
                mat = transform_matrix(face.landmarks, size, FaceType.WHOLE)
                image = cv2.warpAffine(frame, mat, (size, size), flags=cv2.INTER_LANCZOS4,
                                       borderMode=cv2.BORDER_REPLICATE)
                h, w = frame.shape[:2]
                out.append((image, FaceMeta(
                    face_type=FaceType.WHOLE, landmarks=transform_points(face.landmarks, mat).astype(np.float32),
                    source_landmarks=face.landmarks, source_rect=face.rect, source_filename=photo.name,
                    source_size=(w, h), image_to_face_mat=mat, pose=estimate_pose(face.landmarks, (w, h)),
                )))
        if out:
            return out
    from faces_factory import synthetic_face

    return [synthetic_face(size=size, yaw=y, seed=i) for i, y in enumerate(np.linspace(-0.8, 0.8, 40))]


def make_faceset(folder: Path, n: int, size: int, seed: int = 0) -> None:
    """Write ``n`` augmented aligned faces into ``folder`` (plain writes: this is scratch data)."""
    from recast.faces.aligned import encode_face
    from recast.faces.alignment import transform_points

    rng = np.random.default_rng(seed)
    base = _base_faces(size)
    folder.mkdir(parents=True)
    for i in range(n):
        image, meta = base[i % len(base)]
        angle, scale = rng.uniform(-8, 8), rng.uniform(0.95, 1.05)
        mat = cv2.getRotationMatrix2D((size / 2 + rng.uniform(-6, 6), size / 2 + rng.uniform(-6, 6)), angle, scale)
        out = cv2.warpAffine(image, mat, (size, size), borderMode=cv2.BORDER_REPLICATE)
        out = cv2.convertScaleAbs(out, alpha=rng.uniform(0.8, 1.2), beta=rng.uniform(-20, 20))
        out = np.clip(out * rng.uniform(0.9, 1.1, 3), 0, 255).astype(np.uint8)
        if rng.random() < 0.3:
            out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 2.5))
        if rng.random() < 0.3:
            out = cv2.add(out, rng.normal(0, 6, out.shape).astype(np.int16).clip(-30, 30).astype(np.uint8))
        landmarks = transform_points(meta.landmarks, mat).astype(np.float32)
        new = type(meta)(**{**meta.__dict__, "landmarks": landmarks, "source_filename": f"{i:06d}.png"})
        if rng.random() < 0.5:
            out = out[:, ::-1].copy()
            new.landmarks = landmarks.copy()
            new.landmarks[:, 0] = size - 1 - landmarks[:, 0]
        (folder / f"{i:06d}_0.jpg").write_bytes(encode_face(out, new, "jpg", int(rng.integers(75, 96))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="faces in the set")
    parser.add_argument("--size", type=int, default=256, help="aligned face side in pixels")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--target", type=int, default=2000, help="faces best keeps")
    parser.add_argument("--methods", default="hist,best,best-fast", help="comma-separated sort methods")
    parser.add_argument("--json", type=Path, default=None, help="also write the table as JSON here")
    args = parser.parse_args()
    from recast.faceset.sort import restore

    root = Path(tempfile.mkdtemp(prefix="recast-faceset-bench-"))
    try:
        folder = root / "aligned"
        start = time.perf_counter()
        make_faceset(folder, args.n, args.size)
        print(f"made {args.n} faces of {args.size} px in {time.perf_counter() - start:.0f} s", flush=True)
        rows = []
        for method in args.methods.split(","):
            measured = run_measured(python_command("-c", _RUN_ONE, str(folder), method, str(args.workers),
                                                   str(args.target)))
            if measured.returncode != 0:
                raise SystemExit(measured.output)
            rows.append([method, args.n, args.size, f"{measured.seconds:.1f}", f"{measured.peak_rss_mb:.0f}",
                         measured.output.strip().splitlines()[-1]])
            restore(folder)
        headers = ["method", "faces", "size", "wall s", "peak RSS MB", "result"]
        print_table(headers, rows)
        if args.json is not None:
            args.json.write_text(json.dumps([dict(zip(headers, row, strict=True)) for row in rows], indent=1))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
