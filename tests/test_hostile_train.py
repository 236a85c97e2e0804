"""Issue #14 cases 4 and 9 (training): errors and signals save, bad faces are skipped, saved settings,
config and weights are validated before anything is allocated, write failures are one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import TinyConfig
from hostile_factory import bomb_png, face_with_mask_png
from recast.errors import InputError
from recast.models.inference import FaceSwapper
from recast.train import TrainOptions, train
from recast.train.options import ProgressEvent

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SRC = Path(__file__).resolve().parents[1] / "src"


def _options(facesets: tuple[Path, Path], config: dict, model_dir: Path, **extra: object) -> TrainOptions:
    values = {"model": "saehd", "model_config": config, "settings": {"batch_size": 2}, "iterations": 2,
              "workers": 0, "preview_every": 0, "autosave_minutes": 0, **extra}
    return TrainOptions(facesets[0], facesets[1], model_dir, **values)  # type: ignore[arg-type]


def _state(model_dir: Path) -> dict:
    return json.loads((model_dir / "state.json").read_text())


@pytest.fixture(scope="module")
def trained(facesets: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory, tiny_config: TinyConfig) -> Path:
    model_dir = tmp_path_factory.mktemp("model") / "m"
    train(_options(facesets, tiny_config(), model_dir))
    return model_dir


def _copy(model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(model_dir, tmp_path / "m"))


def test_error_after_an_iteration_saves_before_it_propagates(facesets: tuple[Path, Path], tmp_path: Path,
                                                             tiny_config: TinyConfig) -> None:
    events: list[str] = []

    def on_event(event: ProgressEvent) -> None:
        events.append(event.message)
        if event.kind == "iteration" and event.iteration == 3:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        train(_options(facesets, tiny_config(), tmp_path / "m", iterations=10, on_event=on_event))
    assert _state(tmp_path / "m")["iteration"] == 3
    assert any("RuntimeError at iteration 4; saved iteration 3" in m for m in events)


def test_unreadable_face_is_skipped_and_listed(facesets: tuple[Path, Path], tmp_path: Path,
                                               tiny_config: TinyConfig) -> None:
    src = Path(shutil.copytree(facesets[0], tmp_path / "src"))
    (src / "zz_bad.jpg").write_bytes(face_with_mask_png(bomb_png(32000, 32000, compressed=False)))
    result = train(TrainOptions(src, facesets[1], tmp_path / "m", model="saehd", model_config=tiny_config(),
                                settings={"batch_size": 7}, iterations=2, workers=0, preview_every=0))
    assert result.iteration == 2 and len(result.skipped_faces) == 1 and "zz_bad.jpg" in result.skipped_faces[0]


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT-ignored-at-start"])
def test_signals_save_and_stop(how: str, facesets: tuple[Path, Path], tmp_path: Path, tiny_config: TinyConfig) -> None:
    script = (
        "import sys\nfrom recast.train import TrainOptions, train\n"
        "def report(event):\n    if event.kind == 'iteration': print('it', event.iteration, flush=True)\n"
        f"r = train(TrainOptions(sys.argv[1], sys.argv[2], sys.argv[3], model='saehd', model_config={tiny_config()!r},"
        " settings={'batch_size': 2}, workers=0, preview_every=0, threads=1, on_event=report))\n"
        "print('status', r.status, r.message, r.iteration, flush=True)\n"
    )
    ignore = how.endswith("ignored-at-start")
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(facesets[0]), str(facesets[1]), str(tmp_path / "m")],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(SRC)},
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore else None,
    )
    assert child.stdout is not None
    deadline = time.monotonic() + 240
    for line in child.stdout:
        if (line.startswith("it ") and int(line.split()[1]) >= 2) or time.monotonic() > deadline:
            break
    child.send_signal(signal.SIGINT if ignore else signal.SIGTERM)
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 0, out
    status = next(line for line in out.splitlines() if line.startswith("status")).split()
    name = "SIGINT" if ignore else "SIGTERM"
    assert status[1:5] == ["interrupted", "stopped", "by", f"{name};"]
    assert _state(tmp_path / "m")["iteration"] == int(status[-1]) >= 2


def test_absurd_batch_size_in_state_refused_naming_the_file(trained: Path, facesets: tuple[Path, Path],
                                                            tmp_path: Path, tiny_config: TinyConfig) -> None:
    model_dir = _copy(trained, tmp_path)
    for value in (1e9, 10**9, "8", True):
        state = _state(model_dir)
        state["settings"]["batch_size"] = value
        (model_dir / "state.json").write_text(json.dumps(state))
        with pytest.raises(InputError, match=r"state\.json: saved training settings are invalid: batch_size"):
            train(_options(facesets, tiny_config(), model_dir, settings={}))


@pytest.mark.parametrize(("key", "value", "message"), [
    ("iteration", -1, "'iteration' must be"),
    ("iteration", "3", "'iteration' must be"),
    ("checkpoint", "/etc", "'checkpoint' must be"),
    ("checkpoint", "checkpoints/../../x", "'checkpoint' must be"),
    ("elapsed_seconds", [], "'elapsed_seconds'"),
    ("settings", [], "'settings' must be an object"),
])
def test_state_type_errors_are_one_line(trained: Path, tmp_path: Path, key: str, value: object, message: str,
                                        facesets: tuple[Path, Path], tiny_config: TinyConfig) -> None:
    model_dir = _copy(trained, tmp_path)
    state = _state(model_dir)
    state[key] = value
    (model_dir / "state.json").write_text(json.dumps(state))
    with pytest.raises(InputError, match=message):
        train(_options(facesets, tiny_config(), model_dir, settings={}))


def test_config_type_error_names_config_json(trained: Path, tmp_path: Path) -> None:
    model_dir = _copy(trained, tmp_path)
    config = json.loads((model_dir / "config.json").read_text())
    config["config"]["ae_dims"] = "16"
    (model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match=r"config\.json: invalid model config: ae_dims must be an integer"):
        FaceSwapper.load(model_dir)


def test_weights_checked_against_a_huge_config_before_allocating(trained: Path, tmp_path: Path) -> None:
    model_dir = _copy(trained, tmp_path)
    config = json.loads((model_dir / "config.json").read_text())
    config["config"].update(resolution=640, ae_dims=1024, e_dims=256, d_dims=256, d_mask_dims=256)
    (model_dir / "config.json").write_text(json.dumps(config))
    script = ("import sys\nfrom recast.errors import InputError\nfrom recast.models.inference import "
              "FaceSwapper\ntry:\n    FaceSwapper.load(sys.argv[1])\nexcept InputError as error:\n    print(error)\n"
              "print(int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM:')).split()[1]))\n")
    done = subprocess.run([sys.executable, "-c", script, str(model_dir)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(SRC)}, timeout=120, check=True)
    message, peak_kib = done.stdout.strip().splitlines()
    assert "weights do not fit config.json" in message
    assert int(peak_kib) / 1024 < 1000, done.stdout


@pytest.mark.parametrize("damage", ["fp16", "nan", "shape"])
def test_foreign_or_broken_weights_refused(trained: Path, tmp_path: Path, damage: str,
                                           facesets: tuple[Path, Path], tiny_config: TinyConfig) -> None:
    model_dir = _copy(trained, tmp_path)
    path = model_dir / _state(model_dir)["checkpoint"] / "weights.safetensors"
    weights = load_file(str(path))
    key = next(k for k in weights if k.startswith("model.") and weights[k].ndim > 1)
    if damage == "fp16":
        weights = {k: v.half() for k, v in weights.items()}
    elif damage == "nan":
        weights[key] = torch.full_like(weights[key], float("nan"))
    else:
        weights[key] = torch.zeros(3, 3)
    save_file(weights, str(path))
    expected = {"fp16": "not float32", "nan": "NaN or infinite", "shape": "weights do not fit"}[damage]
    with pytest.raises(InputError, match=expected):
        FaceSwapper.load(model_dir)
    with pytest.raises(InputError, match=expected):
        train(_options(facesets, tiny_config(), model_dir, settings={}))


def test_bad_history_does_not_stop_training(trained: Path, tmp_path: Path, facesets: tuple[Path, Path],
                                            tiny_config: TinyConfig) -> None:
    model_dir = _copy(trained, tmp_path)
    (model_dir / _state(model_dir)["checkpoint"] / "history.json").write_text('{"iteration": 5, "src": "x"}')
    result = train(_options(facesets, tiny_config(), model_dir, settings={}, iterations=None, more=1))
    assert result.iteration == 3 and result.history["iteration"] == [3]


def test_file_where_the_model_folder_should_be(facesets: tuple[Path, Path], tmp_path: Path,
                                               tiny_config: TinyConfig) -> None:
    (tmp_path / "m").write_text("not a folder")
    with pytest.raises(InputError, match="cannot write: a file is in the way"):
        train(_options(facesets, tiny_config(), tmp_path / "m" / "sub"))


def test_weights_hash_changes_when_the_same_folder_trains_further(trained: Path, tmp_path: Path,
                                                                  facesets: tuple[Path, Path],
                                                                  tiny_config: TinyConfig) -> None:
    model_dir = _copy(trained, tmp_path)
    before = FaceSwapper.load(model_dir).weights_sha256
    train(_options(facesets, tiny_config(), model_dir, settings={}, iterations=None, more=1))
    after = FaceSwapper.load(model_dir).weights_sha256
    assert before and after and before != after
