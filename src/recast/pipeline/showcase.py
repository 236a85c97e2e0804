"""Showing a result: a before/after image and a side-by-side video, both labelled as synthetic media.

A person would rather look than read: ``recast demo`` writes both next to its result, and they
work for any result video and its destination.

Example:
    >>> image = before_after_image(src_frame, dst_frame, result_frame, mask)   # (H, W, 3) uint8 BGR
    >>> write_side_by_side("dst.mp4", "result.mp4", "result_side_by_side.mp4")
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from recast.errors import InputError
from recast.media.video import iter_frames, probe
from recast.provenance.label import mark_frame
from recast.provenance.writer import EncodeOptions, EncodeSummary, ResultWriter

CAPTION_HEIGHT = 28
"""Height in pixels of the caption strip under (image) or above (video) each panel."""


def caption(image: np.ndarray, text: str, above: bool = False) -> np.ndarray:
    """``image`` (``(H, W, 3)`` uint8 BGR) with a black strip holding ``text`` in white, below or above it."""
    strip = np.zeros((CAPTION_HEIGHT, image.shape[1], 3), np.uint8)
    scale = 0.5
    (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    origin = (max(4, (image.shape[1] - width) // 2), (CAPTION_HEIGHT + height) // 2)
    cv2.putText(strip, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([strip, image] if above else [image, strip])


def _panel(image: np.ndarray, height: int, text: str) -> np.ndarray:
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    return caption(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), text)


def before_after_image(src: np.ndarray, dst: np.ndarray, result: np.ndarray, mask: np.ndarray,
                       height: int = 256) -> np.ndarray:
    """Four captioned panels side by side: the source person, the destination frame, the result, its mask.

    Args:
        src: a frame of the source person, ``(H, W, 3)`` uint8 BGR.
        dst: the destination frame, ``(H, W, 3)`` uint8 BGR.
        result: the same frame after the swap, ``(H, W, 3)`` uint8 BGR.
        mask: the merge mask of that frame, ``(H, W)`` or ``(H, W, 3)`` uint8 (255 = face replaced).
        height: panel height in pixels (each panel keeps its aspect ratio).

    Returns:
        ``(height + CAPTION_HEIGHT, W', 3)`` uint8 BGR, carrying the invisible watermark (it shows a
        synthetic face), the result panel captioned as synthetic.
    """
    panels = [_panel(src, height, "source person"), _panel(dst, height, "destination"),
              _panel(result, height, "result (synthetic)"), _panel(mask, height, "mask")]
    return mark_frame(np.hstack(panels))


def frame_at(video: str | Path, index: int) -> np.ndarray:
    """Frame ``index`` (from 1) of a video, ``(H, W, 3)`` uint8 BGR; the last one if the video is shorter.

    Raises:
        InputError: the video has no frames.
    """
    last = None
    for number, frame in iter_frames(video):
        last = frame
        if number >= index:
            break
    if last is None:
        raise InputError(video, "has no frames")
    return last


def write_side_by_side(dst: str | Path, result: str | Path, output: str | Path,
                       overwrite: bool = False) -> EncodeSummary:
    """The destination and the result next to each other, as one labelled video with the destination's audio.

    Each frame is ``[destination | result]`` under the captions "original" and "result (synthetic
    media)"; the video carries recast's labels (container tags, watermark, sidecar) like every
    result. Frames are paired in order until either video ends.

    Raises:
        InputError: an input is missing or not a video; the output exists and not ``overwrite``;
            the two videos differ in frame size.
    """
    dst, result, output = Path(dst), Path(result), Path(output)
    info = probe(dst)
    options = EncodeOptions(fps=info.fps_fraction, audio_from=dst if info.has_audio else None,
                            overwrite=overwrite,
                            provenance={"inputs": {"dst": dst, "result": result},
                                        "settings": {"layout": "destination | result"}})
    with ResultWriter(output, options, with_mask=False, inputs=[dst, result]) as writer:
        for (_, before), (_, after) in zip(iter_frames(dst), iter_frames(result), strict=False):
            if before.shape != after.shape:
                raise InputError(result, f"frames are {after.shape[1]}x{after.shape[0]}, the destination's "
                                         f"{before.shape[1]}x{before.shape[0]}")
            frame = np.hstack([caption(before, "original", above=True),
                               caption(after, "result (synthetic media)", above=True)])
            writer.write(*writer.label(frame))
        return writer.close()
