"""Exports load where they are meant to: DeepFaceLive's and FaceFusion's own onnxruntime, their way.

Each peer runtime gets a venv of its own (``tests/peers/*.txt``, exact pins, cached in
``.peer-venvs/``); ``tests/peers/peer_load.py`` loads every export kind there as DeepFaceLive's
``DFMModel`` and FaceFusion's ``deep_swapper`` do, and the outputs must match recast's own
onnxruntime. Opsets the peers refuse are shown to be refused there, so the export's bound is a fact.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch

from recast.export.dfm import export_model
from recast.export.peers import DEEPFACELIVE, FACEFUSION, PEER_MAX_OPSET
from recast.export.xseg_onnx import export_xseg
from recast.models import checkpoint
from recast.models.registry import create_model
from recast.models.xseg import XSeg
from recast.models.xseg_config import xseg_config

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

ROOT = Path(__file__).resolve().parents[1]
PEERS = Path(__file__).with_name("peers")
TINY_SAEHD = {"resolution": 64, "face_type": "whole", "ae_dims": 32, "e_dims": 8, "d_dims": 8, "d_mask_dims": 4}
TINY_AMP = {"resolution": 64, "face_type": "whole", "ae_dims": 16, "inter_dims": 16, "e_dims": 8, "d_dims": 8,
            "d_mask_dims": 4}


def peer_python(name: str) -> Path:
    """The Python of the peer venv pinned by ``tests/peers/NAME.txt`` (made once, then reused)."""
    requirements = PEERS / f"{name}.txt"
    venv = ROOT / ".peer-venvs" / f"{name}-{hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]}"
    python = venv / "bin" / "python"
    if not (venv / ".ready").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "-r", str(requirements)], check=True)
        (venv / ".ready").touch()
    return python


def save_face_model(folder: Path, name: str, **config: object) -> Path:
    torch.manual_seed(0)
    model = create_model(name, **config)
    checkpoint.write_model_config(folder, name, model.config.to_dict())
    checkpoint.save_checkpoint(folder, 7, {f"model.{k}": v for k, v in model.state_dict().items()}, {}, {}, {})
    return folder


def save_xseg_model(folder: Path) -> Path:
    torch.manual_seed(0)
    model = XSeg(xseg_config("xseg-cpu"))
    checkpoint.write_model_config(folder, "xseg-cpu", model.config.to_dict())
    checkpoint.save_checkpoint(folder, 3, {f"model.{k}": v for k, v in model.state_dict().items()}, {}, {}, {})
    return folder


def facefusion_input(faces: np.ndarray) -> np.ndarray:
    """deep_swapper's crop preparation: unsharp mask (1.75, −0.75 of a σ=2 blur), /255, float32 BGR."""
    sharp = [cv2.addWeighted(face, 1.75, cv2.GaussianBlur(face, (0, 0), 2), -0.75, 0) for face in faces]
    return (np.stack(sharp) / 255.0).astype(np.float32)


def reference(model: Path, face: np.ndarray, morph: float | None) -> list[np.ndarray]:
    """recast's own onnxruntime, every input by its name."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: face}
    if len(session.get_inputs()) == 2:
        feed[session.get_inputs()[1].name] = np.float32([morph])
    return list(session.run(None, feed))


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every export kind at the default opset, plus the opset bounds, keyed by a short name."""
    root = tmp_path_factory.mktemp("peers")
    saehd = save_face_model(root / "saehd", "saehd", **TINY_SAEHD, archi="liae-ud")
    amp = save_face_model(root / "amp", "amp", **TINY_AMP)
    grow = save_face_model(root / "grow", "cpu-grow", **{**TINY_SAEHD, "resolution": 128, "growth": [64],
                                                         "growth_at": [0.5]})
    xseg = save_xseg_model(root / "xseg")
    files = {
        "saehd": export_model(saehd, root / "saehd.dfm").path,
        "saehd-fp16": export_model(saehd, root / "saehd16.dfm", fp16=True).path,
        "amp": export_model(amp, root / "amp.dfm").path,
        "amp-fp16": export_model(amp, root / "amp16.dfm", fp16=True).path,
        "cpu-grow": export_model(grow, root / "grow.dfm").path,
        "xseg": export_xseg(xseg, root / "xseg.onnx").path,
        "opset-max": export_model(saehd, root / f"saehd{PEER_MAX_OPSET}.dfm", opset=PEER_MAX_OPSET).path,
        "opset-next": export_model(saehd, root / f"saehd{PEER_MAX_OPSET + 1}.onnx", opset=PEER_MAX_OPSET + 1).path,
        "opset-20": export_model(saehd, root / "saehd20.onnx", opset=20).path,
    }
    return files


