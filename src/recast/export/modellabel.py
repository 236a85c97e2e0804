"""What an exported model file says about itself: the synthetic-media notice and recast's metadata.

``recast verify NAME.dfm`` reports this instead of looking for a video's labels. A face model that
recast exported carries :data:`~recast.models.contract.SYNTHETIC_NOTICE` as its ONNX ``doc_string`` and
as ``recast.notice``, plus ``recast.label``, the model name, face type, resolution, iteration and
weights hash; an XSeg export makes masks, not faces, and carries no notice.

>>> label = read_model_label("saehd_224.dfm")
>>> label.labelled, label.metadata["recast.face_type"]
(True, 'whole')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recast.models.contract import METADATA_PREFIX, SYNTHETIC_NOTICE, read_onnx
from recast.provenance.label import PROVENANCE_LABEL


@dataclass(frozen=True)
class ModelLabel:
    """The labels found in a ``.dfm`` / ``.onnx`` file.

    Attributes:
        path: the file. kind: ``"face model"`` (``in_face`` → three outputs), ``"XSeg mask model"``
        (``out_mask``) or ``"ONNX model"``. notice: the synthetic-media notice it carries, or None.
        metadata: its ``metadata_props`` whose keys start with ``recast.``.
    """

    path: Path
    kind: str
    notice: str | None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def labelled(self) -> bool:
        """The file carries recast's synthetic-media notice or label."""
        return self.notice is not None or self.metadata.get(METADATA_PREFIX + "label") == PROVENANCE_LABEL

    @property
    def verdict(self) -> str:
        """One line: the label found, or that none was."""
        if self.labelled:
            return f"{PROVENANCE_LABEL}: {self.kind} with recast's synthetic-media notice"
        if self.kind == "XSeg mask model" and self.metadata:
            return "XSeg mask model exported by recast (it makes masks, not faces: no notice needed)"
        return "no recast label found"

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, with ``labelled`` and ``verdict``."""
        return {"path": str(self.path), "kind": self.kind, "labelled": self.labelled, "verdict": self.verdict,
                "notice": self.notice, "metadata": dict(self.metadata)}


def read_model_label(path: str | Path) -> ModelLabel:
    """Read the notice and ``recast.*`` metadata of an ONNX file, without its weights' external data.

    Raises:
        InputError: the file is missing, larger than an ONNX file can be, or not ONNX.
    """
    path = Path(path)
    model = read_onnx(path)
    metadata = {prop.key: prop.value for prop in model.metadata_props if prop.key.startswith(METADATA_PREFIX)}
    notices = {model.doc_string, metadata.get(METADATA_PREFIX + "notice")}
    notice = SYNTHETIC_NOTICE if SYNTHETIC_NOTICE in notices else None
    outputs = [value.name for value in model.graph.output]
    if len(outputs) >= 3 and any("in_face" in value.name for value in model.graph.input):
        kind = "face model"
    elif any("out_mask" in name for name in outputs):
        kind = "XSeg mask model"
    else:
        kind = "ONNX model"
    return ModelLabel(path, kind, notice, metadata)
