"""Data parallelism: 2 CPU processes (torchrun, gloo) at global batch 8 match 1 process at batch 8."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MakeFacesets, TinyConfig
from recast.train import TrainOptions, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SETTINGS = {"batch_size": 8, "optimizer": "adam", "lr": 2e-3}
ITERATIONS = 20


_CHILD = """
import sys
from recast.train import TrainOptions, train
if __name__ == "__main__":
    train(TrainOptions(sys.argv[1], sys.argv[2], sys.argv[3], model="saehd", model_config={tiny!r},
                       settings={settings!r}, iterations={iterations}, workers=0, preview_every=0, seed=5,
                       threads=1))
"""


def test_two_gloo_processes_match_one_process(tmp_path: Path, tiny_config: TinyConfig,
                                               make_facesets: MakeFacesets) -> None:
    config = tiny_config(archi="liae-ud")
    src, dst = make_facesets(8)  # a batch of 8: 4 faces for each process
    single = train(TrainOptions(src, dst, tmp_path / "one", model="saehd", model_config=config, settings=SETTINGS,
                                iterations=ITERATIONS, workers=0, preview_every=0, seed=5, threads=1))
    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(tiny=config, settings=SETTINGS, iterations=ITERATIONS))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
           str(src), str(dst), str(tmp_path / "two")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads((tmp_path / "two" / "state.json").read_text())
    history = json.loads((tmp_path / "two" / state["checkpoint"] / "history.json").read_text())
    assert state["iteration"] == ITERATIONS
    assert history["src"][0] == pytest.approx(single.history["src"][0], rel=1e-5)
    assert history["src"][-1] == pytest.approx(single.history["src"][-1], rel=1e-3)
    assert history["dst"][-1] == pytest.approx(single.history["dst"][-1], rel=1e-3)
    assert not (tmp_path / "two" / "checkpoints" / ".tmp-000000020").exists()
