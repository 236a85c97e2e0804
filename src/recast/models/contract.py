"""DeepFaceLive's face-model contract (a ``.dfm`` is a plain ONNX file) and the checks on a file.

The contract, as DeepFaceLive's ``DFMModel`` consumes it:

* inputs: ``in_face:0`` float32 ``[N, R, R, 3]``, NHWC, BGR in [0, 1]; AMP models add
  ``morph_value:0`` float32 ``[1]`` (0 = the destination's identity … 1 = the source's);
  no other inputs;
* outputs, in this order: ``out_face_mask:0`` ``[N, R, R, 1]`` (the destination-decoder mask),
  ``out_celeb_face:0`` ``[N, R, R, 3]`` (the swapped face, BGR in [0, 1]),
  ``out_celeb_face_mask:0`` ``[N, R, R, 1]`` (the swapped face's mask).

:func:`inspect_model` reads a file's graph (never its weights, never running it) and refuses
anything outside the contract or unsafe to load: other inputs, resolutions above
:data:`MAX_RESOLUTION`, external-data paths that leave the model's folder or point past the
end of their file, oversized files. It also bounds what running the file can allocate: every
tensor's shape is inferred (ONNX shape inference with data propagation) at the file's own input
size (:mod:`recast.models.onnx_budget`), and a model with a tensor over 1 GiB, all tensors
together over 16 GiB, a shape that cannot be inferred, or a loop is refused before
onnxruntime sees it (a 539-byte ``ConstantOfShape [1, 30000, 30000]`` asks for 3.6 GB).
It does not import torch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from recast.errors import InputError
from recast.models.onnx_budget import check_memory_budget

IN_FACE = "in_face:0"
MORPH_VALUE = "morph_value:0"
OUT_FACE_MASK = "out_face_mask:0"
OUT_CELEB_FACE = "out_celeb_face:0"
OUT_CELEB_FACE_MASK = "out_celeb_face_mask:0"
OUTPUTS = (OUT_FACE_MASK, OUT_CELEB_FACE, OUT_CELEB_FACE_MASK)
SUFFIXES = (".dfm", ".onnx")

MAX_RESOLUTION = 1024
"""Largest face side accepted (recast trains up to 1024 px; DeepFaceLab up to 640 px)."""
MAX_BATCH = 256
"""Largest fixed batch size a file may declare."""
MAX_FILE_BYTES = 2 * 1024**3
"""A protobuf cannot be larger; weights beyond it must be external data."""
MAX_EXTERNAL_BYTES = 8 * 1024**3
"""Total external weight data accepted."""
MAX_TENSOR_ELEMENTS = 1 << 31
"""Largest element count a stored tensor may declare."""

METADATA_PREFIX = "recast."
SYNTHETIC_NOTICE = (
    "Synthetic media: every face this model outputs is machine-made and replaces a real person's "
    "face. Label what you publish as synthetic; use it only with the consent of the people shown."
)


@dataclass(frozen=True)
class ModelContract:
    """What :func:`inspect_model` found in a face-model file.

    Attributes:
        resolution: face side R in pixels.
        has_morph: the model takes ``morph_value`` (an AMP model).
        input_name, morph_name: the input names as stored (they contain ``in_face`` / ``morph_value``).
        output_names: the three outputs in contract order (dst mask, face, face mask).
        fixed_batch: the batch size the file fixes, or None when it is dynamic.
        metadata: the file's ``metadata_props`` (recast writes keys starting with ``recast.``).
    """

    resolution: int
    has_morph: bool
    input_name: str
    morph_name: str | None
    output_names: tuple[str, str, str]
    fixed_batch: int | None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def recast_config(self) -> dict[str, object] | None:
        """The exporting model's config (``recast.config``), or None for files recast did not make."""
        text = self.metadata.get(METADATA_PREFIX + "config")
        if text is None:
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None


def is_model_file(path: str | Path) -> bool:
    """Whether ``path`` names a face-model file by its suffix (``.dfm`` or ``.onnx``)."""
    return Path(path).suffix.lower() in SUFFIXES


def read_onnx(path: Path, what: str = "model file") -> onnx.ModelProto:
    """The ONNX graph of ``path`` (a regular file of at most :data:`MAX_FILE_BYTES`), without its external data.

    Raises:
        InputError: no such ``what``, too large, or not ONNX.
    """
    if not path.is_file():
        raise InputError(path, f"no such {what}")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputError(path, f"is {size} bytes, larger than an ONNX file can be")
    try:
        return onnx.load(str(path), load_external_data=False)
    except (DecodeError, RuntimeError, ValueError, OSError) as error:
        raise InputError(path, f"is not a readable ONNX model ({type(error).__name__})") from None


