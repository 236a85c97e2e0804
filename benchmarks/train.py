"""Training-speed benchmark: ms/iter, achieved GFLOP/s, share of a same-run GEMM peak, data wait.

Usage:
    python benchmarks/train.py            # every preset at batch 4 and 8
    python benchmarks/train.py --quick    # cpu, quick96 and df-ud 128 at batch 4 (< 3 min on 2 cores)
    python benchmarks/train.py --profile  # also split one step by operator class
    python benchmarks/train.py --presets cpu "cpu-grow at 64" "cpu-grow at 96" "cpu-grow at 128" --batches 8
                                          # what progressive growth costs per step at each size
    python benchmarks/train.py --presets cpu saehd-256 --batches 8 --compile      # also torch.compile'd steps
    python benchmarks/train.py --presets cpu --batches 8 --background 1            # beside 1 busy program
    python benchmarks/train.py --presets cpu --batches 8 --background 2 --nice 19  # beside 2 niced ones

Each case trains on synthetic faces through the real data pipeline (worker processes) and the real
training step (losses, backward, optimiser). FLOPs of one step (forward + backward, counted by
torch.utils.flop_counter) divided by the measured step time give the achieved GFLOP/s; the peak is a
2048³ fp32 matmul timed in the same run, because machines (and their load) differ.

Steps run in the trainer's default precision (``--precision auto``, :mod:`recast.runtime.precision`)
and thread plan (:mod:`recast.runtime.threads`); the first lines say which, and why. A bf16 step can
pass the fp32 GEMM peak, so where bf16 is used the table also gives the share of a same-run bf16
2048³ matmul.

``--compile`` then compiles the step's forward as ``recast train --compile`` does and adds its
steady ms/iter and its warm-up (the first compiled step's seconds); inductor's cache
(``TORCHINDUCTOR_CACHE_DIR``) makes a second run's warm-up shorter, so run it twice to see both.

``--background N`` measures each case idle, then beside N CPU-bound competitor processes (busy
loops; ``--nice`` sets their priority, ``--sessions`` starts each in a session of its own): once
with the trainer's adaptive thread count (:class:`recast.runtime.threads.ThreadTuner`, what
``recast train`` does) and once with the thread count fixed (what it did before). Throughput under
load is the mean step time, idle ÷ loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from machine import gemm_peak
from recast.faces.facetype import FaceType
from recast.models.growth import GrowthState
from recast.models.registry import create_model, get_entry
from recast.runtime.precision import Precision, choose_precision
from recast.runtime.threads import ThreadTuner, apply_torch_threads, plan_threads
from recast.train.data import BatchPlan, FaceReader, PairDataset, PairSpec, make_loader
from recast.train.distributed import DistInfo
from recast.train.options import resolve_settings
from recast.train.samples import SampleSpec
from recast.train.step import TrainStep, make_part
from recast.train.synthetic import write_synthetic_faceset

PRESETS = {  # label: (registry name, config overrides)
    "cpu": ("cpu", {}),
    "quick96": ("quick96", {}),
    "saehd df-ud 128": ("saehd", {"archi": "df-ud", "resolution": 128}),
    "saehd liae-ud 128": ("saehd", {"archi": "liae-ud", "resolution": 128}),
    "saehd-256": ("saehd-256", {}),
    "amp 224": ("amp", {}),
    "cpu-grow at 64": ("cpu-grow", {}),
    "cpu-grow at 96": ("cpu-grow", {}),
    "cpu-grow at 128": ("cpu-grow", {}),
}
QUICK = ["cpu", "quick96", "saehd df-ud 128"]
GROWTH_STAGES = {"cpu-grow at 64": 0, "cpu-grow at 96": 1, "cpu-grow at 128": 2}
"""Growth stage each ``cpu-grow`` case trains at (96 px mid-fade, so both of its stages run)."""


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


@contextlib.contextmanager
def competitors(count: int, nice: int, sessions: bool = False) -> Iterator[None]:
    """``count`` CPU-bound busy-loop processes at niceness ``nice`` while the block runs.

    With ``sessions`` each runs in a session of its own, like a program started from another
    terminal or the desktop: where Linux's autogroup scheduling is on, every session then gets an
    equal share of the CPU whatever its nice value.
    """
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=lambda: os.nice(nice),
                              start_new_session=sessions) for _ in range(count)]
    try:
        time.sleep(0.5)
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def timed_steps(step: TrainStep, batches: Iterator[dict[str, torch.Tensor]], count: int, first: int,
                tuner: ThreadTuner | None = None) -> tuple[list[float], list[float]]:
    """Step times and data-wait times of ``count`` steps (numbered from ``first``)."""
    times, waits = [], []
    for i in range(count):
        t0 = time.perf_counter()
        batch = next(batches)
        t1 = time.perf_counter()
        step(batch, first + i)
        t2 = time.perf_counter()
        times.append(t2 - t0)
        waits.append(t1 - t0)
        if tuner is not None:
            tuner.observe(t2 - t0)
    return times, waits


def under_load(step: TrainStep, batches: Iterator[dict[str, torch.Tensor]], iterations: int, threads: int,
               background: int, nice: int, sessions: bool) -> dict[str, object]:
    """Mean ms/iter beside ``background`` competitors: adaptive threads (after it settles), then fixed."""
    tuner = ThreadTuner(threads, torch.set_num_threads)
    with competitors(background, nice, sessions):
        timed_steps(step, batches, 4 * tuner.window + tuner.warmup + 4, 100, tuner)  # notice the load, try, settle
        adaptive, _ = timed_steps(step, batches, iterations, 200, tuner)
        chosen = tuner.threads
        torch.set_num_threads(threads)
        fixed, _ = timed_steps(step, batches, max(3, iterations // 3), 300)
    return {"loaded_ms": 1000 * statistics.fmean(adaptive), "chosen": chosen,
            "fixed_ms": 1000 * statistics.fmean(fixed)}


def compiled(step: TrainStep, batches: Iterator[dict[str, torch.Tensor]], iterations: int) -> dict[str, float]:
    """Warm-up seconds (the first step) and median ms/iter once the step's forward is ``torch.compile``d."""
    step.forward = torch.compile(step.forward)  # type: ignore[assignment]
    t0 = time.perf_counter()
    step(next(batches), 1000)
    warmup = time.perf_counter() - t0
    times, _ = timed_steps(step, batches, iterations, 1001)
    return {"compile_warmup_s": warmup, "compiled_ms": 1000 * statistics.median(times)}


