"""The identity-specific face enhancer: trained on the src faces as the model renders them, used by merge."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from recast.cli.main import app
from recast.errors import InputError
from recast.merge.settings import MergeSettings
from recast.merge.stage import merge
from recast.models.enhancer import CONFIG_FILE, EnhancedSwapper, load_enhancer
from recast.models.inference import FaceSwapper
from recast.train.enhance import train_enhancer
from test_merge_stage import _tiny_model, write_destination

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = {"size": 128, "channels": 8, "blocks": 1, "patch": 32, "batch_size": 4}


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    _tiny_model(write_destination(tmp_path) / "model")
    return tmp_path


def test_the_enhancer_starts_as_the_identity_and_learns(workspace: Path) -> None:
    untrained = train_enhancer(workspace / "model", workspace / "aligned", workspace / "e0", iterations=0, **SMALL)
    assert untrained.iterations == 0 and untrained.after == pytest.approx(untrained.before, abs=1e-6)
    result = train_enhancer(workspace / "model", workspace / "aligned", workspace / "e1", iterations=60, **SMALL)
    assert result.iterations == 60 and result.after < 0.9 * result.before, result
    saved = json.loads((workspace / "e1" / CONFIG_FILE).read_text())
    assert saved["config"]["size"] == 128 and saved["config"]["model_resolution"] == 64 and saved["pairs"] == 6

    swapper = EnhancedSwapper(FaceSwapper.load(workspace / "model"), load_enhancer(workspace / "e1"))
    faces = np.random.default_rng(0).random((2, 128, 128, 3), dtype=np.float32)
    face, prd, dst = swapper.swap(faces)
    assert swapper.resolution == 128 and face.shape == (2, 128, 128, 3)
    assert prd is not None and dst is not None and prd.shape == dst.shape == (2, 128, 128)

    summary = merge(workspace / "model", workspace / "frames", workspace / "aligned", workspace / "merged",
                    MergeSettings(mask_mode="learned-prd*learned-dst"), enhance=workspace / "e1")
    assert summary.frames_merged == 5 and len(list((workspace / "merged").glob("*.png"))) == 6


def test_a_wrong_folder_or_model_is_refused(workspace: Path) -> None:
    with pytest.raises(InputError, match="not an enhancer folder"):
        load_enhancer(workspace / "model")
    train_enhancer(workspace / "model", workspace / "aligned", workspace / "e", iterations=1, **SMALL)
    (workspace / "e" / CONFIG_FILE).write_text(
        (workspace / "e" / CONFIG_FILE).read_text().replace('"channels": 8', '"channels": 16'))
    with pytest.raises(InputError, match="do not fit"):
        load_enhancer(workspace / "e")
    train_enhancer(workspace / "model", workspace / "aligned", workspace / "e96", iterations=1,
                   **{**SMALL, "size": 96})
    enhancer = load_enhancer(workspace / "e96")
    enhancer.config.model_resolution = 32
    with pytest.raises(InputError, match="trained for a 32 px"):
        EnhancedSwapper(FaceSwapper.load(workspace / "model"), enhancer)


def test_cli_trains_an_enhancer(workspace: Path) -> None:
    result = CliRunner().invoke(app, ["train-enhancer", "-m", str(workspace / "model"), "--src-faces",
                                      str(workspace / "aligned"), "--iterations", "2", "--size", "96"])
    assert result.exit_code == 0, result.output
    assert (workspace / "model_enhancer" / "enhancer.safetensors").is_file()
    assert "recast merge --enhance" in result.output
