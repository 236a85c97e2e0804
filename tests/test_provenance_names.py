"""The provenance sidecar records inputs by name and hash only; verify finds them beside the result or in --inputs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from recast.provenance.label import write_sidecar
from recast.provenance.verify import verify


def test_inputs_recorded_by_name_and_found_by_name(tmp_path: Path) -> None:
    elsewhere = tmp_path / "private" / "people"
    elsewhere.mkdir(parents=True)
    src = elsewhere / "alice.mp4"
    src.write_bytes(b"alice")
    result = tmp_path / "out" / "result.png"
    result.parent.mkdir()
    cv2.imwrite(str(result), np.full((64, 64, 3), 90, np.uint8))
    side = write_sidecar(result, {"src": src}, {}, {})
    assert "private" not in side.read_text() and json.loads(side.read_text())["inputs"]["src"]["name"] == "alice.mp4"
    assert [c.status for c in verify(result).input_checks] == ["missing"]
    checks = verify(result, input_dirs=[elsewhere]).input_checks
    assert [(c.status, c.path) for c in checks] == [("ok", str(src))]
    src.write_bytes(b"changed")
    assert [c.status for c in verify(result, input_dirs=[elsewhere]).input_checks] == ["mismatch"]
