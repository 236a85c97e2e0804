"""Weights safety (no unpickling) and crash safety of checkpoints (kill -9 during saves)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TinyConfig
from recast.errors import InputError
from recast.models.checkpoint import backup, load_checkpoint, load_weights_file
from recast.models.inference import FaceSwapper
from recast.train import TrainOptions, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _model(facesets: tuple[Path, Path], config: dict, model_dir: Path, iterations: int = 1) -> Path:
    train(TrainOptions(facesets[0], facesets[1], model_dir, model="saehd", model_config=config,
                       settings={"batch_size": 2}, iterations=iterations, workers=0, preview_every=0,
                       threads=1))
    return model_dir


def test_pickle_payload_weights_refused_without_running(facesets: tuple[Path, Path], tmp_path: Path,
                                                        tiny_config: TinyConfig) -> None:
    model_dir = _model(facesets, tiny_config(), tmp_path / "m")
    marker = tmp_path / "pwned"
    # A protocol-0 pickle that would call os.system("touch <marker>") if anything unpickled it.
    payload = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    state = json.loads((model_dir / "state.json").read_text())
    weights = model_dir / state["checkpoint"] / "weights.safetensors"
    weights.write_bytes(payload)
    with pytest.raises(InputError, match="never unpickles"):
        FaceSwapper.load(model_dir)
    with pytest.raises(InputError):
        load_weights_file(weights)
    # A torch.save() zip (pickle inside) is refused the same way.
    torch_file = tmp_path / "torch.safetensors"
    torch.save({"w": torch.zeros(2)}, torch_file)
    with pytest.raises(InputError):
        load_weights_file(torch_file)
    assert not marker.exists()


def test_backups_rotate(facesets: tuple[Path, Path], tmp_path: Path, tiny_config: TinyConfig) -> None:
    model_dir = _model(facesets, tiny_config(), tmp_path / "m")
    for _ in range(3):
        backup(model_dir, count=2)
    names = sorted(p.name for p in (model_dir / "backups").iterdir())
    assert names == ["01", "02"]
    assert FaceSwapper.load(model_dir / "backups" / "02").resolution == 64


_CHILD = """
import sys
from recast.train import TrainOptions, train

def report(event):
    if event.kind == "save":
        print("saved", event.iteration, flush=True)

if __name__ == "__main__":
    train(TrainOptions(sys.argv[1], sys.argv[2], sys.argv[3], model="saehd", model_config={tiny!r},
                       settings={{"batch_size": 2}}, iterations=100000, workers=0, preview_every=0,
                       autosave_minutes=1e-9, threads=1, on_event=report))
"""

KILLS = 30


@pytest.mark.slow
def test_kill_9_during_30_saves_loses_at_most_one_save(facesets: tuple[Path, Path], tmp_path: Path,
                                                       tiny_config: TinyConfig) -> None:
    """A trainer that saves after every iteration is SIGKILLed at a random moment, 30 times over.

    Each time the model must load, with finite weights, at the last save the trainer reported as
    finished or the one it was writing when killed (at most one save interval lost).
    """
    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(tiny=tiny_config()))
    model_dir = tmp_path / "m"
    rng = np.random.default_rng(0)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    loaded: list[int] = []
    for _ in range(KILLS):
        proc = subprocess.Popen([sys.executable, str(script), str(facesets[0]), str(facesets[1]), str(model_dir)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        first = proc.stdout.readline()  # blocks until this run has finished its first save
        assert first.startswith("saved"), proc.stderr.read() if proc.stderr else first
        time.sleep(float(rng.uniform(0.0, 0.3)))  # saves follow each other back to back: land inside one
        proc.send_signal(signal.SIGKILL)
        reported = [int(line.split()[1]) for line in [first, *proc.stdout.read().splitlines()]]
        proc.wait()
        swapper = FaceSwapper.load(model_dir)
        checkpoint = load_checkpoint(model_dir)
        assert checkpoint is not None and checkpoint.state["iteration"] == swapper.iteration
        assert all(torch.isfinite(t).all() for t in checkpoint.weights.values())
        assert reported[-1] <= swapper.iteration <= reported[-1] + 1, (reported[-1], swapper.iteration)
        loaded.append(swapper.iteration)
    assert loaded == sorted(loaded) and len(set(loaded)) == KILLS
