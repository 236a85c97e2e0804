"""User mistakes from the command line and the Python API: one line naming the option, exit 1,
nothing written, no worker started (issue #15's probe cases)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import torch

from media_factory import astronaut_bgr
from recast.errors import OptionError
from recast.extract.stage import ExtractOptions, extract
from recast.faces.facetype import FaceType
from recast.runtime.devices import resolve_device

RECAST = [sys.executable, "-m", "recast.cli"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Run ``recast ARGS`` in a subprocess (wide terminal, so messages are not wrapped)."""
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([*RECAST, *args], capture_output=True, text=True, env=env, timeout=180)


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> str:
    """Exit status 1, exactly one ``error:`` line containing ``words``, no traceback."""
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert all(word in lines[0] for word in words), lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert "BrokenProcessPool" not in result.stderr + result.stdout
    return lines[0]


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("frames")
    cv2.imwrite(str(folder / "00001.png"), astronaut_bgr())
    return folder


@pytest.mark.parametrize(("args", "words"), [
    (["--detector", "onnx"], ["--detector onnx", "--detector-model"]),
    (["--detector", "retinaface"], ["--detector", "retinaface"]),
    (["--detector", "onnx", "--detector-model", "missing.onnx"], ["missing.onnx"]),
    (["--face-type", "cheek"], ["cheek"]),
    (["--reference", "nobody.jpg"], ["nobody.jpg"]),
])
def test_cli_extract_options_checked_before_anything_is_written(
    args: list[str], words: list[str], frames: Path, tmp_path: Path,
) -> None:
    out = tmp_path / "aligned"
    result = run_cli("extract", str(frames), str(out), "--workers", "2", *args)
    assert_one_line_error(result, *words)
    assert not out.exists()


def test_api_extract_with_workers_reports_a_bad_detector_before_starting(frames: Path, tmp_path: Path) -> None:
    out = tmp_path / "aligned"
    with pytest.raises(OptionError, match="retinaface"):
        extract(frames, out, ExtractOptions(detector="retinaface", workers=2))
    with pytest.raises(OptionError, match="--detector-model"):
        extract(frames, out, ExtractOptions(detector="onnx", workers=2))
    assert not out.exists()


def test_extract_options_accept_face_type_codes() -> None:
    assert ExtractOptions(face_type="wf").face_type is FaceType.WHOLE
    assert ExtractOptions(face_type="head").face_type is FaceType.HEAD
    with pytest.raises(OptionError, match="face type"):
        ExtractOptions(face_type="chin")


def test_device_auto_and_bad_devices() -> None:
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("CPU") == "cpu"
    for bad in ("gpu", "cuda:99", "xla"):
        with pytest.raises(OptionError, match="--device"):
            resolve_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch without a usable CUDA GPU")
@pytest.mark.parametrize(("command", "device"), [("train", "cuda"), ("merge", "mps"), ("merge", "cuda:1")])
def test_cli_device_not_available_is_one_line(command: str, device: str, tmp_path: Path) -> None:
    if command == "train":
        args = ["train", "--src", str(tmp_path), "--dst", str(tmp_path), "--model-dir", str(tmp_path / "m")]
    else:
        args = ["merge", "-m", str(tmp_path / "m"), "-f", str(tmp_path), "-a", str(tmp_path), "-o", str(tmp_path / "o")]
    assert_one_line_error(run_cli(*args, "--device", device), f"--device {device}")
    assert not (tmp_path / "m").exists() and not (tmp_path / "o").exists()


def test_cli_device_auto_says_which_device(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    result = run_cli("train", "--src", str(missing), "--dst", str(missing), "--model-dir", str(tmp_path / "m"))
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert f"device: {expected} (auto)" in result.stderr
    assert_one_line_error(result, "missing")
