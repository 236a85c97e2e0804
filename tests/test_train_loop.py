"""The one training-loop shell (issue #25 Deliver 4, issue #28 case 4): the real CLI commands of the
face trainer, XSeg and the enhancer save their progress and exit cleanly on SIGTERM; an error after
some iterations saves them before it propagates; train-enhancer takes the workspace lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import TinyConfig
from faces_factory import write_whole_faceset
from recast.cli.main import app
from recast.locking import WorkspaceBusy, workspace_lock
from recast.models.enhancer import CONFIG_FILE, load_enhancer
from recast.models.inference import FaceSwapper
from recast.models.xseg_inference import load_xseg
from recast.train import TrainOptions, train
from recast.train.options import ProgressEvent
from recast.train.xseg_trainer import XSegTrainOptions, train_xseg
from test_merge_stage import _tiny_model, write_destination

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RECAST = Path(sys.executable).with_name("recast")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def xseg_faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_whole_faceset(tmp_path_factory.mktemp("xseg") / "aligned", 128)


def _terminate_when(command: list[str], ready: Path, text: str = "", timeout: float = 300) -> tuple[int, str]:
    """Run ``command``; once ``ready`` exists and holds ``text`` (training is under way), send SIGTERM.
    Returns the exit code and everything it wrote."""
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    deadline = time.monotonic() + timeout
    while not (ready.exists() and (not text or text in ready.read_text())) and child.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert child.poll() is None, f"ended before it was stopped: {child.communicate()[0]}"
    child.send_signal(signal.SIGTERM)
    out, _ = child.communicate(timeout=180)
    return child.returncode, out


def _state(model_dir: Path) -> dict:
    return json.loads((model_dir / "state.json").read_text())


def test_xseg_train_saves_and_exits_on_sigterm(xseg_faces: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "xseg"
    code, out = _terminate_when(
        [str(RECAST), "xseg", "train", str(xseg_faces), "--model-dir", str(model_dir), "--model", "xseg-cpu",
         "--batch-size", "2", "--workers", "0", "--threads", "1", "--device", "cpu", "--preview-every", "1"],
        model_dir / "previews" / "preview.png")
    assert code == 0, out
    assert "interrupted" in out and "SIGTERM" in out, out
    assert _state(model_dir)["iteration"] >= 1
    model, iteration, _ = load_xseg(model_dir)
    assert iteration == _state(model_dir)["iteration"] and model is not None


def test_face_train_saves_and_exits_on_sigterm(facesets: tuple[Path, Path], tmp_path: Path,
                                               tiny_config: TinyConfig) -> None:
    model_dir = tmp_path / "m"
    flags = [f"--{key.replace('_', '-')}={value}" for key, value in tiny_config().items()]
    code, out = _terminate_when(
        [str(RECAST), "train", "--src", str(facesets[0]), "--dst", str(facesets[1]), "--model-dir", str(model_dir),
         "--model", "saehd", *flags, "--batch-size", "2", "--workers", "0", "--threads", "1", "--device", "cpu",
         "--preview-every", "1"],
        model_dir / "previews" / "preview.png")
    assert code == 0, out
    assert "interrupted" in out and "SIGTERM" in out, out
    assert _state(model_dir)["iteration"] >= 1
    assert FaceSwapper.load(model_dir).resolution == 64


def test_train_enhancer_saves_and_exits_on_sigterm(tmp_path: Path) -> None:
    _tiny_model(write_destination(tmp_path) / "model")
    out_dir = tmp_path / "enhancer"
    log = out_dir / "recast-train-enhancer.log"
    code, out = _terminate_when(
        [str(RECAST), "train-enhancer", "--model-dir", str(tmp_path / "model"), "--src-faces",
         str(tmp_path / "aligned"), "-o", str(out_dir), "--iterations", "10000000", "--size", "64",
         "--device", "cpu"],
        log, "training from iteration 0")
    assert code == 0, out
    assert "interrupted" in out and "SIGTERM" in out, out
    saved = json.loads((out_dir / CONFIG_FILE).read_text())
    assert saved["iterations"] >= 1
    assert load_enhancer(out_dir).config.size == 64


def test_an_error_after_some_iterations_saves_them_first(facesets: tuple[Path, Path], xseg_faces: Path,
                                                         tmp_path: Path, tiny_config: TinyConfig) -> None:
    infos: list[str] = []

    def fail_at_three(event: ProgressEvent) -> None:
        if event.kind == "iteration" and event.iteration == 3:
            raise RuntimeError("the progress display broke")
        if event.kind == "info":
            infos.append(event.message)

    with pytest.raises(RuntimeError, match="display broke"):
        train(TrainOptions(facesets[0], facesets[1], tmp_path / "m", model="saehd", model_config=tiny_config(),
                           settings={"batch_size": 2}, iterations=10, workers=0, preview_every=0,
                           autosave_minutes=0, on_event=fail_at_three))
    assert _state(tmp_path / "m")["iteration"] == 3
    assert any("RuntimeError at iteration 4; saved iteration 3" in line for line in infos), infos

    with pytest.raises(RuntimeError, match="display broke"):
        train_xseg(XSegTrainOptions([xseg_faces], tmp_path / "x", model="xseg-cpu", settings={"batch_size": 2},
                                    iterations=10, workers=0, preview_every=0, threads=1, on_event=fail_at_three))
    assert _state(tmp_path / "x")["iteration"] == 3
    assert load_xseg(tmp_path / "x")[1] == 3


def test_train_enhancer_takes_the_workspace_lock(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    (workspace / "data_src").mkdir(parents=True)
    (workspace / "data_dst").mkdir()
    _tiny_model(workspace / "model" / "m")
    with workspace_lock(workspace, "studio job 7: train"):
        result = CliRunner().invoke(app, ["train-enhancer", "-m", str(workspace / "model" / "m"), "--src-faces",
                                          str(workspace / "data_src" / "aligned"), "--iterations", "1"])
    assert isinstance(result.exception, WorkspaceBusy), result.output
    assert "in use by studio job 7" in str(result.exception)
    assert not (workspace / "model" / "m_enhancer").exists()


def test_autosave_and_backups_come_from_the_shell(xseg_faces: Path, tmp_path: Path) -> None:
    saves: list[int] = []

    def note(event: ProgressEvent) -> None:
        if event.kind == "save":
            saves.append(event.iteration)

    result = train_xseg(XSegTrainOptions([xseg_faces], tmp_path / "x", model="xseg-cpu", settings={"batch_size": 2},
                                         more=3, workers=0, preview_every=0, threads=1, autosave_minutes=1e-9,
                                         autobackup_hours=1e-12, backup_count=2, on_event=note))
    assert result.status == "done" and result.iteration == 3
    assert saves == [0, 1, 2, 3, 3]  # created, every iteration (with a backup), and at the end
    backups = sorted(p.name for p in (tmp_path / "x" / "backups").iterdir() if not p.name.startswith("."))
    assert backups == ["01", "02"]
    assert json.loads((tmp_path / "x" / "backups" / "01" / "state.json").read_text())["iteration"] == 3
