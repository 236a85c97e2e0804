"""What the merger and the live engine need from a face model: the :class:`SwapModel` protocol.

Satisfied by a trained model folder (:class:`recast.models.inference.FaceSwapper`, PyTorch), a
``.dfm`` / ``.onnx`` file (:class:`recast.models.onnx_swapper.OnnxFaceSwapper`, onnxruntime) and an
enhanced model (:class:`recast.models.enhancer.EnhancedSwapper`). No torch.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from recast.faces.facetype import FaceType


class SwapModel(Protocol):
    """What the merger needs from a trained model (``recast.models.inference.FaceSwapper``)."""

    resolution: int
    face_type: FaceType
    has_learned_mask: bool

    def swap(
        self, faces: np.ndarray, morph: float = 1.0, masks: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """``(N, R, R, 3)`` float32 BGR crops → swapped faces and learned masks ``(N, R, R)``.

        With ``masks=False`` the model may skip its mask branches and return None for both masks.
        """
        ...
