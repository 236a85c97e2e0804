"""``recast export``: .dfm / ONNX files that meet DeepFaceLive's contract and match the PyTorch model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from recast.export.dfm import export_model
from recast.models import checkpoint
from recast.models.contract import SYNTHETIC_NOTICE, inspect_model
from recast.models.inference import FaceSwapper
from recast.models.onnx_swapper import OnnxFaceSwapper
from recast.models.registry import create_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL_SAEHD = {"resolution": 64, "face_type": "whole", "ae_dims": 32, "e_dims": 8, "d_dims": 8, "d_mask_dims": 4}
SMALL_AMP = {"resolution": 64, "face_type": "whole", "ae_dims": 16, "inter_dims": 16, "e_dims": 8, "d_dims": 8,
             "d_mask_dims": 4}


def save_model(model_dir: Path, name: str, **config: object) -> Path:
    """A freshly initialised model saved as a recast model folder (weights perturbed off glorot).

    Seeded: the weights, and so the merges compared against them, never depend on which tests ran first."""
    torch.manual_seed(0)
    model = create_model(name, **config)
    checkpoint.write_model_config(model_dir, name, model.config.to_dict())
    weights = {f"model.{key}": value for key, value in model.state_dict().items()}
    checkpoint.save_checkpoint(model_dir, 7, weights, {}, {}, {})
    return model_dir


def deepfacelive_load(path: Path) -> tuple[ort.InferenceSession, int, bool]:
    """DeepFaceLive's ``DFMModel`` checks, re-implemented: ``(session, resolution, is_amp)``.

    The first input's name contains ``in_face`` and is ``[N, H, W, 3]``; a second input, if any, contains
    ``morph_value`` and is ``[1]``; there are no other inputs.
    """
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    if len(inputs) == 0 or "in_face" not in inputs[0].name:
        raise ValueError("invalid model: no in_face input")
    shape = inputs[0].shape
    if len(shape) != 4 or shape[3] != 3:
        raise ValueError(f"in_face shape {shape}")
    is_amp = False
    if len(inputs) == 2:
        if "morph_value" not in inputs[1].name or list(inputs[1].shape) != [1]:
            raise ValueError("second input is not morph_value [1]")
        is_amp = True
    elif len(inputs) > 2:
        raise ValueError("too many inputs")
    return session, int(shape[1]), is_amp


def deepfacelive_run(session: ort.InferenceSession, img: np.ndarray, morph: float | None) -> list[np.ndarray]:
    """How DeepFaceLive runs it: literal input names, outputs taken in order."""
    feed = {"in_face:0": img}
    if morph is not None:
        feed["morph_value:0"] = np.float32([morph])
    return session.run(None, feed)


def torch_outputs(model_dir: Path, faces: np.ndarray, morph: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    swapper = FaceSwapper.load(model_dir, precision="fp32")
    return swapper.swap(faces, morph=morph)


CASES = [
    ("saehd", {**SMALL_SAEHD, "archi": "df"}),
    ("saehd", {**SMALL_SAEHD, "archi": "liae-ud"}),
    ("saehd", {**SMALL_SAEHD, "archi": "df-udtc"}),
    ("saehd", {**SMALL_SAEHD, "archi": "liae-t", "d_mask_dims": 0}),
    ("amp", SMALL_AMP),
]


@pytest.mark.parametrize(("name", "config"), CASES, ids=lambda v: v if isinstance(v, str) else v.get("archi", "amp"))
def test_export_matches_pytorch_and_deepfacelive_loads_it(tmp_path, name, config):
    model_dir = save_model(tmp_path / "model", name, **config)
    out = tmp_path / "face.dfm"
    summary = export_model(model_dir, out)
    assert summary.opset == 12 and summary.resolution == 64

    session, resolution, is_amp = deepfacelive_load(out)
    assert resolution == 64 and is_amp == (name == "amp")
    assert [o.name for o in session.get_outputs()] == ["out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0"]

    rng = np.random.default_rng(0)
    faces = rng.random((3, 64, 64, 3), dtype=np.float32)
    for morph in ([0.0, 0.3, 0.75, 1.0] if is_amp else [1.0]):
        dst_mask, face, face_mask = deepfacelive_run(session, faces, morph if is_amp else None)
        assert dst_mask.shape == (3, 64, 64, 1) and face.shape == (3, 64, 64, 3) and face_mask.shape == (3, 64, 64, 1)
        want_face, want_face_mask, want_dst_mask = torch_outputs(model_dir, faces, morph)
        diff = max(np.abs(face - want_face).max(), np.abs(face_mask[..., 0] - want_face_mask).max(),
                   np.abs(dst_mask[..., 0] - want_dst_mask).max())
        print(f"{name} {config.get('archi', '')} morph {morph}: max |onnx - torch| = {diff:.2e}")
        assert diff <= 1e-4

    proto = onnx.load(str(out), load_external_data=False)
    assert proto.ir_version <= 9  # DeepFaceLive ships onnxruntime 1.15, which reads IR versions up to 9
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["recast.notice"] == SYNTHETIC_NOTICE
    assert json.loads(props["recast.config"])["resolution"] == 64
    assert props["recast.version"] and props["recast.model"] == name and props["recast.iteration"] == "7"


def test_export_amp_morph_changes_the_face(tmp_path):
    model_dir = save_model(tmp_path / "model", "amp", **SMALL_AMP)
    export_model(model_dir, tmp_path / "amp.onnx")
    swapper = OnnxFaceSwapper.load(tmp_path / "amp.onnx")
    faces = np.random.default_rng(1).random((2, 64, 64, 3), dtype=np.float32)
    assert swapper.is_amp and swapper.face_type.value == "whole"
    assert np.abs(swapper.swap(faces, morph=0.0)[0] - swapper.swap(faces, morph=1.0)[0]).max() > 1e-3


@pytest.mark.slow
def test_export_quick96(tmp_path):
    model_dir = save_model(tmp_path / "model", "quick96")
    summary = export_model(model_dir, tmp_path / "q96.dfm")
    session, resolution, is_amp = deepfacelive_load(summary.path)
    assert (resolution, is_amp) == (96, False)
    faces = np.random.default_rng(2).random((1, 96, 96, 3), dtype=np.float32)
    _, face, _ = deepfacelive_run(session, faces, None)
    assert np.abs(face - torch_outputs(model_dir, faces, 1.0)[0]).max() <= 1e-4


def test_export_fp16_halves_the_file_and_stays_close(tmp_path):
    model_dir = save_model(tmp_path / "model", "saehd", **{**SMALL_SAEHD, "archi": "liae-ud"})
    full = export_model(model_dir, tmp_path / "fp32.dfm")
    half = export_model(model_dir, tmp_path / "fp16.dfm", fp16=True, opset=13)
    assert half.bytes < 0.6 * full.bytes and half.metadata["recast.weights_dtype"] == "float16"
    faces = np.random.default_rng(3).random((2, 64, 64, 3), dtype=np.float32)
    a = OnnxFaceSwapper.load(full.path).swap(faces)[0]
    b = OnnxFaceSwapper.load(half.path).swap(faces)[0]
    assert np.abs(a - b).max() < 1e-2
    assert inspect_model(half.path).resolution == 64


def test_export_refuses_bad_requests(tmp_path):
    from recast.errors import InputError, OptionError

    model_dir = save_model(tmp_path / "model", "saehd", **{**SMALL_SAEHD, "archi": "df"})
    with pytest.raises(OptionError, match=r"\.dfm or \.onnx"):
        export_model(model_dir, tmp_path / "face.pt")
    with pytest.raises(OptionError, match="opset"):
        export_model(model_dir, tmp_path / "face.dfm", opset=9)
    (tmp_path / "taken.dfm").write_bytes(b"user file")
    with pytest.raises(InputError, match="already exists"):
        export_model(model_dir, tmp_path / "taken.dfm")
    assert (tmp_path / "taken.dfm").read_bytes() == b"user file"
    with pytest.raises(InputError):
        export_model(tmp_path / "nothing", tmp_path / "x.dfm")


def test_a_dfm_over_deepfacelives_opset_is_refused_and_an_onnx_warned(tmp_path):
    from recast.errors import OptionError
    from recast.export.peers import PEER_MAX_OPSET

    model_dir = save_model(tmp_path / "model", "saehd", **{**SMALL_SAEHD, "archi": "df"})
    with pytest.raises(OptionError, match=r"DeepFaceLive \(onnxruntime 1\.15\.1\)"):
        export_model(model_dir, tmp_path / "face.dfm", opset=PEER_MAX_OPSET + 1)
    assert not (tmp_path / "face.dfm").exists()
    assert export_model(model_dir, tmp_path / "face.dfm", opset=PEER_MAX_OPSET).warnings == []
    (warning,) = export_model(model_dir, tmp_path / "face.onnx", opset=PEER_MAX_OPSET + 1).warnings
    assert "DeepFaceLive (onnxruntime 1.15.1" in warning and "FaceFusion" not in warning


def test_a_full_face_export_warns_with_the_peers_crop_and_a_whole_one_does_not(tmp_path):
    from recast.export.peers import deepfacelive_coverage

    full = save_model(tmp_path / "full", "cpu")  # the cpu preset trains full faces
    (warning,) = export_model(full, tmp_path / "full.dfm").warnings
    assert "\n" not in warning
    assert "trained on full faces" in warning and "dfl_whole_face" in warning
    assert f"Face coverage to {deepfacelive_coverage('full')}" in warning
    assert deepfacelive_coverage("whole") == 2.2 and deepfacelive_coverage("full") < 2.2 < deepfacelive_coverage("head")
    whole = save_model(tmp_path / "whole", "cpu", face_type="whole")
    assert export_model(whole, tmp_path / "whole.dfm").warnings == []


def test_cli_export_prints_the_warning_whole_and_verify_reads_the_model(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from recast.cli.main import app

    monkeypatch.setenv("COLUMNS", "40")
    full = save_model(tmp_path / "full", "cpu")
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(full), "-o", str(tmp_path / "m.dfm")])
    assert result.exit_code == 0, result.output
    assert "set DeepFaceLive's Face coverage to 1.65, or train with --face-type whole" in result.output
    assert "TracerWarning" not in result.output
    result = runner.invoke(app, ["verify", str(tmp_path / "m.dfm")])
    assert result.exit_code == 0, result.output
    assert "face model" in result.output and "recast.face_type: full" in result.output
    assert "synthetic media, made with recast" in result.output
    plain = tmp_path / "plain.onnx"
    proto = onnx.load(str(tmp_path / "m.dfm"))
    del proto.metadata_props[:]
    proto.doc_string = ""
    plain.write_bytes(proto.SerializeToString())
    result = runner.invoke(app, ["verify", str(plain)])
    assert result.exit_code == 3, result.output
    assert "no recast label found" in result.output


def test_export_of_a_growing_model_raises_no_tracer_warning(tmp_path):
    import warnings

    grow = save_model(tmp_path / "grow", "cpu-grow", **{**SMALL_SAEHD, "resolution": 128, "growth": [64],
                                                         "growth_at": [0.5]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export_model(grow, tmp_path / "grow.dfm")
    assert not [w for w in caught if issubclass(w.category, torch.jit.TracerWarning)]
