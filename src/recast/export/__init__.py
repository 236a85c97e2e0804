"""Models that travel: DeepFaceLive ``.dfm`` / ONNX export.

* :mod:`recast.export.dfm`: export a trained model folder (torch → ONNX) to the face-model contract
  (:mod:`recast.models.contract`);
* :mod:`recast.export.xseg_onnx`: export a trained XSeg mask model to ONNX.

Running a ``.dfm`` / ``.onnx`` file (import) is :mod:`recast.models.onnx_swapper`, reached through
:func:`recast.models.loader.load_face_model`.
"""
