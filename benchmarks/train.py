"""Training-speed benchmark: ms/iter, achieved GFLOP/s, share of a same-run GEMM peak, data wait.

Usage:
    python benchmarks/train.py            # every preset at batch 4 and 8
    python benchmarks/train.py --quick    # cpu, quick96 and df-ud 128 at batch 4 (< 3 min on 2 cores)
    python benchmarks/train.py --profile  # also split one step by operator class

Each case trains on synthetic faces through the real data pipeline (worker processes) and the real
training step (losses, backward, optimiser). FLOPs of one step (forward + backward, counted by
torch.utils.flop_counter) divided by the measured step time give the achieved GFLOP/s; the peak is a
2048³ fp32 matmul timed in the same run, because machines (and their load) differ.

Steps run in the trainer's default precision (``--precision auto``: bf16 autocast where the CPU
computes bf16 natively, else fp32). A bf16 step can pass the fp32 GEMM peak, so where bf16 is
used the table also gives the share of a same-run bf16 2048³ matmul.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from recast.faces.facetype import FaceType
from recast.train.data import BatchPlan, FaceReader, PairDataset, PairSpec, default_workers, make_loader
from recast.train.distributed import DistInfo
from recast.train.models.registry import create_model, get_entry
from recast.train.options import resolve_settings
from recast.train.precision import dtype_name
from recast.train.samples import SampleSpec
from recast.train.step import TrainStep, make_part, training_dtype
from recast.train.synthetic import write_synthetic_faceset

PRESETS = {  # label: (registry name, config overrides)
    "cpu": ("cpu", {}),
    "quick96": ("quick96", {}),
    "saehd df-ud 128": ("saehd", {"archi": "df-ud", "resolution": 128}),
    "saehd liae-ud 128": ("saehd", {"archi": "liae-ud", "resolution": 128}),
    "amp 224": ("amp", {}),
}
QUICK = ["cpu", "quick96", "saehd df-ud 128"]


def gemm_peak(size: int = 2048, repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """Best GFLOP/s of a size³ matmul in ``dtype``."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best / 1e9


def profile_split(step: TrainStep, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """Share of one step's self CPU time per operator class."""
    from torch.profiler import profile

    with profile() as prof:
        step(batch, 1)
    groups = {"conv backward": 0.0, "conv forward": 0.0, "dense": 0.0, "optimizer": 0.0, "other": 0.0}
    for event in prof.key_averages():
        name, t = event.key, event.self_cpu_time_total
        if "convolution_backward" in name:
            groups["conv backward"] += t
        elif "convolution" in name:
            groups["conv forward"] += t
        elif name in ("aten::addmm", "aten::mm", "aten::bmm"):
            groups["dense"] += t
        elif "foreach" in name or "fused_adam" in name or "Optimizer" in name:
            groups["optimizer"] += t
        elif name.startswith("aten::"):
            groups["other"] += t
    total = sum(groups.values()) or 1.0
    return {k: v / total for k, v in groups.items()}


def bench(label: str, batch_size: int, faces: tuple[Path, Path], iterations: int, workers: int,
          profile: bool, precision: str) -> dict[str, object]:
    name, overrides = PRESETS[label]
    torch.manual_seed(0)
    model = create_model(name, **overrides)
    settings = resolve_settings(get_entry(name).train_defaults, {"batch_size": batch_size})
    device = torch.device("cpu")
    step = TrainStep(make_part(model, settings, device, 0), settings, DistInfo(), device, precision=precision)
    face_type = FaceType(model.config.face_type)
    spec = SampleSpec(model.resolution, face_type, random_flip=settings.random_flip_src)
    dataset = PairDataset(FaceReader(faces[0]), FaceReader(faces[1]), PairSpec(spec, spec, settings.ct_mode))
    loader = make_loader(dataset, BatchPlan(len(dataset.src), len(dataset.dst), batch_size, seed=0), workers)
    batches = iter(loader)
    batch = next(batches)
    with FlopCounterMode(display=False) as counter:
        step(batch, 0)
    flops = counter.get_total_flops()
    split = profile_split(step, batch) if profile else {}
    times, waits = [], []
    for i in range(iterations):
        t0 = time.perf_counter()
        batch = next(batches)
        t1 = time.perf_counter()
        step(batch, 2 + i)
        t2 = time.perf_counter()
        times.append(t2 - t0)
        waits.append(t1 - t0)
    del batches, loader
    ms = 1000 * statistics.median(times)
    return {"label": label, "batch": batch_size, "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
            "gflop_step": flops / 1e9, "ms": ms, "gflops": flops / 1e9 / (ms / 1000),
            "wait": sum(waits) / sum(times), "split": split}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three presets at batch 4, 2 iterations")
    parser.add_argument("--profile", action="store_true", help="split one step by operator class")
    parser.add_argument("--iterations", type=int, default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--presets", nargs="*", default=None, help=f"subset of: {', '.join(PRESETS)}")
    parser.add_argument("--precision", default="auto", help="auto (the trainer's default), bf16 or fp32")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    labels = args.presets or (QUICK if args.quick else list(PRESETS))
    batches = [4] if args.quick else [4, 8]
    iterations = args.iterations or (2 if args.quick else 3)
    workers = default_workers() if args.workers is None else args.workers
    with tempfile.TemporaryDirectory() as tmp:
        faces = (write_synthetic_faceset(Path(tmp) / "src", 16, 0, size=256),
                 write_synthetic_faceset(Path(tmp) / "dst", 16, 1, size=256))
        dtype = training_dtype(args.precision, torch.device("cpu"))
        peak = gemm_peak()
        bf16_peak = gemm_peak(dtype=torch.bfloat16) if dtype == torch.bfloat16 else None
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {workers} data workers, steps in "
              f"{dtype_name(dtype)}; fp32 GEMM 2048³ at start: {peak:.1f} GFLOP/s"
              + (f"; bf16 GEMM 2048³: {bf16_peak:.1f} GFLOP/s" if bf16_peak else ""))
        print(f"{'preset':<20}{'batch':>6}{'params M':>10}{'GFLOP/step':>12}{'ms/iter':>10}{'GFLOP/s':>9}"
              f"{'of peak':>9}{'data wait':>11}" + (f"{'of bf16 peak':>14}" if bf16_peak else ""))
        for label in labels:
            for batch_size in batches:
                r = bench(label, batch_size, faces, iterations, workers, args.profile, args.precision)
                print(f"{r['label']:<20}{r['batch']:>6}{r['params_m']:>10.1f}{r['gflop_step']:>12.1f}"
                      f"{r['ms']:>10.0f}{r['gflops']:>9.1f}{r['gflops'] / peak:>9.0%}{r['wait']:>11.0%}"
                      + (f"{r['gflops'] / bf16_peak:>14.0%}" if bf16_peak else ""), flush=True)
                if r["split"]:
                    print("    time split: " + ", ".join(f"{k} {v:.0%}" for k, v in r["split"].items()))
        end_peak = gemm_peak()
        print()
        print(f"fp32 GEMM 2048³ at end: {end_peak:.1f} GFLOP/s (shares above use the start value; a shared "
              "machine's load moves both)")


if __name__ == "__main__":
    main()