def inspect_model(path: str | Path) -> ModelContract:
    """Check a ``.dfm`` / ``.onnx`` file against the contract without loading weights or running it.

    Raises:
        InputError: one line naming the file: not ONNX, other inputs or outputs, shapes outside the
            contract or above the limits, unsafe or missing external data.
    """
    path = Path(path)
    model = read_onnx(path, "face-model file")
    _check_external_data(path, model)
    _check_tensor_sizes(path, model)
    graph = model.graph
    stored = {init.name for init in graph.initializer}
    inputs = [value for value in graph.input if value.name not in stored]
    if not inputs or "in_face" not in inputs[0].name:
        raise InputError(path, "first input must be 'in_face' [N, R, R, 3]; this is not a face-swap model")
    batch, resolution = _face_input(path, inputs[0])
    morph_name = None
    for extra in inputs[1:]:
        if "morph_value" not in extra.name or morph_name is not None:
            raise InputError(path, f"unexpected input {extra.name!r}: only 'in_face' and 'morph_value' are allowed")
        if _float_dims(path, extra) != [1]:
            raise InputError(path, f"input {extra.name!r} must be float32 of shape [1]")
        morph_name = extra.name
    if len(graph.output) < 3:
        raise InputError(path, f"has {len(graph.output)} outputs; the contract needs 3 "
                               "(out_face_mask, out_celeb_face, out_celeb_face_mask)")
    for value, channels in zip(graph.output[:3], (1, 3, 1), strict=True):
        _check_output(path, value, resolution, channels)
    check_memory_budget(path, model, batch or 1)
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    names = (graph.output[0].name, graph.output[1].name, graph.output[2].name)
    return ModelContract(resolution, morph_name is not None, inputs[0].name, morph_name, names, batch, metadata)


def _dims(value: onnx.ValueInfoProto) -> list[int | None]:
    """Declared dims; None for a symbolic or unknown dim."""
    shape = value.type.tensor_type.shape
    return [dim.dim_value if dim.HasField("dim_value") else None for dim in shape.dim]


def _float_dims(path: Path, value: onnx.ValueInfoProto) -> list[int | None]:
    tensor = value.type.tensor_type
    if not value.type.HasField("tensor_type") or tensor.elem_type != onnx.TensorProto.FLOAT:
        raise InputError(path, f"{value.name!r} must be a float32 tensor")
    return _dims(value)


def _face_input(path: Path, value: onnx.ValueInfoProto) -> tuple[int | None, int]:
    """``(fixed batch or None, resolution)`` of the ``in_face`` input."""
    dims = _float_dims(path, value)
    if len(dims) != 4 or dims[3] != 3:
        raise InputError(path, f"input {value.name!r} must be [N, R, R, 3] (NHWC BGR), declared {dims}")
    height, width = dims[1], dims[2]
    if height is None or width is None or height != width:
        raise InputError(path, f"input {value.name!r} must declare a fixed square face size, declared {dims}")
    if not 16 <= height <= MAX_RESOLUTION:
        raise InputError(path, f"face size {height} px is outside 16..{MAX_RESOLUTION}")
    batch = dims[0]
    if batch is not None and not 1 <= batch <= MAX_BATCH:
        raise InputError(path, f"batch size {batch} is outside 1..{MAX_BATCH}")
    return batch, height


def _check_output(path: Path, value: onnx.ValueInfoProto, resolution: int, channels: int) -> None:
    dims = _float_dims(path, value)
    if len(dims) != 4:
        raise InputError(path, f"output {value.name!r} must be [N, R, R, {channels}], declared {dims}")
    expected = [resolution, resolution, channels]
    if any(got is not None and got != want for got, want in zip(dims[1:], expected, strict=True)):
        raise InputError(path, f"output {value.name!r} must be [N, {resolution}, {resolution}, {channels}], "
                               f"declared {dims}")


def _tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Every tensor stored in ``graph``, its nodes' attributes and subgraphs."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _tensors(subgraph)


def _check_external_data(path: Path, model: onnx.ModelProto) -> None:
    """External data must live in files inside the model's folder, within their sizes."""
    folder = path.parent.resolve()
    total = 0
    for tensor in _tensors(model.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        location = info.get("location", "")
        if not location or os.path.isabs(location) or "\\" in location or ":" in location:
            raise InputError(path, f"external data path {location!r} is not a plain relative path; refused")
        target = (folder / location).resolve()
        if not target.is_relative_to(folder):
            raise InputError(path, f"external data path {location!r} points outside {folder}; refused")
        if not target.is_file():
            raise InputError(path, f"external data file {location!r} is missing")
        try:
            offset = int(info.get("offset", "0"))
            length = int(info["length"]) if "length" in info else target.stat().st_size - offset
        except ValueError:
            raise InputError(path, f"external data of {tensor.name!r} has a malformed offset or length") from None
        if offset < 0 or length < 0 or offset + length > target.stat().st_size:
            raise InputError(path, f"external data of {tensor.name!r} lies outside {location!r}")
        total += length
    if total > MAX_EXTERNAL_BYTES:
        raise InputError(path, f"declares {total} bytes of external data, more than {MAX_EXTERNAL_BYTES}")


def _check_tensor_sizes(path: Path, model: onnx.ModelProto) -> None:
    """Stored tensors must declare sane shapes, and inline ones must hold exactly what they declare."""
    for tensor in _tensors(model.graph):
        count = 1
        for dim in tensor.dims:
            if dim < 0:
                raise InputError(path, f"tensor {tensor.name!r} declares a negative dimension")
            count *= dim
        if count > MAX_TENSOR_ELEMENTS:
            raise InputError(path, f"tensor {tensor.name!r} declares {count} elements; refused")
        if tensor.data_location != onnx.TensorProto.EXTERNAL and tensor.HasField("raw_data"):
            try:
                itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
            except (KeyError, ValueError, TypeError):
                raise InputError(path, f"tensor {tensor.name!r} has an unknown data type") from None
            if len(tensor.raw_data) != count * itemsize:
                raise InputError(path, f"tensor {tensor.name!r} holds {len(tensor.raw_data)} bytes but declares "
                                       f"{count} elements")

