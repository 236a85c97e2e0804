"""recast: face replacement in video with a shared-encoder autoencoder.

Stages (each a Python function, wrapped by the ``recast`` CLI):
video → frames → extract (aligned faces) → curate → train → merge → video.

Image convention across the package: ``numpy.ndarray`` of shape ``(H, W, 3)``, ``uint8``,
**BGR** channel order (OpenCV's), unless a function's docstring says otherwise.
"""

__version__ = "0.1.0"

#: The name recast is published under on PyPI (``recast`` there is an unrelated project).
DISTRIBUTION = "recast-faceswap"
