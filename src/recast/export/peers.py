"""What the programs that load recast's exports give a model, and what they refuse.

A ``.dfm`` is DeepFaceLive's face-model format; FaceFusion's ``deep_swapper`` runs the same files.
Neither asks the file which crop it was trained on:

* DeepFaceLive crops with its *Face coverage* setting (default 2.2, a ``whole`` face) and runs the
  model in onnxruntime 1.15.1, which has no kernels for opset 19 (``Reshape(19)``) and calls opset
  20 "under development".
* FaceFusion's ``deep_swapper`` always cuts a DeepFaceLab whole face (``dfl_whole_face``) and runs
  a current onnxruntime.

A model trained on another face type still runs there, but sees a face zoomed in or out
(a ``full`` model gets 0.75 of the face it was trained on). :func:`peer_warnings` says so in one
line, with the coverage value that makes DeepFaceLive match.

>>> peer_warnings("full", 12)[0][:40]
'trained on full faces, but DeepFaceLive '
"""

from __future__ import annotations

from dataclasses import dataclass

from recast.faces.facetype import FaceType, parse_face_type

PEER_FACE_TYPE = FaceType.WHOLE
"""The crop both peers give a face model by default."""

DEEPFACELIVE_COVERAGE = 2.2
"""DeepFaceLive's default *Face coverage*: the whole face."""


@dataclass(frozen=True)
class PeerRuntime:
    """A program that loads recast's exports, and the newest ONNX opset its runtime runs (tested)."""

    name: str
    runtime: str
    max_opset: int


DEEPFACELIVE = PeerRuntime("DeepFaceLive", "onnxruntime 1.15.1", 18)
FACEFUSION = PeerRuntime("FaceFusion", "onnxruntime 1.28", 20)
PEERS = (DEEPFACELIVE, FACEFUSION)

PEER_MAX_OPSET = min(peer.max_opset for peer in PEERS)
"""The newest opset every peer runs: the most a ``.dfm`` may use."""


def deepfacelive_coverage(face_type: str | FaceType) -> float:
    """DeepFaceLive's *Face coverage* that cuts the crop of ``face_type`` (2.2 for ``whole``), 2 decimals."""
    extent = parse_face_type(face_type).extent
    return round(DEEPFACELIVE_COVERAGE * extent / PEER_FACE_TYPE.extent, 2)


def face_type_warning(face_type: str | FaceType) -> str | None:
    """One line when the peers' crop differs from ``face_type`` (with DeepFaceLive's matching coverage)."""
    kind = parse_face_type(face_type)
    if kind is PEER_FACE_TYPE:
        return None
    ratio = kind.extent / PEER_FACE_TYPE.extent
    return (f"trained on {kind.value} faces, but DeepFaceLive (Face coverage {DEEPFACELIVE_COVERAGE}) and "
            f"FaceFusion's deep_swapper (always dfl_whole_face) give it whole faces, {ratio:.2f}× its scale: "
            f"set DeepFaceLive's Face coverage to {deepfacelive_coverage(kind)}, or train with --face-type whole "
            f"for those programs")


def opset_warning(opset: int) -> str | None:
    """One line naming the peers whose runtime refuses ``opset``, or None."""
    refusing = [peer for peer in PEERS if opset > peer.max_opset]
    if not refusing:
        return None
    names = ", ".join(f"{peer.name} ({peer.runtime}, opset ≤ {peer.max_opset})" for peer in refusing)
    return f"opset {opset} will not load in {names}; the default opset loads everywhere"


def peer_warnings(face_type: str | FaceType, opset: int) -> list[str]:
    """One line per way an export of this face type and opset will not work as trained in the peers."""
    return [line for line in (face_type_warning(face_type), opset_warning(opset)) if line]
