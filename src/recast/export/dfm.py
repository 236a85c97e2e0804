"""Export a trained recast model as a DeepFaceLive ``.dfm`` (or ``.onnx``) face model.

The exported graph wraps the model's swap (NCHW inside) between NHWC transposes so that it
meets :mod:`recast.models.contract` exactly: ``in_face:0`` ``[N, R, R, 3]`` float32 BGR in
[0, 1] (plus ``morph_value:0`` ``[1]`` for AMP) → ``out_face_mask:0`` ``[N, R, R, 1]``,
``out_celeb_face:0`` ``[N, R, R, 3]``, ``out_celeb_face_mask:0`` ``[N, R, R, 1]``.
The batch dimension is dynamic. The file's metadata carries the recast version, the model's
registry name and config, its face type, iteration and weights hash, and a synthetic-media
notice (:data:`recast.models.contract.SYNTHETIC_NOTICE`).

``fp16=True`` stores the weights as float16 (half the file) and casts them back to float32 when
the runtime loads the graph, so the file runs on every onnxruntime provider (CPU included,
which lacks most float16 kernels); the arithmetic stays float32. DeepFaceLab's "quantized"
export computes convolutions in float16 instead, which only GPUs run faster.

Example:
    >>> summary = export_model("workspace/model/saehd", "saehd_224.dfm")
"""

from __future__ import annotations

import io
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from recast import __version__
from recast.atomic import atomic_write_bytes
from recast.errors import InputError, OptionError
from recast.export.peers import DEEPFACELIVE, PEER_MAX_OPSET, peer_warnings
from recast.models import checkpoint as ckpt
from recast.models.base import FaceSwapModel
from recast.models.contract import (
    IN_FACE,
    METADATA_PREFIX,
    MORPH_VALUE,
    OUTPUTS,
    SUFFIXES,
    SYNTHETIC_NOTICE,
    inspect_model,
)
from recast.models.inference import FaceSwapper
from recast.provenance.label import PROVENANCE_LABEL, sha256_file

log = logging.getLogger(__name__)

DEFAULT_OPSET = 12
"""DeepFaceLab exports with opset 12; every peer (:mod:`recast.export.peers`) loads it."""
MAX_OPSET = 20
"""The newest opset an ``.onnx`` export may use; a ``.dfm`` stops at :data:`~recast.export.peers.PEER_MAX_OPSET`."""
_FP16_MIN_ELEMENTS = 16


@dataclass
class ExportSummary:
    """What :func:`export_model` wrote.

    Attributes:
        path: the written file. resolution: face side R. has_morph: AMP ``morph_value`` input.
        opset: ONNX opset. fp16: weights stored as float16. bytes: file size.
        metadata: the ``metadata_props`` written into the file.
        warnings: one line per way DeepFaceLive or FaceFusion will not run it as trained
        (:func:`recast.export.peers.peer_warnings`).
    """

    path: Path
    resolution: int
    has_morph: bool
    opset: int
    fp16: bool
    bytes: int
    metadata: dict[str, str]
    warnings: list[str]


