"""``recast train`` as users run it: --iterations is the target iteration, --more adds, one status line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from conftest import TinyConfig
from recast.cli.main import app
from recast.cli.trainstatus import TrainStatus
from recast.errors import OptionError
from recast.train.options import ProgressEvent

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RUN = ["--model", "saehd", "--batch-size", "2", "--workers", "0", "--preview-every", "0", "--autosave-minutes", "0",
       "--device", "cpu"]


def _flags(tiny_config: TinyConfig) -> list[str]:
    """The tiny full-face model as ``recast train`` flags, and :data:`RUN`."""
    model = [flag for key, value in tiny_config(face_type="full").items()
             for flag in (f"--{key.replace('_', '-')}", str(value))]
    return [*model, *RUN]


def _train(facesets: tuple[Path, Path], flags: list[str], model_dir: Path, *limits: str) -> object:
    args = ["train", "--src", str(facesets[0]), "--dst", str(facesets[1]), "--model-dir", str(model_dir), *flags,
            *limits]
    return CliRunner().invoke(app, args)


def _iteration(model_dir: Path) -> int:
    return int(json.loads((model_dir / "state.json").read_text())["iteration"])


def test_iterations_is_the_target_and_more_adds(facesets: tuple[Path, Path], tmp_path: Path,
                                                tiny_config: TinyConfig) -> None:
    flags = _flags(tiny_config)
    model_dir = tmp_path / "m"
    assert _train(facesets, flags, model_dir, "--iterations", "3").exit_code == 0
    assert _iteration(model_dir) == 3
    assert _train(facesets, flags, model_dir, "--iterations", "3").exit_code == 0  # already there: no more training
    assert _iteration(model_dir) == 3
    assert _train(facesets, flags, model_dir, "--more", "2").exit_code == 0
    assert _iteration(model_dir) == 5
    both = _train(facesets, flags, tmp_path / "new", "--iterations", "2", "--more", "1")
    assert isinstance(both.exception, OptionError) and "not both" in str(both.exception)
    assert not (tmp_path / "new").exists()


def test_status_line_shows_target_eta_and_preview(tmp_path: Path) -> None:
    console = Console(file=open(tmp_path / "out.txt", "w"), width=300)  # noqa: SIM115 (closed below)
    status = TrainStatus(console, Path("m/previews/preview.png"), iterations=None, more=100, minutes=None)
    status(ProgressEvent("iteration", 11, 500.0, {"src": 0.25, "dst": 0.5}))
    line = status.line(ProgressEvent("iteration", 60, 500.0, {"src": 0.25, "dst": 0.5}))
    assert "iteration 60 / 110" in line and "500 ms/iter" in line and "src 0.2500" in line
    assert "ETA 0:00:25" in line and "elapsed 0:00:00" in line and "m/previews/preview.png" in line
    console.file.close()


def test_run_log_and_log_file(facesets: tuple[Path, Path], tmp_path: Path, tiny_config: TinyConfig) -> None:
    model_dir, log_file = tmp_path / "m", tmp_path / "logs" / "all.log"
    args = ["-v", "--log-file", str(log_file), "train", "--src", str(facesets[0]), "--dst", str(facesets[1]),
            "--model-dir", str(model_dir), *_flags(tiny_config), "--iterations", "1"]
    outcome = CliRunner().invoke(app, args)
    assert outcome.exit_code == 0, outcome.output
    run_log = (model_dir / "recast-train.log").read_text()
    assert "recast 0.1.0 train:" in run_log and "saved iteration 1" in run_log and "train finished" in run_log
    everything = log_file.read_text()
    assert "recast.train.trainer" in everything and "done at iteration 1" in everything
    assert "done at iteration 1" in " ".join(outcome.output.split())  # -v: library records on the console too


def test_model_card(facesets: tuple[Path, Path], tmp_path: Path, tiny_config: TinyConfig) -> None:
    flags = _flags(tiny_config)
    model_dir = tmp_path / "m"
    consent = "Both people gave written consent on 2025-03-01."
    assert _train(facesets, flags, model_dir, "--iterations", "1", "--consent", consent).exit_code == 0
    assert _train(facesets, flags, model_dir, "--more", "1").exit_code == 0
    card = json.loads((model_dir / "model_card.json").read_text())
    assert card["iterations"] == 2 and card["consent_statement"] == consent and card["model"] == "saehd"
    assert [(s["role"], s["name"], s["faces"]) for s in card["data_sources"]] == [("src", "src", 6), ("dst", "dst", 6)]
    assert card["architecture"]["resolution"] == 64 and card["settings"]["batch_size"] == 2
    text = (model_dir / "MODEL_CARD.md").read_text()
    assert consent in text and "NOT licensed for commercial use" in text and "300-W" in text
    assert str(tmp_path) not in text + json.dumps(card)  # names, not absolute paths
