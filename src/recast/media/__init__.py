"""Media layer: video <-> frames, image files, audio remux (PyAV + OpenCV, no torch)."""

from recast.media.images import denoise_frame, list_images, read_image, write_image
from recast.media.video import VideoInfo, extract_frames, iter_frames, probe
from recast.media.video_encode import VideoWriter, cut, h264_roundtrip

__all__ = [
    "VideoInfo",
    "VideoWriter",
    "cut",
    "denoise_frame",
    "extract_frames",
    "h264_roundtrip",
    "iter_frames",
    "list_images",
    "probe",
    "read_image",
    "write_image",
]
