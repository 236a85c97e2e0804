"""What this machine is and what recast chose for it: CPU, usable cores, thread plan, precision, GEMM peaks.

    python benchmarks/machine.py

``make bench`` (``run_all.py``) prints this first, so every table below it can be read against the
hardware it was measured on. The fp32 and bf16 2048³ matmul peaks are measured here, in the same
run, so a reader can see whether the precision choice was right: on a CPU that emulates bf16 its
peak is a fraction of fp32's, and ``auto`` must have chosen float32.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

import torch

from recast.runtime.precision import choose_precision, cpu_flags
from recast.runtime.threads import apply_torch_threads, plan_threads


def gemm_peak(size: int = 2048, repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """Best GFLOP/s of a size³ matmul in ``dtype`` with the current torch threads."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best / 1e9


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_report() -> dict[str, object]:
    """Measure and describe this machine (applies the thread plan to torch in this process)."""
    plan = plan_threads()
    apply_torch_threads(plan)
    device = torch.device("cpu")
    train = choose_precision("auto", device, "train")
    # emulated bf16 runs at ~0.2 GFLOP/s: a 2048³ product would take over a minute, so a 512³ one stands in
    bf16_size, bf16_repeats = (2048, 5) if train.dtype == torch.bfloat16 else (512, 1)
    return {
        "cpu": cpu_model(), "machine": platform.machine(), "bf16_flags": sorted(cpu_flags()),
        "threads": plan.describe(), "torch": torch.__version__,
        "precision_train": train.describe(),
        "precision_infer": choose_precision("auto", device, "infer").describe(),
        "gemm_fp32_gflops": round(gemm_peak(), 1), "gemm_bf16_size": bf16_size,
        "gemm_bf16_gflops": round(gemm_peak(bf16_size, bf16_repeats, torch.bfloat16), 1),
    }


def print_report(report: dict[str, object]) -> None:
    """Print :func:`machine_report` as a few lines."""
    print(f"machine: {report['cpu']} ({report['machine']}), bf16 flags: {', '.join(report['bf16_flags']) or 'none'}")
    print(f"threads: {report['threads']}; torch {report['torch']}")
    print(f"precision (training): {report['precision_train']}")
    print(f"precision (merge): {report['precision_infer']}")
    print(f"fp32 GEMM 2048³ peak: {report['gemm_fp32_gflops']} GFLOP/s; bf16 GEMM {report['gemm_bf16_size']}³ peak: "
          f"{report['gemm_bf16_gflops']} GFLOP/s")
    print()


if __name__ == "__main__":
    print_report(machine_report())
