"""recast: face replacement in video with a shared-encoder autoencoder.

Stages (each a Python function, wrapped by the ``recast`` CLI):
video → frames → extract (aligned faces) → curate → train → merge → video.

Image convention across the package: ``numpy.ndarray`` of shape ``(H, W, 3)``, ``uint8``,
**BGR** channel order (OpenCV's), unless a function's docstring says otherwise.
"""

import os

__version__ = "0.1.0"

#: The name recast is published under on PyPI (``recast`` there is an unrelated project).
DISTRIBUTION = "recast-faceswap"

#: Largest image (width × height, 64 megapixels; an 8K frame is 33) the decode gate
#: (:mod:`recast.media.images`) lets any reader decode; declared here because OpenCV reads its own
#: bound once, when ``cv2`` is loaded: before any recast module imports it.
DEFAULT_MAX_IMAGE_PIXELS = 64 << 20
#: Environment variable that overrides :data:`DEFAULT_MAX_IMAGE_PIXELS` (a whole number of pixels).
MAX_IMAGE_PIXELS_ENV = "RECAST_MAX_IMAGE_PIXELS"


def _bound_opencv_decoder() -> None:
    """Set ``OPENCV_IO_MAX_IMAGE_PIXELS`` to the decode gate's bound (never raising one set lower).

    OpenCV then refuses any image over the bound before allocating it, even one whose header the
    gate misread. ``$RECAST_MAX_IMAGE_PIXELS`` (validated later by the gate) overrides the default.
    """
    text = os.environ.get(MAX_IMAGE_PIXELS_ENV, "").strip()
    limit = int(text) if text.isdigit() and int(text) > 0 else DEFAULT_MAX_IMAGE_PIXELS
    current = os.environ.get("OPENCV_IO_MAX_IMAGE_PIXELS", "").strip()
    if current.isdigit() and 0 < int(current) < limit:
        return
    os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = str(limit)


_bound_opencv_decoder()
