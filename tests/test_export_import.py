"""Importing .dfm / .onnx face models: the contract checks, hostile files, and merging with one."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from media_factory import face_clip_frames
from recast.errors import InputError
from recast.faces.aligned import write_face
from recast.faces.alignment import transform_matrix, transform_points
from recast.faces.facetype import FaceType
from recast.faces.metadata import FaceMeta
from recast.merge.settings import MergeSettings
from recast.merge.stage import merge
from recast.models.onnx_swapper import OnnxFaceSwapper
from test_export import SMALL_SAEHD, save_model
from test_merge_models import face_landmarks

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def destination(folder: Path, count: int = 4) -> tuple[Path, Path]:
    """``(frames folder, aligned folder)``: a short clip, one whole face per frame, metadata as extraction writes."""
    frames_dir, aligned_dir = folder / "frames", folder / "aligned"
    frames_dir.mkdir()
    aligned_dir.mkdir()
    for number, frame in enumerate(face_clip_frames(count), start=1):
        name = f"{number:05d}.png"
        cv2.imwrite(str(frames_dir / name), frame)
        points = face_landmarks((160 + 3 * number, 150), 110, angle_deg=2 * number)
        mat = transform_matrix(points, 128, FaceType.WHOLE)
        meta = FaceMeta(face_type=FaceType.WHOLE, landmarks=transform_points(points, mat).astype(np.float32),
                        source_landmarks=points.astype(np.float32), source_rect=(0.0, 0.0, 1.0, 1.0),
                        source_filename=name, source_size=(frame.shape[1], frame.shape[0]), image_to_face_mat=mat)
        write_face(aligned_dir / f"{number:05d}_0.jpg", cv2.warpAffine(frame, mat, (128, 128)), meta)
    return frames_dir, aligned_dir


def contract_file(
    path: Path,
    size: int = 32,
    input_name: str = "in_face:0",
    input_dims: list[int | str] | None = None,
    extra_inputs: list[onnx.ValueInfoProto] = (),
    initializers: list[TensorProto] = (),
) -> Path:
    """A small hand-built graph with the contract's inputs and outputs: face = 1 − in_face · w.

    ``w`` is a (1,) initializer (replace it via ``initializers`` to test stored tensors).
    """
    dims = input_dims or ["N", size, size, 3]
    face_in = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, dims)
    outputs = [
        helper.make_tensor_value_info("out_face_mask:0", TensorProto.FLOAT, ["N", size, size, 1]),
        helper.make_tensor_value_info("out_celeb_face:0", TensorProto.FLOAT, ["N", size, size, 3]),
        helper.make_tensor_value_info("out_celeb_face_mask:0", TensorProto.FLOAT, ["N", size, size, 1]),
    ]
    weight = list(initializers) or [numpy_helper.from_array(np.ones(1, np.float32), "w")]
    one = numpy_helper.from_array(np.ones(1, np.float32), "one")
    nodes = [
        helper.make_node("Mul", [input_name, "w"], ["scaled"]),
        helper.make_node("Sub", ["one", "scaled"], ["out_celeb_face:0"]),
        helper.make_node("ReduceMean", [input_name], ["out_face_mask:0"], axes=[3], keepdims=1),
        helper.make_node("ReduceMean", ["out_celeb_face:0"], ["out_celeb_face_mask:0"], axes=[3], keepdims=1),
    ]
    graph = helper.make_graph(nodes, "contract", [face_in, *extra_inputs], outputs, [*weight, one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def external_weight(location: str, offset: int = 0, length: int = 4) -> TensorProto:
    tensor = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1])
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        tensor.external_data.append(onnx.StringStringEntryProto(key=key, value=value))
    return tensor


def test_a_contract_file_loads_and_swaps(tmp_path):
    swapper = OnnxFaceSwapper.load(contract_file(tmp_path / "m.dfm"))
    assert (swapper.resolution, swapper.face_type.value, swapper.is_amp) == (32, "whole", False)
    faces = np.random.default_rng(0).random((5, 32, 32, 3), dtype=np.float32)
    face, face_mask, dst_mask = swapper.swap(faces)
    np.testing.assert_allclose(face, 1.0 - faces, atol=1e-6)
    np.testing.assert_allclose(dst_mask, faces.mean(axis=3), atol=1e-6)
    assert face_mask.shape == (5, 32, 32)
    assert swapper.swap(faces, masks=False)[1:] == (None, None)
    assert OnnxFaceSwapper.load(tmp_path / "m.dfm", face_type="f").face_type.value == "full"


def test_external_data_inside_the_folder_is_accepted(tmp_path):
    (tmp_path / "weights.bin").write_bytes(np.float32([2.0]).tobytes())
    path = contract_file(tmp_path / "m.onnx", initializers=[external_weight("weights.bin")])
    face = OnnxFaceSwapper.load(path).swap(np.full((1, 32, 32, 3), 0.25, np.float32))[0]
    np.testing.assert_allclose(face, 0.5, atol=1e-6)


def _hostile_cases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    models = tmp_path / "models"
    models.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"\0\0\0\0")
    (models / "short.bin").write_bytes(b"\0\0")
    morph_bad = helper.make_tensor_value_info("morph_value:0", TensorProto.FLOAT, [3])
    other = helper.make_tensor_value_info("other", TensorProto.FLOAT, [1])
    huge = numpy_helper.from_array(np.ones(1, np.float32), "w")
    huge.dims[:] = [1 << 20, 1 << 20]
    return {
        "not onnx": (models / "junk.dfm", "not a readable ONNX model"),
        "wrong input": (contract_file(models / "a.dfm", input_name="image"), "first input must be 'in_face'"),
        "extra input": (contract_file(models / "b.dfm", extra_inputs=[other]), "unexpected input 'other'"),
        "bad morph": (contract_file(models / "c.dfm", extra_inputs=[morph_bad]), "must be float32 of shape [1]"),
        "huge face": (contract_file(models / "d.dfm", input_dims=["N", 100000, 100000, 3]), "outside 16..1024"),
        "symbolic face": (contract_file(models / "e.dfm", input_dims=["N", "H", "W", 3]), "fixed square face size"),
        "huge batch": (contract_file(models / "f.dfm", input_dims=[1 << 30, 32, 32, 3]), "batch size"),
        "NCHW": (contract_file(models / "g.dfm", input_dims=["N", 3, 32, 32]), "[N, R, R, 3]"),
        "parent path": (contract_file(models / "h.dfm", initializers=[external_weight("../secret.bin")]),
                        "points outside"),
        "absolute path": (contract_file(models / "i.dfm", initializers=[external_weight(str(tmp_path / "secret.bin"))]),
                          "not a plain relative path"),
        "past the end": (contract_file(models / "j.dfm", initializers=[external_weight("short.bin")]),
                         "lies outside"),
        "huge tensor": (contract_file(models / "k.dfm", initializers=[huge]), "declares 1099511627776 elements"),
    }


def test_hostile_files_are_refused_in_one_line(tmp_path):
    cases = _hostile_cases(tmp_path)
    (tmp_path / "models" / "junk.dfm").write_bytes(b"\x08\x07garbage\xff" * 50)
    for name, (path, message) in cases.items():
        with pytest.raises(InputError) as error:
            OnnxFaceSwapper.load(path)
        text = str(error.value)
        assert message in text and str(path) in text and "\n" not in text, name


def test_outputs_off_the_contract_at_run_time_are_refused(tmp_path):
    face_in = helper.make_tensor_value_info("in_face:0", TensorProto.FLOAT, ["N", 32, 32, 3])
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", "H", "W", "C"])
               for name in ("out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0")]
    nodes = [helper.make_node("Identity", ["in_face:0"], [name]) for name in
             ("out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0")]
    model = helper.make_model(helper.make_graph(nodes, "g", [face_in], outputs),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    (tmp_path / "m.dfm").write_bytes(model.SerializeToString())
    swapper = OnnxFaceSwapper.load(tmp_path / "m.dfm")
    with pytest.raises(InputError, match="not the contract's"):
        swapper.swap(np.zeros((1, 32, 32, 3), np.float32))


def test_symlinked_external_data_outside_is_refused(tmp_path):
    (tmp_path / "secret.bin").write_bytes(np.float32([3.0]).tobytes())
    models = tmp_path / "models"
    models.mkdir()
    (models / "link.bin").symlink_to(tmp_path / "secret.bin")
    with pytest.raises(InputError, match="points outside"):
        OnnxFaceSwapper.load(contract_file(models / "m.dfm", initializers=[external_weight("link.bin")]))


def test_merge_with_an_exported_dfm_matches_the_model_folder(tmp_path):
    from recast.export.dfm import export_model

    frames, aligned = destination(tmp_path)
    model_dir = save_model(tmp_path / "model", "saehd", **{**SMALL_SAEHD, "archi": "liae-ud"})
    dfm = export_model(model_dir, tmp_path / "model.dfm").path
    settings = MergeSettings(mask_mode="learned-prd*learned-dst", color="rct", erode=10, blur=20)
    merge(model_dir, frames, aligned, tmp_path / "torch", settings, precision="fp32")
    summary = merge(dfm, frames, aligned, tmp_path / "onnx", settings)
    assert summary.faces_merged == 4
    for path in sorted((tmp_path / "torch").glob("*.png")):
        a = cv2.imread(str(path)).astype(np.float64)
        b = cv2.imread(str(tmp_path / "onnx" / path.name)).astype(np.float64)
        assert np.abs(a - b).mean() <= 1.0 and np.abs(a - b).max() <= 2.0


def test_cli_exports_and_merges_with_the_file(tmp_path, monkeypatch, capsys):
    from recast.cli.main import main

    frames, aligned = destination(tmp_path)
    model_dir = save_model(tmp_path / "model", "saehd", **{**SMALL_SAEHD, "archi": "df-ud"})
    dfm = tmp_path / "out" / "face.dfm"
    dfm.parent.mkdir()
    for args, code in (
        (["export", str(model_dir), "-o", str(dfm)], 0),
        (["export", str(model_dir), "-o", str(dfm)], 1),  # never overwrites
        (["merge", "-m", str(dfm), "-f", str(frames), "-a", str(aligned), "-o", str(tmp_path / "merged")], 0),
    ):
        monkeypatch.setattr("sys.argv", ["recast", *args])
        with pytest.raises(SystemExit) as exit_info:
            main()
        assert exit_info.value.code == code, capsys.readouterr().err
    err = " ".join(capsys.readouterr().err.split())
    assert "64 px whole face" in err and "already exists" in err and "4 frames, 4 merged" in err
    contract_file(tmp_path / "bad.onnx", input_name="image")
    monkeypatch.setattr("sys.argv", ["recast", "merge", "-m", str(tmp_path / "bad.onnx"), "-f", str(frames),
                                     "-a", str(aligned), "-o", str(tmp_path / "merged2")])
    with pytest.raises(SystemExit) as exit_info:
        main()
    error = capsys.readouterr().err.strip().splitlines()[-1]  # after the "device: cpu (auto)" note
    assert exit_info.value.code == 1 and error.startswith("error: ") and "not a face-swap model" in error
    assert not (tmp_path / "merged2").exists()