def run_peer(name: str, jobs: list[dict[str, object]], folder: Path) -> None:
    jobs_file = folder / f"{name}-jobs.json"
    jobs_file.write_text(json.dumps(jobs))
    subprocess.run([str(peer_python(name)), str(PEERS / "peer_load.py"), str(jobs_file)], check=True)


def faces(size: int, count: int = 2) -> np.ndarray:
    rng = np.random.default_rng(size)
    return rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)


FACE_KINDS = ("saehd", "saehd-fp16", "amp", "amp-fp16", "cpu-grow")


def test_every_export_kind_loads_in_deepfacelive_and_facefusion(exports: dict[str, Path], tmp_path: Path) -> None:
    jobs: dict[str, list[dict[str, object]]] = {"deepfacelive": [], "facefusion": []}
    expected: dict[str, list[np.ndarray]] = {}
    for kind in (*FACE_KINDS, "opset-max"):
        size = 128 if kind == "cpu-grow" else 64
        dfl_in, ff_in = faces(size).astype(np.float32) / 255.0, facefusion_input(faces(size)[:1])
        morph = 0.75 if kind.startswith("amp") else None  # DeepFaceLive's default; FaceFusion's is 100 %
        np.save(tmp_path / f"{kind}-dfl.npy", dfl_in)
        np.save(tmp_path / f"{kind}-ff.npy", ff_in)
        jobs["deepfacelive"].append({"how": "deepfacelive", "model": str(exports[kind]), "morph": morph,
                                     "input": str(tmp_path / f"{kind}-dfl.npy"), "out": str(tmp_path / f"{kind}-dfl")})
        jobs["facefusion"].append({"how": "facefusion", "model": str(exports[kind]), "morph": morph and 1.0,
                                   "input": str(tmp_path / f"{kind}-ff.npy"), "out": str(tmp_path / f"{kind}-ff")})
        expected[f"{kind}-dfl"] = reference(exports[kind], dfl_in, 0.75 if morph else None)
        ff_reference = reference(exports[kind], ff_in, 1.0 if morph else None)
        expected[f"{kind}-ff"] = [ff_reference[0][0, ..., 0], ff_reference[1][0], ff_reference[2][0, ..., 0]]
    xseg_in = faces(256, 1).astype(np.float32) / 255.0
    np.save(tmp_path / "xseg.npy", xseg_in)
    for peer in jobs:
        jobs[peer].append({"how": "mask", "model": str(exports["xseg"]), "morph": None,
                           "input": str(tmp_path / "xseg.npy"), "out": str(tmp_path / f"xseg-{peer}")})
        expected[f"xseg-{peer}"] = reference(exports["xseg"], xseg_in, None)
        run_peer(peer, jobs[peer], tmp_path)
    for key, outputs in expected.items():
        error = tmp_path / f"{key}.error"
        assert not error.exists(), f"{key}: {error.read_text()}"
        got = np.load(tmp_path / f"{key}.npz")
        assert len(got.files) == len(outputs), key
        for i, want in enumerate(outputs):
            np.testing.assert_allclose(got[f"o{i}"], want, atol=2e-5, err_msg=f"{key} output {i}")


def test_the_opset_bound_is_the_peers_own(exports: dict[str, Path], tmp_path: Path) -> None:
    """DeepFaceLive's runtime refuses the first opset over the bound; FaceFusion's runs the newest recast writes."""
    np.save(tmp_path / "in.npy", faces(64, 1).astype(np.float32) / 255.0)
    job = {"how": "deepfacelive", "morph": None, "input": str(tmp_path / "in.npy")}
    run_peer("deepfacelive", [{**job, "model": str(exports["opset-next"]), "out": str(tmp_path / "dfl-next")}],
             tmp_path)
    assert (tmp_path / "dfl-next.error").exists(), f"{DEEPFACELIVE.runtime} ran opset {PEER_MAX_OPSET + 1}"
    run_peer("facefusion", [{**job, "how": "facefusion", "model": str(exports["opset-20"]),
                             "out": str(tmp_path / "ff-20")}], tmp_path)
    assert (tmp_path / "ff-20.npz").exists(), f"{FACEFUSION.runtime} refused opset 20"
