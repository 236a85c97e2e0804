"""Hardware-dependent choices (recast.runtime), with every capability faked, and the paths they pick.

No test here reads a clock: the thread tuner is driven with synthetic step times, and the precision
choice with faked CPU flags and CUDA compute capabilities.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import TinyConfig
from recast.cli.main import app
from recast.errors import OptionError
from recast.models.inference import FaceSwapper
from recast.models.registry import create_model
from recast.runtime import precision as P
from recast.runtime import threads as T
from recast.train import Trainer, TrainOptions
from recast.train.distributed import DistInfo
from recast.train.options import TrainSettings
from recast.train.step import TrainStep, make_part

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CPU, CUDA = torch.device("cpu"), torch.device("cuda", 0)


@pytest.fixture
def cpu_without_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CPU with AVX512 but no AVX512-BF16/AMX, where oneDNN's own check still claims bf16."""
    monkeypatch.setattr(P, "cpu_flags", lambda: frozenset())
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)


@pytest.fixture
def cpu_with_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(P, "cpu_flags", lambda: frozenset({"avx512_bf16"}))


def fake_cuda(monkeypatch: pytest.MonkeyPatch, major: int, minor: int) -> None:
    monkeypatch.setattr(P, "cuda_capability", lambda device: (major, minor))


# ----------------------------------------------------------------------------------------- precision
@pytest.mark.usefixtures("cpu_without_bf16")
def test_cpu_without_native_bf16_picks_float32_and_says_why() -> None:
    for purpose in ("train", "infer"):
        choice = P.choose_precision("auto", CPU, purpose)
        assert choice.dtype is None and choice.name == "float32"
        assert "no AVX512-BF16 or AMX" in choice.describe() and "emulated" in choice.describe()


@pytest.mark.usefixtures("cpu_without_bf16")
def test_forced_bf16_is_obeyed_with_a_warning_on_a_cpu_without_it() -> None:
    choice = P.choose_precision("bf16", CPU)
    assert choice.dtype == torch.bfloat16
    assert "3× slower" in choice.reason


@pytest.mark.parametrize("flag", ["avx512_bf16", "amx_tile", "amx_bf16"])
def test_cpu_with_a_bf16_instruction_set_picks_bf16(monkeypatch: pytest.MonkeyPatch, flag: str) -> None:
    monkeypatch.setattr(P, "cpu_flags", lambda: frozenset({flag}))
    choice = P.choose_precision("auto", CPU)
    assert choice.dtype == torch.bfloat16 and flag in choice.reason


@pytest.mark.usefixtures("cpu_with_bf16")
def test_bf16_flags_without_onednn_fall_back_to_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert P.choose_precision("auto", CPU).dtype is None


@pytest.mark.usefixtures("cpu_with_bf16")
def test_forced_fp32_wins_over_native_bf16() -> None:
    assert P.choose_precision("fp32", CPU).dtype is None


@pytest.mark.parametrize(("capability", "train", "infer"), [
    ((9, 0), torch.bfloat16, torch.bfloat16),   # Hopper
    ((8, 0), torch.bfloat16, torch.bfloat16),   # Ampere
    ((7, 5), torch.float16, torch.float16),     # Turing: fp16 tensor cores, bf16 only emulated
    ((7, 0), torch.float16, torch.float16),     # Volta
    ((6, 1), None, None),                       # Pascal: no tensor cores
])
def test_cuda_auto_follows_compute_capability(monkeypatch: pytest.MonkeyPatch, capability: tuple[int, int],
                                              train: torch.dtype | None, infer: torch.dtype | None) -> None:
    fake_cuda(monkeypatch, *capability)
    chosen = P.choose_precision("auto", CUDA, "train")
    assert chosen.dtype == train
    assert chosen.loss_scaling == (train == torch.float16)
    assert P.choose_precision("auto", CUDA, "infer").dtype == infer
    assert f"{capability[0]}.{capability[1]}" in chosen.reason


