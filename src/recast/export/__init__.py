"""Models that travel: DeepFaceLive ``.dfm`` / ONNX export and import.

* :mod:`recast.export.contract`: the face-model contract and the safety checks on a file (no torch);
* :mod:`recast.export.dfm`: export a trained model folder (torch → ONNX);
* :mod:`recast.export.onnx_swapper`: run a ``.dfm`` / ``.onnx`` file in onnxruntime as the
  merger's model (no torch).
"""
