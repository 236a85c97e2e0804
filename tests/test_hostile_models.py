"""Issue #28 case 7: an untrusted .dfm could allocate any amount at run time.

A 539-byte model with ``ConstantOfShape [1, 30000, 30000]`` passed the contract check and merge
peaked at 4.0 GB. Every tensor's shape is now inferred at the file's own input size before
onnxruntime sees the file, and models over the budget are refused in one line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from hostile_factory import run_peak
from recast.errors import InputError
from recast.models.contract import inspect_model
from recast.models.onnx_budget import MAX_TENSOR_BYTES, check_memory_budget

MAX_PEAK_MIB = 500
_OUTPUTS = ("out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0")


def allocating_model(path: Path, shape: list[int], hidden: bool = False, size: int = 32) -> Path:
    """A contract model whose face output adds ``sum(ConstantOfShape(shape)) * 0`` to the input.

    ``hidden`` computes the shape at run time from the input's shape (Shape → Gather → Mul →
    Concat), as exporters write it, instead of storing it as a constant.
    """
    face_in = helper.make_tensor_value_info("in_face:0", TensorProto.FLOAT, ["N", size, size, 3])
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", size, size, c])
               for name, c in zip(_OUTPUTS, (1, 3, 1), strict=True)]
    stored = [numpy_helper.from_array(np.zeros(1, np.float32), "zero")]
    if hidden:
        factor = shape[1] // size
        stored += [numpy_helper.from_array(np.array([1], np.int64), "index"),
                   numpy_helper.from_array(np.array([factor], np.int64), "factor"),
                   numpy_helper.from_array(np.array([1], np.int64), "one")]
        shape_nodes = [helper.make_node("Shape", ["in_face:0"], ["in_shape"]),
                       helper.make_node("Gather", ["in_shape", "index"], ["side"], axis=0),
                       helper.make_node("Mul", ["side", "factor"], ["big_side"]),
                       helper.make_node("Concat", ["one", "big_side", "big_side"], ["shape"], axis=0)]
    else:
        stored.append(numpy_helper.from_array(np.array(shape, np.int64), "shape"))
        shape_nodes = []
    nodes = [
        *shape_nodes,
        helper.make_node("ConstantOfShape", ["shape"], ["big"], value=helper.make_tensor("v", TensorProto.FLOAT,
                                                                                        [1], [1.0])),
        helper.make_node("ReduceSum", ["big"], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Add", ["in_face:0", "nothing"], ["out_celeb_face:0"]),
        helper.make_node("ReduceMean", ["in_face:0"], ["out_face_mask:0"], axes=[3], keepdims=1),
        helper.make_node("ReduceMean", ["out_celeb_face:0"], ["out_celeb_face_mask:0"], axes=[3], keepdims=1),
    ]
    model = helper.make_model(helper.make_graph(nodes, "bomb", [face_in], outputs, stored),
                              opset_imports=[helper.make_opsetid("", 12)])
    model.ir_version = 7
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize(("shape", "hidden"), [([1, 30000, 30000], False), ([1, 50000, 50000], False),
                                               ([1, 32 * 900, 32 * 900], True)])
def test_a_model_allocating_gigabytes_is_refused_before_it_runs(tmp_path: Path, shape: list[int],
                                                                hidden: bool) -> None:
    path = allocating_model(tmp_path / "bomb.dfm", shape, hidden)
    assert path.stat().st_size < 1024
    with pytest.raises(InputError, match=r"'big' \(ConstantOfShape\) takes .* GiB .* over the 1024 MiB limit"):
        inspect_model(path)


def test_a_small_allocation_passes_and_is_counted(tmp_path: Path) -> None:
    path = allocating_model(tmp_path / "small.dfm", [1, 64, 64], hidden=True)  # 32 px input × 2
    contract = inspect_model(path)
    assert contract.resolution == 32

    total = check_memory_budget(path, onnx.load(str(path)))
    assert 64 * 64 * 4 <= total < MAX_TENSOR_BYTES


def test_unknown_shapes_and_loops_are_refused(tmp_path: Path) -> None:

    path = allocating_model(tmp_path / "m.dfm", [1, 64, 64])
    model = onnx.load(str(path))
    shape_input = helper.make_tensor_value_info("shape_in", TensorProto.INT64, [3])
    model.graph.input.append(shape_input)
    for node in model.graph.node:
        if node.op_type == "ConstantOfShape":
            node.input[0] = "shape_in"
    with pytest.raises(InputError, match="cannot be inferred"):
        check_memory_budget(path, model)
    loop = helper.make_node("Loop", ["", ""], ["looped"], body=helper.make_graph([], "body", [], []))
    model.graph.node.append(loop)
    with pytest.raises(InputError, match="control flow"):
        check_memory_budget(path, model)


_LOAD = """
from recast.errors import RecastError
from recast.models.onnx_swapper import OnnxFaceSwapper
try:
    OnnxFaceSwapper.load(sys.argv[1])
    print('loaded')
except RecastError as error:
    print('refused:', error)
"""


def test_loading_the_bomb_costs_no_memory(tmp_path: Path) -> None:
    path = allocating_model(tmp_path / "bomb.dfm", [1, 30000, 30000])
    peak, output = run_peak(_LOAD, str(path))
    assert "refused:" in output and "ConstantOfShape" in output and "Traceback" not in output, output
    assert peak < MAX_PEAK_MIB, f"peak {peak:.0f} MiB"
