"""Hostile inputs for tests and benchmarks: decompression-bomb images and faces carrying them."""

from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np

from faces_factory import synthetic_face
from recast.faces.aligned import _jpeg_with_text, encode_face, metadata_text


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(width: int, height: int, compressed: bool = True) -> bytes:
    """A valid 1-bit grey PNG of ``width`` x ``height`` zero pixels.

    ``compressed`` writes every row (32000x32000 is ~124 KB of zlib); otherwise only the header
    and a tiny IDAT, which is enough to make an unguarded decoder allocate the full image.
    """
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    rows = height if compressed else 1
    block = row * 1000
    body = b"".join(packer.compress(block) for _ in range(rows // 1000))
    body += packer.compress(row * (rows % 1000)) + packer.flush()
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def face_with_mask_png(mask_png: bytes, size: int = 64) -> bytes:
    """A JPEG aligned face whose metadata ``xseg_mask_png`` holds ``mask_png`` verbatim."""
    image, meta = synthetic_face(size=size)
    data = encode_face(image, meta, "jpg")
    record = json.loads(metadata_text(data) or b"{}")
    record["xseg_mask_png"] = base64.b64encode(mask_png).decode("ascii")
    ok, plain = cv2.imencode(".jpg", image)
    assert ok
    return _jpeg_with_text(plain.tobytes(), json.dumps(record).encode("utf-8"))


def write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` (creating folders) and return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def laughs_pickle(levels: int = 30, fanout: int = 10, kind: str = "list") -> bytes:
    """A protocol-2 "billion laughs" pickle: each level a list (or tuple) holding the previous one
    ``fanout`` times by memo reference, so ~2 KB expand to ``fanout ** levels`` values."""
    body = bytearray(b"\x80\x02]r\x00\x00\x00\x00")  # PROTO 2, EMPTY_LIST, LONG_BINPUT 0
    for level in range(1, levels):
        body += b"("  # MARK
        body += (b"j" + (level - 1).to_bytes(4, "little")) * fanout  # LONG_BINGET
        body += b"t" if kind == "tuple" else b"l"
        body += b"r" + level.to_bytes(4, "little")  # LONG_BINPUT
    return bytes(body + b".")


_SRC = Path(__file__).resolve().parents[1] / "src"
_TESTS = Path(__file__).resolve().parent
_PEAK_PRELUDE = """
import sys
def _peak_mib():
    with open('/proc/self/status') as status:
        return int(next(l for l in status if l.startswith('VmHWM:')).split()[1]) / 1024
"""


def run_peak(script: str, *args: str, timeout: float = 300) -> tuple[float, str]:
    """Run ``script`` (Python, ``sys.argv[1:]`` = ``args``) in a fresh interpreter; (peak RSS MiB, output).

    The peak is the child's own high-water mark (``VmHWM``), printed after the script ends, so a
    decode that allocates and frees a bomb still counts. Output is stdout and stderr together.
    """
    env = {**os.environ, "PYTHONPATH": f"{_SRC}{os.pathsep}{_TESTS}"}
    code = _PEAK_PRELUDE + script + "\nprint('peak_mib', _peak_mib())\n"
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)
    output = done.stdout + done.stderr
    assert "peak_mib" in done.stdout, output[-2000:]
    return float(done.stdout.rsplit("peak_mib", 1)[1].split()[0]), output


def bypass_jpeg(width: int, height: int) -> bytes:
    """A JPEG of ``width`` x ``height`` black pixels (~650 bytes) that hides a fake 16x16 frame header.

    After SOI comes an RST0 marker (no length for libjpeg) then two stray bytes (skipped by
    libjpeg) that a parser taking RST for a length-carrying segment reads as a length landing on
    a fake SOF inside an APP1 segment; libjpeg skips the APP1 and decodes the real frame.
    """
    ok, encoded = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    assert ok
    data = encoded.tobytes()
    sof = data.index(b"\xff\xc0")
    data = data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]
    fake_sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 16, 16, 1) + b"\x01\x11\x00"
    trick = b"\xff\xd0\x00\x06\xff\xe1" + struct.pack(">H", 2 + len(fake_sof)) + fake_sof
    return data[:2] + trick + data[2:]
