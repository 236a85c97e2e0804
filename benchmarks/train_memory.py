"""Training memory benchmark: peak RSS of `recast train` on large facesets (target ≤ 4 GB at 5,000 faces).

Usage:
    python benchmarks/train_memory.py                    # 5,000 src + 5,000 dst faces, cpu and saehd df-ud 128
    python benchmarks/train_memory.py --quick            # cpu preset only
    python benchmarks/train_memory.py --faces 20000 --presets cpu

Builds two facesets of ``--faces`` aligned 256 px JPEG faces each (``--unique`` distinct synthetic
faces per side, copied under distinct names — the loader's memory depends on how many files it
indexes and streams, not on what they show), then runs the real CLI, ``recast train`` with its
default data workers, for ``--iterations`` per preset, and prints the peak resident memory of the
whole process tree (trainer + worker processes, sampled every 50 ms) and its wall time.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from recast.faces.facetype import FaceType
from recast.train.synthetic import write_synthetic_faceset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import print_table, run_measured

PRESETS = {  # label: (model, extra CLI flags)
    "cpu": ("cpu", []),
    "saehd df-ud 128 b8": ("saehd", ["--archi", "df-ud", "--resolution", "128", "--batch-size", "8"]),
}
LIMIT_MB = 4096


def build_faceset(folder: Path, count: int, unique: int, identity: int) -> Path:
    """``count`` face files in ``folder``: ``unique`` synthetic faces, copied under distinct names."""
    seeds = write_synthetic_faceset(folder.with_name(folder.name + "_unique"), unique, identity=identity,
                                    size=256, face_type=FaceType.WHOLE)
    files = sorted(seeds.iterdir())
    folder.mkdir()
    for index in range(count):
        source = files[index % len(files)]
        shutil.copyfile(source, folder / f"{index:06d}_0{source.suffix}")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=5000, help="faces per side (src and dst)")
    parser.add_argument("--unique", type=int, default=200, help="distinct synthetic faces per side")
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--presets", nargs="*", default=None, help=f"subset of: {', '.join(PRESETS)}")
    parser.add_argument("--quick", action="store_true", help="cpu preset only, 30 iterations")
    args = parser.parse_args()
    names = args.presets or (["cpu"] if args.quick else list(PRESETS))
    iterations = 30 if args.quick else args.iterations
    recast = str(Path(sys.executable).with_name("recast"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="recast_bench_train_memory_") as tmp:
        root = Path(tmp)
        src = build_faceset(root / "src", args.faces, args.unique, identity=0)
        dst = build_faceset(root / "dst", args.faces, args.unique, identity=1)
        for name in names:
            model, flags = PRESETS[name]
            command = [recast, "train", "--src", str(src), "--dst", str(dst), "--model-dir", str(root / name),
                       "--model", model, "--iterations", str(iterations), "--preview-every", "0", *flags]
            measured = run_measured(command)
            if measured.returncode != 0:
                raise SystemExit(f"{name}: recast train failed:\n{measured.output[-2000:]}")
            verdict = "ok" if measured.peak_rss_mb <= LIMIT_MB else f"over {LIMIT_MB} MB"
            rows.append([name, f"{args.faces} + {args.faces}", iterations, f"{measured.seconds:.1f}",
                         f"{measured.peak_rss_mb:.0f}", verdict])
    print_table(["preset", "faces src + dst", "iterations", "wall s", "peak RSS MB", "target ≤ 4 GB"], rows)


if __name__ == "__main__":
    main()