class DfmGraph(nn.Module):
    """The exported computation: NHWC BGR faces (and AMP morph) → the contract's three outputs.

    ``forward(in_face (N, R, R, 3), morph_value (1,) for AMP)`` returns
    ``(dst mask (N, R, R, 1), swapped face (N, R, R, 3), swapped-face mask (N, R, R, 1))``, float32.
    """

    def __init__(self, model: FaceSwapModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, in_face: torch.Tensor, morph_value: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        face, face_mask, dst_mask = self.model.export_swap(in_face.permute(0, 3, 1, 2), morph_value)
        return dst_mask.permute(0, 2, 3, 1), face.permute(0, 2, 3, 1), face_mask.permute(0, 2, 3, 1)


def export_model(
    model_dir: str | Path,
    out_path: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    fp16: bool = False,
    overwrite: bool = False,
) -> ExportSummary:
    """Write a trained model folder as a DeepFaceLive-compatible ONNX file (``.dfm`` or ``.onnx``).

    Args:
        model_dir: a recast model folder (Quick96, SAEHD of any archi, AMP).
        out_path: the file to write; its suffix must be ``.dfm`` or ``.onnx`` (the bytes are the same).
        opset: ONNX opset, 12 (DeepFaceLab's) … 18 for ``.dfm`` (DeepFaceLive's onnxruntime 1.15.1
            runs no newer), … 20 for ``.onnx`` (with a warning naming the programs that refuse it).
        fp16: store the weights as float16 (see the module docstring).
        overwrite: replace an existing file.

    Raises:
        InputError: not a trained model folder; the output exists and not ``overwrite``.
        OptionError: bad suffix or opset.
    """
    model_dir, out_path = Path(model_dir), Path(out_path)
    if out_path.suffix.lower() not in SUFFIXES:
        raise OptionError(f"output {out_path} must end in .dfm or .onnx")
    check_opset(opset, out_path, minimum=DEFAULT_OPSET)
    if out_path.exists() and not overwrite:
        raise InputError(out_path, "already exists; refusing to overwrite it (--force)")
    swapper = FaceSwapper.load(model_dir, device="cpu", channels_last=False, precision="fp32")
    name, config = ckpt.read_model_config(model_dir)
    proto = build_graph(swapper.model, opset)
    if fp16:
        store_weights_fp16(proto)
    metadata = _metadata(model_dir, name, config, swapper, fp16)
    for key, value in metadata.items():
        proto.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    proto.producer_name, proto.producer_version = "recast", __version__
    proto.doc_string = SYNTHETIC_NOTICE
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    atomic_write_bytes(out_path, data)
    inspect_model(out_path)
    log.info("exported %s (%d px, %s) to %s, %d bytes", model_dir, swapper.resolution, name, out_path, len(data))
    notes = peer_warnings(swapper.face_type, opset)
    for line in notes:
        log.warning("%s: %s", out_path, line)
    return ExportSummary(out_path, swapper.resolution, swapper.is_amp, opset, fp16, len(data), metadata, notes)


def check_opset(opset: int, out_path: Path, *, minimum: int) -> None:
    """Refuse an opset below ``minimum``, above :data:`MAX_OPSET`, or above what DeepFaceLive runs for a ``.dfm``.

    Raises:
        OptionError: naming the bound and, for a ``.dfm``, DeepFaceLive's runtime.
    """
    if out_path.suffix.lower() == ".dfm" and opset > PEER_MAX_OPSET:
        raise OptionError(f"opset {opset}: a .dfm is loaded by {DEEPFACELIVE.name} ({DEEPFACELIVE.runtime}), which "
                          f"runs opsets up to {PEER_MAX_OPSET}; choose {minimum} … {PEER_MAX_OPSET}, or write .onnx")
    if not minimum <= opset <= MAX_OPSET:
        raise OptionError(f"opset {opset}: choose {minimum} (DeepFaceLab's) … {MAX_OPSET}")


def build_graph(model: FaceSwapModel, opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """Trace ``model`` (float32, eval mode, on the CPU) into the contract's ONNX graph."""
    # torch's stubs leave out Module.to's memory_format keyword
    model = model.to("cpu", torch.float32, memory_format=torch.contiguous_format).eval()  # type: ignore[call-overload]
    graph = DfmGraph(model).eval()
    r = model.resolution
    face = torch.rand(1, r, r, 3)
    args: tuple[torch.Tensor, ...] = (face, torch.tensor([0.5])) if model.morphable else (face,)
    inputs = [IN_FACE, MORPH_VALUE] if model.morphable else [IN_FACE]
    batch = {0: "N"}
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter needs no onnxscript
        # progressive growth branches on the spatial side, which the exported graph fixes (only the batch is
        # dynamic), and on the growth stage, a buffer that is constant in a saved checkpoint
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, module=r"recast\.models\.(growth|saehd)")
        torch.onnx.export(
            graph, args, buffer,  # type: ignore[arg-type]  # the TorchScript exporter takes a file object too
            input_names=inputs, output_names=list(OUTPUTS), opset_version=opset,
            dynamic_axes={IN_FACE: batch, **dict.fromkeys(OUTPUTS, batch)}, do_constant_folding=True,
            dynamo=False,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    for output in proto.graph.output:  # growth resizes by traced sizes: declare the fixed R that readers need
        dims = output.type.tensor_type.shape.dim
        for axis in (1, 2):
            dims[axis].Clear()
            dims[axis].dim_value = r
    return proto


def store_weights_fp16(proto: onnx.ModelProto) -> None:
    """Store every float32 initializer of ≥ 16 elements as float16, cast back to float32 on load (in place)."""
    graph = proto.graph
    kept, casts = [], []
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT or int(np.prod(init.dims)) < _FP16_MIN_ELEMENTS:
            kept.append(init)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + "_fp16")
        kept.append(half)
        casts.append(onnx.helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = [*casts, *graph.node]
    del graph.node[:]
    graph.node.extend(nodes)


def _metadata(model_dir: Path, name: str, config: dict[str, object], swapper: FaceSwapper,
              fp16: bool) -> dict[str, str]:
    state = ckpt.read_state(model_dir) or {}
    weights_hash = sha256_file(model_dir / str(state.get("checkpoint", "")) / ckpt.WEIGHTS_FILE)
    values = {
        "version": __version__,
        "label": PROVENANCE_LABEL,
        "notice": SYNTHETIC_NOTICE,
        "model": name,
        "config": json.dumps(config, sort_keys=True),
        "face_type": swapper.face_type.value,
        "resolution": str(swapper.resolution),
        "iteration": str(swapper.iteration),
        "weights_sha256": weights_hash,
        "weights_dtype": "float16" if fp16 else "float32",
    }
    return {METADATA_PREFIX + key: value for key, value in values.items()}
