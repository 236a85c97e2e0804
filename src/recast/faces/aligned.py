"""The aligned-face file: a JPEG or PNG image with recast's JSON metadata embedded.

* JPEG: one or more APP15 segments whose payload starts with :data:`MAGIC`, then a chunk index
  and count byte, then a slice of the UTF-8 JSON text.
* PNG: an uncompressed ``iTXt`` chunk with keyword ``recast.face`` holding the JSON text.

The image stays viewable in any program. Metadata is parsed as JSON only and validated (see
:class:`recast.faces.metadata.FaceMeta`); pickled metadata (DeepFaceLab's) is refused unread.

Example:
    >>> write_face("aligned/00001_0.jpg", face_bgr, meta)
    >>> face = read_face("aligned/00001_0.jpg")
    >>> face.image.shape, face.meta.face_type
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from recast.atomic import atomic_write_bytes, read_regular
from recast.errors import MetadataError
from recast.faces.metadata import FaceMeta
from recast.media.images import decode_image, image_size
from recast.options import strictjson

MAGIC = b"RECASTFACE\x00"
PNG_KEYWORD = b"recast.face"
MAX_METADATA_BYTES = 1 << 20
FACE_SUFFIXES = (".jpg", ".jpeg", ".png")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_APP15 = 0xEF
_CHUNK = 65533 - len(MAGIC) - 2


@dataclass
class AlignedFace:
    """An aligned face image and its metadata.

    Attributes:
        image: ``(S, S, 3)`` uint8 BGR.
        meta: its :class:`FaceMeta`.
        path: the file it came from, if any.
    """

    image: np.ndarray
    meta: FaceMeta
    path: Path | None = None


def encode_face(image: np.ndarray, meta: FaceMeta, fmt: str = "jpg", jpeg_quality: int = 90) -> bytes:
    """Encode ``image`` (uint8 BGR) as ``jpg`` or ``png`` bytes with ``meta`` embedded."""
    fmt = fmt.lower().lstrip(".")
    ext = ".png" if fmt == "png" else ".jpg"
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if ext == ".jpg" else []
    ok, buffer = cv2.imencode(ext, image, params)
    if not ok:
        raise ValueError("could not encode the face image")
    return embed_metadata(buffer.tobytes(), meta)


def embed_metadata(data: bytes, meta: FaceMeta) -> bytes:
    """Return JPEG or PNG ``data`` with its recast metadata replaced by ``meta`` (pixels untouched)."""
    try:
        text = json.dumps(meta.to_json(), separators=(",", ":"), allow_nan=False).encode("utf-8")
    except ValueError:
        raise ValueError("metadata holds a non-finite number (NaN or infinity), which JSON cannot store") from None
    if len(text) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is {len(text)} bytes, over the {MAX_METADATA_BYTES} byte limit")
    if data.startswith(_PNG_SIGNATURE):
        return _png_with_text(data, text)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_with_text(data, text)
    raise ValueError("not a JPEG or PNG image")


def strip_foreign_metadata(data: bytes) -> bytes:
    """JPEG ``data`` without APP15 segments that are not recast's (e.g. DeepFaceLab's pickled metadata).

    The image data is untouched; other data (PNG) is returned as is.
    """
    if not data.startswith(b"\xff\xd8"):
        return data
    segments = _jpeg_segments(data)
    foreign = [(s, e) for m, s, e in segments if m == _APP15 and not data[s + 4 : e].startswith(MAGIC)]
    if not foreign:
        return data
    pieces, pos = [], 0
    for start, end in foreign:
        pieces.append(data[pos:start])
        pos = end
    pieces.append(data[pos:])
    return b"".join(pieces)


def png_itxt(data: bytes, keyword: bytes, max_bytes: int = MAX_METADATA_BYTES) -> bytes | None:
    """The text of the first PNG ``iTXt`` chunk named ``keyword`` (zlib-inflated if compressed); None if absent.

    Raises:
        ValueError: not a PNG, a malformed chunk, or text over ``max_bytes``.
    """
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG image")
    for kind, start, end in _png_chunks(data):
        if kind != b"iTXt" or not data[start:end].startswith(keyword + b"\x00"):
            continue
        body = data[start + len(keyword) + 1 : end]
        if len(body) < 2:
            raise ValueError("malformed iTXt chunk")
        compressed = body[0] == 1
        parts = body[2:].split(b"\x00", 2)
        if len(parts) != 3:
            raise ValueError("malformed iTXt chunk")
        text = parts[2]
        if compressed:
            inflater = zlib.decompressobj()
            text = inflater.decompress(text, max_bytes + 1)
        if len(text) > max_bytes:
            raise ValueError("metadata is oversized")
        return text
    return None


def write_face(path: str | Path, image: np.ndarray, meta: FaceMeta, jpeg_quality: int = 90) -> None:
    """Write an aligned face atomically; the format follows the suffix (``.jpg`` or ``.png``)."""
    path = Path(path)
    atomic_write_bytes(path, encode_face(image, meta, path.suffix, jpeg_quality))


def read_face(path: str | Path) -> AlignedFace:
    """Read an aligned face (image and metadata); raises :class:`MetadataError` or :class:`InputError`."""
    data = _read_bytes(path)
    meta = meta_from_bytes(data, path)
    return AlignedFace(image=decode_image(data, path), meta=meta, path=Path(path))


def read_meta(path: str | Path) -> FaceMeta:
    """Read only the metadata of an aligned face (no pixel decoding)."""
    return meta_from_bytes(_read_bytes(path), path)


def decode_face(data: bytes, name: str | Path) -> AlignedFace:
    """Decode an aligned face held in memory (e.g. from a packed faceset); ``name`` is for errors."""
    meta = meta_from_bytes(data, name)
    return AlignedFace(image=decode_image(data, name), meta=meta, path=None)


def metadata_text(data: bytes) -> bytes | None:
    """The raw embedded metadata bytes, or None when the image has none."""
    if data.startswith(_PNG_SIGNATURE):
        return _png_text(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_text(data)
    raise ValueError("not a JPEG or PNG image")


def is_face_file(path: str | Path) -> bool:
    """True for a file whose suffix an aligned face can have."""
    return Path(path).suffix.lower() in FACE_SUFFIXES


def _read_bytes(path: str | Path) -> bytes:
    return read_regular(path)


def meta_from_bytes(data: bytes, path: str | Path) -> FaceMeta:
    """Metadata of an aligned-face file held in memory (no pixel decoding); ``path`` names it in errors."""
    try:
        text = metadata_text(data)
    except ValueError as error:
        raise MetadataError(path, f"not an aligned face: {error}") from None
    if text is None:
        raise MetadataError(path, "no recast face metadata (not an aligned face, or extracted by another tool)")
    if text[:1] == b"\x80":
        raise MetadataError(path, "DeepFaceLab (pickled) metadata, refused unread; convert the folder with "
                                  "recast faceset import-dfl")
    face_size = image_size(data)
    if face_size is None:
        raise MetadataError(path, "not an aligned face: the image header is unreadable")
    try:
        parsed = strictjson.loads(text)
    except ValueError as error:
        detail = " ".join(str(error).split())[:80]
        raise MetadataError(path, f"metadata is corrupt (not valid JSON: {detail})") from None
    try:
        return FaceMeta.from_json(parsed, face_size=face_size)
    except (ValueError, TypeError) as error:
        raise MetadataError(path, f"invalid metadata: {error}") from None


def _jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """``(marker, start, end)`` of every segment before the image scan; ``start`` is at 0xFF."""
    segments = []
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"JPEG marker expected at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xDA or marker == 0xD9:
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2 or pos + 2 + length > len(data):
            raise ValueError("truncated JPEG segment")
        segments.append((marker, pos, pos + 2 + length))
        pos += 2 + length
    return segments


def _jpeg_text(data: bytes) -> bytes | None:
    chunks: dict[int, bytes] = {}
    count = 0
    for marker, start, end in _jpeg_segments(data):
        if marker != _APP15:
            continue
        payload = data[start + 4 : end]
        if not payload.startswith(MAGIC):
            if payload[:1] == b"\x80":
                return payload  # a pickle (DeepFaceLab metadata): reported, never read
            continue
        index, count = payload[len(MAGIC)], payload[len(MAGIC) + 1]
        chunks[index] = payload[len(MAGIC) + 2 :]
        if sum(map(len, chunks.values())) > MAX_METADATA_BYTES:
            raise ValueError("metadata is oversized")
    if not chunks:
        return None
    if sorted(chunks) != list(range(count)):
        raise ValueError("metadata segments are missing")
    return b"".join(chunks[i] for i in range(count))


def _jpeg_with_text(data: bytes, text: bytes) -> bytes:
    segments = _jpeg_segments(data)
    keep = [(m, s, e) for m, s, e in segments if not (m == _APP15 and data[s + 4 : e].startswith(MAGIC))]
    pieces = [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [b""]
    ours = b"".join(
        b"\xff" + bytes([_APP15]) + struct.pack(">H", len(MAGIC) + 4 + len(piece)) + MAGIC
        + bytes([i, len(pieces)]) + piece
        for i, piece in enumerate(pieces)
    )
    app_end = 2
    for marker, _start, end in keep:
        if 0xE0 <= marker <= 0xEF:
            app_end = end
        else:
            break
    head = b"".join(data[s:e] for m, s, e in keep if e <= app_end)
    rest_start = segments[-1][2] if segments else 2
    tail = b"".join(data[s:e] for m, s, e in keep if s >= app_end)
    return b"\xff\xd8" + head + ours + tail + data[rest_start:]


def _png_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """``(type, data_start, data_end)`` of every chunk; checks lengths and CRCs."""
    chunks = []
    pos = len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 8 + length
        if end + 4 > len(data):
            raise ValueError("truncated PNG chunk")
        (crc,) = struct.unpack(">I", data[end : end + 4])
        if zlib.crc32(data[pos + 4 : end]) != crc:
            raise ValueError(f"PNG chunk {kind!r} has a bad CRC")
        chunks.append((kind, pos + 8, end))
        pos = end + 4
        if kind == b"IEND":
            break
    return chunks


def _png_text(data: bytes) -> bytes | None:
    prefix = PNG_KEYWORD + b"\x00\x00\x00"
    for kind, start, end in _png_chunks(data):
        if kind == b"iTXt" and data[start:end].startswith(prefix):
            if end - start > MAX_METADATA_BYTES + 64:
                raise ValueError("metadata is oversized")
            rest = data[start + len(prefix) : end]
            parts = rest.split(b"\x00", 2)
            if len(parts) != 3:
                raise ValueError("malformed iTXt chunk")
            return parts[2]
    return None


def _png_with_text(data: bytes, text: bytes) -> bytes:
    body = PNG_KEYWORD + b"\x00\x00\x00" + b"\x00\x00" + text
    chunk = struct.pack(">I", len(body)) + b"iTXt" + body + struct.pack(">I", zlib.crc32(b"iTXt" + body))
    out = [data[: len(_PNG_SIGNATURE)]]
    for kind, start, end in _png_chunks(data):
        if kind == b"iTXt" and data[start:end].startswith(PNG_KEYWORD + b"\x00"):
            continue
        out.append(data[start - 8 : end + 4])
        if kind == b"IHDR":
            out.append(chunk)
    return b"".join(out)
