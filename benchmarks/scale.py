"""Scaling benchmark on CPU: 1 process vs 2 gloo processes with DDP, FSDP2 and FSDP2 + activation checkpointing.

Usage:
    python benchmarks/scale.py                            # saehd-256 (batch 4) and hd-1024 (batch 2), 50 iterations
    python benchmarks/scale.py --iterations 5 --models saehd-256
    python benchmarks/scale.py --cases "1 process" "FSDP2 + AC"

Each case trains a new model on synthetic facesets at the model's size through the real training path,
:func:`recast.train.train` (the library call behind ``recast train``), in fp32 so every row computes
the same thing. Two-process cases run under ``torchrun --standalone --nproc-per-node 2`` (gloo), the
global batch kept: each rank trains on half of it. Every rank is this script with ``--worker``; it
records, in its own process:

* **peak RSS**: ``ru_maxrss`` of the rank's own process (its data-loader workers are other processes)
  when the last iteration ends, before the final save (which gathers the whole checkpoint on rank 0 and
  is shown apart, in the ``with save`` column: the largest rank's peak at exit);
* **ms/iter**: wall time from the end of iteration 2 (iteration 1 in runs of three or fewer) to the end
  of the last one, per iteration (start-up, the first steps and the saves left out);
* **loss**: src + dst loss, the mean of the last 10 iterations (rank 0);
* **estimate**: what the trainer's memory check (:func:`recast.train.memcheck.check_train_memory`)
  computed for that rank before allocating, and measured / estimate.

Two cores run both ranks here, so a 2-process row's ms/iter is not a speed-up measurement: it shows what
communication and recomputation cost, next to the memory they save.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_model
from measure import print_table

MODELS = {"saehd-256": (256, 4), "hd-1024": (1024, 2)}
"""Registry preset: (face size, global batch)."""
CASES = {  # label: (processes, TrainOptions flags)
    "1 process": (1, {}),
    "DDP 2": (2, {}),
    "FSDP2 2": (2, {"shard": True}),
    "FSDP2 + AC 2": (2, {"shard": True, "checkpoint_activations": True}),
}
FACES = 8
"""Faces per side: the loader's memory depends on the batch, not on the faceset's length."""
MB = float(1 << 20)


def peak_rss_mb() -> float:
    """This process's peak resident memory (``ru_maxrss``, kB on Linux) in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def skipped_iterations(iterations: int) -> int:
    """Iterations left out of ms/iter: the first two (lazy initialisation, warm-up), or the first one of a
    run of three or fewer."""
    return 2 if iterations > 3 else 1


def worker(spec: dict[str, Any]) -> None:
    """One rank: train ``spec``'s case and write ``rank<N>.json`` into ``spec["out"]``."""
    import torch

    from recast.train import TrainOptions, train
    from recast.train.memcheck import check_train_memory
    from recast.train.options import ProgressEvent

    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    ends: list[float] = []
    losses: list[float] = []
    train_peak = [0.0]

    def record(event: ProgressEvent) -> None:
        if event.kind != "iteration":
            return
        ends.append(time.perf_counter())
        losses.append(event.losses["src"] + event.losses["dst"])
        if event.iteration == spec["iterations"]:
            train_peak[0] = peak_rss_mb()

    options = TrainOptions(src=spec["src"], dst=spec["dst"], model_dir=spec["model_dir"], model=spec["model"],
                           settings={"batch_size": spec["batch"]}, iterations=spec["iterations"], precision="fp32",
                           preview_every=0, autosave_minutes=0, workers=1, on_event=record, **spec["flags"])
    estimate = check_train_memory(options, torch.device("cpu"), world)
    start_peak = peak_rss_mb()
    train(options)
    timed = ends[skipped_iterations(spec["iterations"]) - 1:]
    ms = 1000 * (timed[-1] - timed[0]) / max(1, len(timed) - 1)
    report = {"rank": rank, "train_peak_mb": train_peak[0], "exit_peak_mb": peak_rss_mb(), "start_peak_mb": start_peak,
              "ms_per_iter": ms, "loss": statistics.fmean(losses[-10:]),
              "estimate_mb": estimate.total / MB if estimate else None,
              "estimate": estimate.describe() if estimate else ""}
    Path(spec["out"], f"rank{rank}.json").write_text(json.dumps(report))


def run_case(spec: dict[str, Any], processes: int) -> list[dict[str, Any]]:
    """Run one case (``processes`` ranks) in child processes; each rank's report."""
    me = [str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    if processes > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}", *me]
    else:
        command = [sys.executable, *me]
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    if done.returncode != 0:
        raise SystemExit(f"{spec['model']} {spec['flags']}: training failed:\n{(done.stdout + done.stderr)[-3000:]}")
    ranks = [json.loads(path.read_text()) for path in sorted(Path(spec["out"]).glob("rank*.json"))]
    print(f"{spec['model']} {spec['flags']}: {ranks}", file=sys.stderr)
    return ranks


def table_row(model: str, batch: int, label: str, ranks: list[dict[str, Any]]) -> list[object]:
    """One table row: per-rank peaks, the estimate and their ratio (the larger rank), speed and loss."""
    peaks = [r["train_peak_mb"] for r in ranks]
    estimate = ranks[0]["estimate_mb"]
    ratio = f"{max(peaks) / estimate:.2f}" if estimate else "-"
    return [model, batch, label, " / ".join(f"{p:.0f}" for p in peaks), f"{max(r['exit_peak_mb'] for r in ranks):.0f}",
            f"{estimate:.0f}" if estimate else "-", ratio, f"{statistics.fmean(r['ms_per_iter'] for r in ranks):.0f}",
            f"{ranks[0]['loss']:.4f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--models", nargs="*", default=list(MODELS), help=f"subset of: {', '.join(MODELS)}")
    parser.add_argument("--cases", nargs="*", default=list(CASES), help=f"subset of: {', '.join(CASES)}")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    from recast.runtime.precision import cpu_flags
    from recast.train.synthetic import write_synthetic_faceset

    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; bf16 flags (AVX512-BF16 / AMX): "
          f"{', '.join(sorted(cpu_flags())) or 'none'}; load average {os.getloadavg()[0]:.1f}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="recast_bench_scale_") as tmp:
        root = Path(tmp)
        for model in args.models:
            size, batch = MODELS[model]
            src = write_synthetic_faceset(root / f"src{size}", FACES, identity=0, size=size)
            dst = write_synthetic_faceset(root / f"dst{size}", FACES, identity=1, size=size)
            for label in args.cases:
                processes, flags = CASES[label]
                case = root / f"{model}_{len(rows)}"
                out = case / "reports"
                out.mkdir(parents=True)
                spec = {"src": str(src), "dst": str(dst), "model_dir": str(case / "model"), "model": model,
                        "batch": batch, "iterations": args.iterations, "flags": flags, "out": str(out)}
                rows.append(table_row(model, batch, label, run_case(spec, processes)))
    skipped = skipped_iterations(args.iterations)
    print(f"fp32, {args.iterations} iterations from a new model, global batch as shown (split over the ranks), "
          "1 data worker per rank; peak RSS per rank up to the last iteration (ru_maxrss), 'with save': the "
          f"largest rank's peak including the final save; ms/iter after iteration {skipped}; loss: src + dst, "
          "mean of the last 10 iterations")
    print_table(["model", "batch", "case", "peak RSS MB per rank", "with save", "estimate MB",
                 "peak / estimate", "ms/iter", "loss"], rows)


if __name__ == "__main__":
    main()
