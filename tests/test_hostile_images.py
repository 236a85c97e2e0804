"""Issue #14 case 1: decompression bombs are refused by the one decode gate before any allocation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from faces_factory import synthetic_face
from hostile_factory import bomb_png, face_with_mask_png, write_bytes
from recast.errors import InputError, MetadataError
from recast.faces.aligned import read_face, read_meta, write_face
from recast.media.images import MAX_IMAGE_PIXELS_ENV, check_image_size, image_size, read_image

SRC = Path(__file__).resolve().parents[1] / "src"
TESTS = Path(__file__).resolve().parent

_VMHWM = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM:')).split()[1])"
"""Peak RSS (KiB) of this process image; unlike ``ru_maxrss`` it is not inherited through fork/exec."""

_PEAK_SCRIPT = """
import sys
from recast.errors import RecastError
from {module} import {function} as read
try:
    read(sys.argv[1])
except RecastError as error:
    print("refused:", error)
print("peak_kib", {vmhwm})
"""


def _peak_mib(module: str, function: str, path: Path) -> tuple[float, str]:
    """Run ``module.function(path)`` in a fresh interpreter; its peak RSS (MiB) and output."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{TESTS}"}
    script = _PEAK_SCRIPT.format(module=module, function=function, vmhwm=_VMHWM)
    done = subprocess.run([sys.executable, "-c", script, str(path)],
                          capture_output=True, text=True, env=env, timeout=120, check=True)
    peak = int(done.stdout.split("peak_kib")[-1]) / 1024
    return peak, done.stdout


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """A 124 KB PNG declaring 32000x32000 1-bit pixels (decodes to ~1 GB, 3 GB in colour)."""
    return bomb_png(32000, 32000)


def test_header_sizes_of_every_format() -> None:
    image = np.zeros((30, 50, 3), np.uint8)
    for ext in (".png", ".jpg", ".webp", ".bmp", ".tiff"):
        assert image_size(cv2.imencode(ext, image)[1].tobytes()) == (50, 30), ext
    assert image_size(cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes()) == (50, 30)
    assert image_size(b"P6 50 30 255\n") is None
    assert image_size(b"\x89PNG\r\n\x1a\n") is None


def test_bomb_png_refused_by_read_image_with_small_peak(tmp_path: Path, bomb: bytes) -> None:
    path = write_bytes(tmp_path / "frame.png", bomb)
    with pytest.raises(InputError, match="32000x32000 pixels, over the limit"):
        read_image(path)
    peak, out = _peak_mib("recast.media.images", "read_image", path)
    assert "refused:" in out and peak < 500, out


def test_bomb_mask_in_metadata_refused_with_small_peak(tmp_path: Path, bomb: bytes) -> None:
    path = write_bytes(tmp_path / "00001_0.jpg", face_with_mask_png(bomb))
    assert 150_000 < path.stat().st_size < 200_000
    with pytest.raises(MetadataError, match=r"00001_0.jpg: invalid metadata: xseg_mask_png: .*32000x32000"):
        read_meta(path)
    peak, out = _peak_mib("recast.faces.aligned", "read_meta", path)
    assert "refused:" in out and peak < 500, out


def test_mask_larger_than_its_face_refused(tmp_path: Path) -> None:
    _ok, mask = cv2.imencode(".png", np.zeros((65, 64), np.uint8))
    path = write_bytes(tmp_path / "00001_0.jpg", face_with_mask_png(mask.tobytes(), size=64))
    with pytest.raises(MetadataError, match="larger than the 64x64 allowed"):
        read_meta(path)


def test_mask_of_face_size_still_reads(tmp_path: Path) -> None:
    image, meta = synthetic_face(size=64)
    meta.xseg_mask = np.ones((64, 64), np.float32)
    write_face(tmp_path / "a.png", image, meta)
    assert read_face(tmp_path / "a.png").meta.xseg_mask.shape == (64, 64)


def test_huge_declared_png_is_one_error_not_cv2_error(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "big.png", bomb_png(50000, 50000, compressed=False))
    with pytest.raises(InputError, match="50000x50000"):
        read_image(path)


def test_limit_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), np.zeros((20, 20, 3), np.uint8))
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, "100")
    with pytest.raises(InputError, match="over the limit of 100 pixels"):
        read_image(path)
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, "400")
    assert read_image(path).shape == (20, 20, 3)
    assert check_image_size(path.read_bytes(), path) == (20, 20)


def test_device_file_is_not_read_as_image(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a regular file"):
        read_image("/dev/zero")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        read_image(fifo)


def test_faceset_info_with_bomb_face_lists_it_with_small_peak(tmp_path: Path, bomb: bytes) -> None:
    folder = tmp_path / "aligned"
    image, meta = synthetic_face(size=64)
    write_face(folder / "00002_0.jpg", image, meta)
    write_bytes(folder / "00001_0.jpg", face_with_mask_png(bomb))
    env = {**os.environ, "PYTHONPATH": f"{SRC}"}
    script = ("import sys\nfrom recast.faceset.info import faceset_info\n"
              "info = faceset_info(sys.argv[1])\n"
              f"print(*info.without_metadata, {_VMHWM})")
    done = subprocess.run([sys.executable, "-c", script, str(folder)], capture_output=True, text=True, env=env,
                          timeout=120, check=True)
    names, peak_kib = done.stdout.split()[:-1], done.stdout.split()[-1]
    assert names == ["00001_0.jpg"]
    assert int(peak_kib) / 1024 < 500, done.stdout


def test_video_over_the_pixel_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from recast.media.video import probe
    from recast.media.video_encode import VideoWriter

    path = tmp_path / "v.mp4"
    with VideoWriter(path, fps=10) as writer:
        for _ in range(3):
            writer.write(np.zeros((32, 32, 3), np.uint8))
    assert probe(path).width == 32
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, "1000")
    with pytest.raises(InputError, match="video frames declare 32x32 pixels, over the limit"):
        probe(path)
