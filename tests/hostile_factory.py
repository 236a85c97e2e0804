"""Hostile inputs for tests and benchmarks: decompression-bomb images and faces carrying them."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path

import cv2

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
