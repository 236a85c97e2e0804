"""Issue #14 case 6: merge never reuses frames made by other weights, including the same model folder
trained further; the record and the sidecar name the weights (sha256 of the checkpoint file)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from recast.errors import OptionError
from recast.merge.settings import MergeSettings
from recast.merge.stage import RECORD_NAME, MergeSummary, merge
from recast.provenance.label import read_sidecar
from test_merge_models import FunctionModel, invert, mirror
from test_merge_stage import workspace  # noqa: F401 (fixture)


def _model(function: object, weights: str) -> FunctionModel:
    model = FunctionModel(function)  # type: ignore[arg-type]
    model.weights_sha256 = weights  # type: ignore[attr-defined]
    return model


def _merge(root: Path, model: FunctionModel, **kwargs: object) -> MergeSummary:
    return merge(model, root / "frames", root / "aligned", root / "merged", MergeSettings(),
                 **kwargs)  # type: ignore[arg-type]


def test_other_weights_are_refused_then_redone_in_full(workspace: Path) -> None:  # noqa: F811
    first = _merge(workspace, _model(invert, "a" * 64))
    assert first.frames_merged == 5 and first.weights_sha256 == "a" * 64
    again = _merge(workspace, _model(invert, "a" * 64))
    assert again.frames_skipped == 6 and again.frames_merged == 0
    with pytest.raises(OptionError, match="merged with other model weights"):
        _merge(workspace, _model(mirror, "b" * 64))
    redone = _merge(workspace, _model(mirror, "b" * 64), redo_changed=True)
    assert redone.frames_skipped == 0 and redone.frames_merged == 5
    record = json.loads((workspace / "merged" / RECORD_NAME).read_text())
    assert record["weights_sha256"] == "b" * 64 and "pending_redo" not in record
    assert read_sidecar(workspace / "merged")["model"]["weights_sha256"] == "b" * 64


def test_interrupted_redo_is_redone_not_resumed(workspace: Path) -> None:  # noqa: F811
    _merge(workspace, _model(invert, "a" * 64))
    stop = _model(mirror, "b" * 64)
    calls = 0

    def failing(faces: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise KeyboardInterrupt
        return mirror(faces)

    stop.function = failing  # type: ignore[attr-defined]
    with pytest.raises(KeyboardInterrupt):
        _merge(workspace, stop, redo_changed=True, batch_size=1, workers=1)
    assert json.loads((workspace / "merged" / RECORD_NAME).read_text())["pending_redo"] is True
    resumed = _merge(workspace, _model(mirror, "b" * 64), redo_changed=True)
    assert resumed.frames_skipped == 0
    frame = cv2.imread(str(workspace / "merged" / "00001.png"))
    assert frame is not None and "pending_redo" not in json.loads((workspace / "merged" / RECORD_NAME).read_text())
