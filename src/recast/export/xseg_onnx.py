"""Export a trained XSeg model as ONNX with DeepFaceLab's XSeg contract.

Contract (DeepFaceLab's ``XSegNet`` export, opset 13): input ``in_face:0`` float32
``[N, 256, 256, 3]`` NHWC, BGR in [0, 1], cropped as the model's face type (stored in the file's
metadata as ``recast.face_type``); output ``out_mask:0`` float32 ``[N, 256, 256, 1]`` in [0, 1]
(the sigmoid is inside the graph). The batch dimension is dynamic; batch norms are folded.

>>> summary = export_xseg("workspace/model/xseg", "xseg.onnx")
"""

from __future__ import annotations

import io
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch
from torch import nn

from recast import __version__
from recast.atomic import atomic_write_bytes
from recast.errors import InputError, OptionError
from recast.export.dfm import check_opset
from recast.export.peers import opset_warning
from recast.models import checkpoint as ckpt
from recast.models.contract import METADATA_PREFIX
from recast.models.xseg import XSeg
from recast.models.xseg_config import XSEG_RESOLUTION
from recast.models.xseg_inference import load_xseg
from recast.provenance.label import sha256_file

log = logging.getLogger(__name__)

IN_FACE = "in_face:0"
OUT_MASK = "out_mask:0"
DEFAULT_OPSET = 13


@dataclass
class XSegExportSummary:
    """What :func:`export_xseg` wrote: path, face type, opset, size in bytes, metadata, and one line per
    peer runtime that will refuse the opset (:func:`recast.export.peers.opset_warning`)."""

    path: Path
    face_type: str
    opset: int
    bytes: int
    metadata: dict[str, str]
    warnings: list[str]


class XSegGraph(nn.Module):
    """NHWC BGR faces ``(N, 256, 256, 3)`` → masks ``(N, 256, 256, 1)`` in [0, 1]."""

    def __init__(self, model: XSeg) -> None:
        super().__init__()
        self.model = model

    def forward(self, in_face: torch.Tensor) -> torch.Tensor:
        return self.model.mask(in_face.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


def build_xseg_graph(model: XSeg, opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """Trace ``model`` (float32, eval, batch norms folded, CPU) into the contract's ONNX graph."""
    model = model.to("cpu", torch.float32).fold_batch_norm()
    face = torch.rand(1, XSEG_RESOLUTION, XSEG_RESOLUTION, 3)
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter needs no onnxscript
        warnings.simplefilter("ignore", UserWarning)  # "Constant folding … Slice": harmless, from the reflect pads
        torch.onnx.export(
            XSegGraph(model).eval(), (face,), buffer,  # type: ignore[arg-type]  # a file object works too
            input_names=[IN_FACE], output_names=[OUT_MASK], opset_version=opset,
            dynamic_axes={IN_FACE: {0: "N"}, OUT_MASK: {0: "N"}}, do_constant_folding=True, dynamo=False,
        )
    return onnx.load_from_string(buffer.getvalue())


def export_xseg(model_dir: str | Path, out_path: str | Path, *, opset: int = DEFAULT_OPSET,
                overwrite: bool = False) -> XSegExportSummary:
    """Write the XSeg model folder ``model_dir`` as ONNX (``.onnx``).

    Raises:
        InputError: not a trained XSeg folder; the output exists and not ``overwrite``.
        OptionError: a suffix other than .onnx, or an opset outside 13 … 20 (above 18 warns: DeepFaceLive's
            onnxruntime 1.15.1 refuses it).
    """
    model_dir, out_path = Path(model_dir), Path(out_path)
    if out_path.suffix.lower() != ".onnx":
        raise OptionError(f"output {out_path} must end in .onnx")
    check_opset(opset, out_path, minimum=DEFAULT_OPSET)
    if out_path.exists() and not overwrite:
        raise InputError(out_path, "already exists; refusing to overwrite it (--force)")
    model, iteration, weights = load_xseg(model_dir)
    name, config = ckpt.read_model_config(model_dir)
    proto = build_xseg_graph(model, opset)
    values = {"version": __version__, "model": name, "config": json.dumps(config, sort_keys=True),
              "face_type": model.config.face_type, "resolution": str(XSEG_RESOLUTION), "iteration": str(iteration),
              "weights_sha256": sha256_file(weights)}
    metadata = {METADATA_PREFIX + key: value for key, value in values.items()}
    for key, value in metadata.items():
        proto.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    proto.producer_name, proto.producer_version = "recast", __version__
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    atomic_write_bytes(out_path, data)
    log.info("exported XSeg %s (%s) to %s, %d bytes", model_dir, name, out_path, len(data))
    notes = [line for line in (opset_warning(opset),) if line]
    for line in notes:
        log.warning("%s: %s", out_path, line)
    return XSegExportSummary(out_path, model.config.face_type, opset, len(data), metadata, notes)
