"""Bound what running an untrusted ONNX face model can allocate, before onnxruntime sees it.

A 539-byte graph can ask for any amount of memory at run time (``ConstantOfShape`` of
``[1, 30000, 30000]`` is 3.6 GB). :func:`check_memory_budget` fixes the model's inputs to their
own declared size, infers every tensor's shape (ONNX shape inference with data propagation, plus a
small evaluator for the integer shape arithmetic exporters write, ``Shape → Gather → Mul →
Concat``, which ONNX's data propagation does not follow at every opset), and refuses the model when
any tensor exceeds :data:`MAX_TENSOR_BYTES`, all of them together exceed :data:`MAX_GRAPH_BYTES`,
a shape stays unknown, or the graph has control flow (a loop can repeat any allocation).
No weights are copied: large stored tensors reach shape inference by type and shape only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from recast.errors import InputError

MAX_TENSOR_BYTES = 1 << 30
"""Largest tensor (stored or computed) a model may hold at its own input size; a 1024 px face's
64-channel float32 feature map is 256 MiB."""
MAX_GRAPH_BYTES = 16 << 30
"""Most bytes all of a model's tensors together may take at its own input size (an upper bound of
what a run holds at once: onnxruntime frees and reuses intermediates)."""
_INLINE_BYTES = 1 << 16
"""Stored tensors larger than this reach shape inference by type and shape only."""
_FOLD_ELEMENTS = 64
"""Largest computed tensor the shape evaluator keeps as a constant (shapes have a few elements)."""
_CONTROL_FLOW = frozenset({"Loop", "Scan", "If", "SequenceMap"})
_ROUNDS = 8


def check_memory_budget(path: Path, model: onnx.ModelProto, batch: int = 1) -> int:
    """Bound what running ``model`` allocates at its own input size with ``batch``; the total in bytes.

    Every input that is not a stored tensor is fixed to its declared shape (``batch`` for a dynamic
    first dimension, 1 for any other dynamic one) before shapes are inferred.

    Raises:
        InputError: control flow, a tensor whose shape cannot be inferred, a tensor over
            :data:`MAX_TENSOR_BYTES`, or all tensors over :data:`MAX_GRAPH_BYTES` (one line).
    """
    graph = model.graph
    for node in graph.node:
        if node.op_type in _CONTROL_FLOW or any(a.HasField("g") or a.graphs for a in node.attribute):
            raise InputError(path, f"node {node.name or node.op_type!r} is control flow ({node.op_type}); "
                                   "a face model has none, and its memory cannot be bounded")
    light = _shape_model(model, batch)
    folded: dict[str, np.ndarray] = {}
    for _ in range(_ROUNDS):
        known = _infer(path, light)
        unknown = [name for node in light.graph.node for name in node.output
                   if name and _value_bytes(known.get(name)) is None]
        if not unknown or not _fold(light, known, folded):
            break
    total = sum(_stored_bytes(tensor) for tensor in graph.initializer)
    for node in graph.node:
        for name in node.output:
            if not name:
                continue
            size = _value_bytes(known.get(name)) if name not in folded else folded[name].nbytes
            if size is None:
                raise InputError(path, f"the shape of tensor {name!r} ({node.op_type}) cannot be inferred at "
                                       "the model's input size, so its memory cannot be bounded; refused")
            if size > MAX_TENSOR_BYTES:
                raise InputError(path, f"tensor {name!r} ({node.op_type}) takes {size / 2**30:.1f} GiB at the "
                                       f"model's input size, over the {MAX_TENSOR_BYTES >> 20} MiB limit; refused")
            total += size
    if total > MAX_GRAPH_BYTES:
        raise InputError(path, f"its tensors take {total / 2**30:.1f} GiB at the model's input size, over the "
                               f"{MAX_GRAPH_BYTES >> 30} GiB limit; refused")
    return total


def _infer(path: Path, light: onnx.ModelProto) -> dict[str, onnx.ValueInfoProto]:
    """Inferred type and shape of every value of ``light`` by name."""
    try:
        inferred = onnx.shape_inference.infer_shapes(light, strict_mode=True, data_prop=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError, ValueError) as error:
        first = " ".join(str(error).split())[:160]
        raise InputError(path, f"tensor shapes cannot be inferred ({first}); refused") from None
    known = {value.name: value for value in (*inferred.graph.input, *inferred.graph.value_info,
                                            *inferred.graph.output)}
    for tensor in light.graph.initializer:
        known.setdefault(tensor.name, onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type,
                                                                          list(tensor.dims)))
    return known


def _shape_model(model: onnx.ModelProto, batch: int) -> onnx.ModelProto:
    """A weightless copy of ``model``: inputs fixed, large stored tensors as typed inputs."""
    graph = model.graph
    stored = {init.name for init in graph.initializer}
    inputs = []
    for value in graph.input:
        if value.name in stored:
            continue
        fixed = onnx.ValueInfoProto()
        fixed.CopyFrom(value)
        for index, dim in enumerate(fixed.type.tensor_type.shape.dim):
            if not dim.HasField("dim_value"):
                dim.dim_value = batch if index == 0 else 1
        inputs.append(fixed)
    small = []
    for tensor in graph.initializer:
        if _stored_bytes(tensor) <= _INLINE_BYTES and tensor.data_location != onnx.TensorProto.EXTERNAL:
            small.append(tensor)
        else:
            inputs.append(onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
    light_graph = onnx.helper.make_graph(list(graph.node), graph.name or "model", inputs, list(graph.output),
                                         initializer=small)
    light = onnx.helper.make_model(light_graph, opset_imports=list(model.opset_import))
    light.ir_version = max(model.ir_version, 4)
    return light


def _fold(light: onnx.ModelProto, known: dict[str, onnx.ValueInfoProto], folded: dict[str, np.ndarray]) -> bool:
    """Replace the small integer shape computations of ``light`` by constants; whether any was folded.

    ``folded`` collects every value computed (name → array), for sizing.
    """
    graph = light.graph
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer if _stored_bytes(t) <= _INLINE_BYTES}
    outputs = {value.name for value in graph.output}
    kept, changed = [], False
    for node in graph.node:
        result = None
        if len(node.output) == 1 and node.output[0] not in outputs:
            try:
                result = _evaluate(node, values, known)
            except (ValueError, TypeError, IndexError, KeyError, OverflowError, ZeroDivisionError):
                result = None
        if result is None or result.size > _FOLD_ELEMENTS:
            kept.append(node)
            continue
        values[node.output[0]] = folded[node.output[0]] = result
        graph.initializer.append(numpy_helper.from_array(result, node.output[0]))
        changed = True
    del graph.node[:]
    graph.node.extend(kept)
    return changed


def _attribute(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    for attribute in node.attribute:
        if attribute.name == name:
            return onnx.helper.get_attribute_value(attribute)
    return default


def _shape_of(name: str, known: dict[str, onnx.ValueInfoProto]) -> list[int] | None:
    value = known.get(name)
    if value is None or not value.type.tensor_type.HasField("shape"):
        return None
    dims = value.type.tensor_type.shape.dim
    return [d.dim_value for d in dims] if all(d.HasField("dim_value") for d in dims) else None


def _evaluate(node: onnx.NodeProto, values: dict[str, np.ndarray],
              known: dict[str, onnx.ValueInfoProto]) -> np.ndarray | None:
    """The output of one shape-arithmetic node whose inputs are known; None for any other node."""
    op = node.op_type
    if op == "Constant":
        tensor = _attribute(node, "value")
        return numpy_helper.to_array(tensor) if isinstance(tensor, onnx.TensorProto) else None
    if op == "Shape":
        dims = _shape_of(node.input[0], known)
        if dims is None:
            return None
        start, end = int(_attribute(node, "start", 0)), _attribute(node, "end", None)
        return np.array(dims[start:None if end is None else int(end)], np.int64)
    found = [values.get(name) for name in node.input if name]
    if not found or any(arg is None for arg in found):
        return None
    args: list[np.ndarray] = [arg for arg in found if arg is not None]
    first = args[0]
    if op in _BINARY:
        return np.asarray(_BINARY[op](first, args[1])).astype(first.dtype)
    if op == "Identity":
        return first
    if op == "Cast":
        return first.astype(onnx.helper.tensor_dtype_to_np_dtype(int(_attribute(node, "to"))))
    if op == "Gather":
        return np.take(first, args[1], axis=int(_attribute(node, "axis", 0)))
    if op == "Concat":
        return np.concatenate(args, axis=int(_attribute(node, "axis", 0)))
    if op in ("Unsqueeze", "Squeeze"):
        given = _attribute(node, "axes", None)
        axes = [int(a) for a in (given if given is not None else (args[1] if len(args) > 1 else []))]
        if op == "Squeeze":
            return np.squeeze(first, axis=tuple(axes)) if axes else np.squeeze(first)
        rank = first.ndim + len(axes)
        return np.reshape(first, _unsqueezed(first.shape, sorted(a % rank for a in axes)))
    if op == "Slice" and len(args) >= 3:
        starts, ends = args[1], args[2]
        axes_of = args[3] if len(args) > 3 else np.arange(len(starts))
        steps = args[4] if len(args) > 4 else np.ones(len(starts), np.int64)
        index = [slice(None)] * first.ndim
        for start, end, axis, step in zip(starts, ends, axes_of, steps, strict=True):
            index[int(axis)] = slice(int(start), int(end), int(step))
        return first[tuple(index)]
    return None


def _unsqueezed(shape: tuple[int, ...], axes: list[int]) -> list[int]:
    out = list(shape)
    for axis in axes:
        out.insert(axis, 1)
    return out


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ONNX ``Div``: true division for floats, truncation toward zero for integers."""
    if np.issubdtype(a.dtype, np.integer):
        return np.trunc(np.true_divide(a, b))
    return np.true_divide(a, b)


_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": _divide,
}


def _itemsize(elem_type: int) -> int:
    try:
        return int(onnx.helper.tensor_dtype_to_np_dtype(elem_type).itemsize) or 8
    except (KeyError, ValueError, TypeError):
        return 8


def _stored_bytes(tensor: onnx.TensorProto) -> int:
    count = 1
    for dim in tensor.dims:
        count *= dim
    return count * _itemsize(tensor.data_type)


def _value_bytes(value: onnx.ValueInfoProto | None) -> int | None:
    """Bytes of a fully known tensor type; None when the type or any dimension is unknown."""
    if value is None or not value.type.HasField("tensor_type"):
        return None
    tensor = value.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    count = 1
    for dim in tensor.shape.dim:
        if not dim.HasField("dim_value") or dim.dim_value < 0:
            return None
        count *= dim.dim_value
    return count * _itemsize(tensor.elem_type)