def bench(label: str, batch_size: int, faces: tuple[Path, Path], iterations: int, workers: int,
          profile: bool, precision: Precision, load: tuple[int, int, bool] | None = None,
          compile_step: bool = False) -> dict[str, object]:
    name, overrides = PRESETS[label]
    torch.manual_seed(0)
    model = create_model(name, **overrides)
    if label in GROWTH_STAGES:
        stage = GROWTH_STAGES[label]
        model.set_growth(GrowthState(stage, 0.5 if stage == 1 else 1.0, 0))  # type: ignore[operator]
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
    times, waits = timed_steps(step, batches, iterations, 2)
    ms = 1000 * statistics.median(times)
    result = {"label": label, "batch": batch_size, "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
              "gflop_step": flops / 1e9, "ms": ms, "idle_mean_ms": 1000 * statistics.fmean(times),
              "gflops": flops / 1e9 / (ms / 1000), "wait": sum(waits) / sum(times), "split": split}
    if load is not None:
        result.update(under_load(step, batches, iterations, torch.get_num_threads(), *load))
    if compile_step:
        result.update(compiled(step, batches, iterations))
    del batches, loader
    return result


def print_load_table(rows: list[dict[str, object]], background: int, nice: int, sessions: bool) -> None:
    """The background-load table: idle vs loaded mean ms/iter, adaptive and fixed threads."""
    where = "each in its own session" if sessions else "in this session"
    print(f"beside {background} busy process{'es' if background > 1 else ''} at nice {nice}, {where}:")
    print(f"{'preset':<20}{'batch':>6}{'idle ms/iter':>14}{'loaded ms/iter':>16}{'of idle':>9}{'threads':>9}"
          f"{'fixed ms/iter':>15}{'of idle':>9}")
    for r in rows:
        idle = r["idle_mean_ms"]
        print(f"{r['label']:<20}{r['batch']:>6}{idle:>14.0f}{r['loaded_ms']:>16.0f}{idle / r['loaded_ms']:>9.0%}"
              f"{r['chosen']:>9}{r['fixed_ms']:>15.0f}{idle / r['fixed_ms']:>9.0%}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three presets at batch 4, 2 iterations")
    parser.add_argument("--profile", action="store_true", help="split one step by operator class")
    parser.add_argument("--iterations", type=int, default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--presets", nargs="*", default=None, help=f"subset of: {', '.join(PRESETS)}")
    parser.add_argument("--batches", nargs="*", type=int, default=None, help="batch sizes (default 4 8)")
    parser.add_argument("--precision", default="auto", help="auto (the trainer's default), bf16 or fp32")
    parser.add_argument("--compile", action="store_true", help="also torch.compile the step: ms/iter and warm-up")
    parser.add_argument("--background", type=int, default=0, help="also measure beside N busy processes")
    parser.add_argument("--nice", type=int, default=0, help="niceness of the --background processes")
    parser.add_argument("--sessions", action="store_true",
                        help="start each --background process in a session of its own (another terminal)")
    args = parser.parse_args()
    plan = plan_threads(args.threads)
    apply_torch_threads(plan)
    labels = args.presets or (QUICK if args.quick else list(PRESETS))
    batches = args.batches or ([4] if args.quick else [4, 8])
    iterations = args.iterations or (2 if args.quick else 3)
    workers = plan.data_workers if args.workers is None else args.workers
    load = (args.background, args.nice, args.sessions) if args.background else None
    with tempfile.TemporaryDirectory() as tmp:
        faces = (write_synthetic_faceset(Path(tmp) / "src", 16, 0, size=256),
                 write_synthetic_faceset(Path(tmp) / "dst", 16, 1, size=256))
        precision = choose_precision(args.precision, torch.device("cpu"), "train")
        peak = gemm_peak()
        use_bf16_peak = precision.dtype == torch.bfloat16
        # only where bf16 runs natively: emulated, one 2048³ bf16 matmul takes over a minute (0.2 GFLOP/s)
        bf16_peak = gemm_peak(dtype=torch.bfloat16) if use_bf16_peak else float("nan")
        print(f"torch {torch.__version__}; {plan.describe()}; {workers} data workers here")
        print(f"precision: {precision.describe()}")
        print(f"fp32 GEMM 2048³ peak at start: {peak:.1f} GFLOP/s"
              + (f"; bf16 GEMM 2048³: {bf16_peak:.1f} GFLOP/s" if use_bf16_peak else ""))
        print(f"{'preset':<20}{'batch':>6}{'params M':>10}{'GFLOP/step':>12}{'ms/iter':>10}{'GFLOP/s':>9}"
              f"{'of peak':>9}{'data wait':>11}" + (f"{'of bf16 peak':>14}" if use_bf16_peak else "")
              + (f"{'compiled ms/iter':>18}{'warm-up s':>11}" if args.compile else ""))
        rows = []
        for label in labels:
            for batch_size in batches:
                r = bench(label, batch_size, faces, iterations, workers, args.profile, precision, load, args.compile)
                rows.append(r)
                print(f"{r['label']:<20}{r['batch']:>6}{r['params_m']:>10.1f}{r['gflop_step']:>12.1f}"
                      f"{r['ms']:>10.0f}{r['gflops']:>9.1f}{r['gflops'] / peak:>9.0%}{r['wait']:>11.0%}"
                      + (f"{r['gflops'] / bf16_peak:>14.0%}" if use_bf16_peak else "")
                      + (f"{r['compiled_ms']:>18.0f}{r['compile_warmup_s']:>11.1f}" if args.compile else ""),
                      flush=True)
                if r["split"]:
                    print("    time split: " + ", ".join(f"{k} {v:.0%}" for k, v in r["split"].items()))
        print()
        if load is not None:
            print_load_table(rows, *load)
        end_peak = gemm_peak()
        print(f"fp32 GEMM 2048³ at end: {end_peak:.1f} GFLOP/s (shares above use the start value; a shared "
              "machine's load moves both)")


if __name__ == "__main__":
    main()