def test_cuda_forced_bf16_on_turing_is_obeyed_and_called_emulated(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cuda(monkeypatch, 7, 5)
    choice = P.choose_precision("bf16", CUDA)
    assert choice.dtype == torch.bfloat16 and "emulates" in choice.reason
    assert P.choose_precision("fp16", CUDA).dtype == torch.float16


def test_unknown_names_and_cpu_fp16_are_refused() -> None:
    with pytest.raises(OptionError, match="--precision 'fp8'"):
        P.choose_precision("fp8", CPU)
    with pytest.raises(OptionError, match="fp16 needs a CUDA device"):
        P.choose_precision("fp16", CPU)


def test_cpu_flags_reports_only_what_proc_cpuinfo_or_cpuinfo_probes_say() -> None:
    flags = P.cpu_flags()
    assert flags <= {"avx512_bf16", "amx_bf16", "amx_tile"}
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        listed = set(next(line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")).split())
        assert ("avx512_bf16" in flags) == ("avx512_bf16" in listed)


# --------------------------------------------------------------------- precision in the stages
def _train_args(facesets: tuple[Path, Path], config: dict, model_dir: Path, *extra: str) -> list[str]:
    args = ["train", "--src", str(facesets[0]), "--dst", str(facesets[1]), "--model-dir", str(model_dir),
            "--model", "saehd", "--iterations", "1", "--workers", "0", "--threads", "1", "--preview-every", "0",
            "--batch-size", "2"]
    for key, value in config.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args + list(extra)


@pytest.mark.usefixtures("cpu_without_bf16")
def test_train_and_merge_pick_float32_on_a_cpu_without_bf16_and_say_so(facesets: tuple[Path, Path],
                                                                         tmp_path: Path,
                                                                         tiny_config: TinyConfig) -> None:
    result = CliRunner().invoke(app, _train_args(facesets, tiny_config(face_type="full"), tmp_path / "m"))
    assert result.exit_code == 0, result.output
    assert "float32 (this CPU has no AVX512-BF16 or AMX" in result.output
    assert FaceSwapper.load(tmp_path / "m").precision.dtype is None


@pytest.mark.usefixtures("cpu_without_bf16")
def test_train_obeys_a_forced_bf16(facesets: tuple[Path, Path], tmp_path: Path, tiny_config: TinyConfig) -> None:
    args = _train_args(facesets, tiny_config(face_type="full"), tmp_path / "m", "--precision", "bf16")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "bfloat16 autocast (asked for" in result.output
    assert FaceSwapper.load(tmp_path / "m", precision="bf16").precision.dtype == torch.bfloat16


@pytest.mark.usefixtures("cpu_with_bf16")
def test_train_picks_bf16_where_the_cpu_has_it(facesets: tuple[Path, Path], tmp_path: Path,
                                               tiny_config: TinyConfig) -> None:
    trainer = Trainer(TrainOptions(facesets[0], facesets[1], tmp_path / "m", model="saehd",
                                   model_config=tiny_config(face_type="full"),
                                   settings={"batch_size": 2}, workers=0, threads=1, preview_every=0))
    assert trainer.step.precision.dtype == torch.bfloat16
    trainer.close()


def test_float16_steps_use_loss_scaling_and_learn(tiny_config: TinyConfig) -> None:
    """The path ``auto`` takes on pre-Ampere CUDA GPUs, run on the CPU: fp16 autocast + GradScaler.

    The encoder is frozen because PyTorch's CPU float16 backward of its 5×5 stride-2 convolutions
    returns NaN (a CPU kernel limitation; CUDA is unaffected); everything after it learns.
    """
    torch.manual_seed(0)
    model = create_model("saehd", **tiny_config(face_type="full"))
    model.encoder.requires_grad_(False)
    settings = TrainSettings(batch_size=2, lr=1e-3, optimizer="adam", random_warp=False)
    fp16 = P.Precision(torch.float16, "test")
    step = TrainStep(make_part(model, settings, CPU, 0), settings, DistInfo(), CPU, precision=fp16)
    assert step.model_part.scaler is not None
    rng = np.random.default_rng(0)
    images = {k: torch.from_numpy(rng.random((2, 3, 64, 64), dtype=np.float32))
              for k in ("src_warped", "src_target", "dst_warped", "dst_target")}
    masks = {k: torch.ones(2, 1, 64, 64) for k in ("src_mask", "dst_mask", "src_em", "dst_em")}
    batch = {**images, **masks}
    losses = [step(batch, i)["total"] for i in range(12)]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert 0 < step.model_part.scaler.get_scale() < float("inf")


# ------------------------------------------------------------------------------------- threads
def test_thread_plan_for_small_and_large_machines() -> None:
    small = T.plan_threads(cores=2)
    assert (small.torch_threads, small.data_workers, small.analysis_workers, small.io_threads) == (2, 1, 2, 2)
    large = T.plan_threads(cores=32)
    assert (large.torch_threads, large.data_workers, large.analysis_workers, large.io_threads) == (32, 6, 8, 4)
    assert T.plan_threads(threads=3, cores=2).torch_threads == 3
    shared = T.plan_threads(cores=8, processes=2)  # two torchrun ranks on one 8-core machine
    assert shared.torch_threads == 4 and shared.cores == 4


def test_usable_cores_follow_affinity_and_cgroup_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(T.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(T.os, "cpu_count", lambda: 64)
    monkeypatch.setattr(T, "cgroup_cpu_limit", lambda: None)
    assert T.usable_cores() == 4
    monkeypatch.setattr(T, "cgroup_cpu_limit", lambda: 2)
    assert T.usable_cores() == 2


def test_cgroup_quota_files(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert T.cgroup_cpu_limit(tmp_path) is None
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert T.cgroup_cpu_limit(tmp_path) == 2
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert T.cgroup_cpu_limit(v1) is None
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    assert T.cgroup_cpu_limit(v1) == 3


def test_worker_processes_start_with_one_thread() -> None:
    code = ("from recast.runtime.threads import init_worker_process; init_worker_process(); "
            "import os, torch; print(torch.get_num_threads(), os.environ['OMP_NUM_THREADS'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1", "1"]


def test_thread_ladder() -> None:
    assert T.thread_ladder(8) == [8, 4, 2, 1]
    assert T.thread_ladder(6) == [6, 3, 1]
    assert T.thread_ladder(1) == [1]


class FakeMachine:
    """Step times of a 2-core machine: 2 threads are fast idle and collapse beside a busy program."""

    def __init__(self) -> None:
        self.threads, self.loaded, self.calls = 2, False, []

    def set_threads(self, n: int) -> None:
        self.threads = n
        self.calls.append(n)

    def step_time(self) -> float:
        if self.loaded:
            return {2: 4.0, 1: 0.6}[self.threads]
        return {2: 0.3, 1: 0.55}[self.threads]


def _drive(tuner: T.ThreadTuner, machine: FakeMachine, steps: int) -> None:
    for _ in range(steps):
        tuner.observe(machine.step_time())


def test_tuner_keeps_all_threads_on_an_idle_machine() -> None:
    machine = FakeMachine()
    tuner = T.ThreadTuner(2, machine.set_threads, recheck_every=50)
    _drive(tuner, machine, 200)
    assert tuner.threads == 2 and machine.threads == 2 and tuner.switches == 0
    assert machine.calls.count(1) == 4  # one short trial of 1 thread after warm-up and at each recheck


def test_tuner_drops_a_thread_under_load_and_takes_it_back_after() -> None:
    machine = FakeMachine()
    tuner = T.ThreadTuner(2, machine.set_threads, recheck_every=50)
    _drive(tuner, machine, 20)
    machine.loaded = True
    _drive(tuner, machine, 3 * tuner.window + 3)  # notice (one window), try 1, re-measure 2
    assert tuner.threads == 1 and machine.threads == 1 and tuner.switches == 1
    _drive(tuner, machine, 30)
    assert tuner.threads == 1
    machine.loaded = False
    _drive(tuner, machine, 50 + 3 * tuner.window + 3)  # the next periodic recheck finds 2 faster
    assert tuner.threads == 2 and tuner.switches == 2


def test_tuner_keeps_the_incumbent_on_a_tie() -> None:
    calls: list[int] = []
    tuner = T.ThreadTuner(4, calls.append, recheck_every=10)
    for _ in range(100):
        tuner.observe(1.0)
        assert tuner.trying or tuner.threads == 4
    assert tuner.switches == 0 and set(calls) <= {2, 4} and calls.count(2) >= 4


def test_trainer_adapts_threads_only_when_none_are_fixed(facesets: tuple[Path, Path], tmp_path: Path,
                                                         tiny_config: TinyConfig) -> None:
    common = {"model": "saehd", "model_config": tiny_config(face_type="full"), "settings": {"batch_size": 2},
              "workers": 0, "preview_every": 0}
    fixed = Trainer(TrainOptions(facesets[0], facesets[1], tmp_path / "a", threads=1, **common))
    assert fixed.tuner is None and torch.get_num_threads() == 1
    fixed.close()
    adaptive = Trainer(TrainOptions(facesets[0], facesets[1], tmp_path / "b", **common))
    plan = T.plan_threads()
    assert torch.get_num_threads() == plan.torch_threads
    assert (adaptive.tuner is not None) == (plan.torch_threads > 1)
    adaptive.close()
