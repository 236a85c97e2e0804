"""Issue #28 cases 1 and 3: one decode gate that cannot be walked around.

Case 1: a JPEG whose RST marker hid a fake 16x16 frame header from the gate while libjpeg decoded
the real 32000x32000 frame (6.2 GB in ``extract``). Case 3: the DeepFaceLab and FaceSwap importers
decoded faces, masks and frames with OpenCV directly (3.1–3.8 GB, then a traceback). Every decode
now goes through :mod:`recast.media.images` / :mod:`recast.media.video`, OpenCV's own pixel bound
is the gate's, and a static scan fails when any other module decodes images or video itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import cv2
import numpy as np
import pytest

from hostile_factory import bomb_png, bypass_jpeg, run_peak, write_bytes
from recast.errors import InputError
from recast.media.images import decode_image, image_size

SRC = Path(__file__).resolve().parents[1] / "src" / "recast"
MAX_PEAK_MIB = 500

_DECODERS = {"imread", "imdecode", "imreadmulti", "imreadanimation", "imcount", "VideoCapture"}
"""OpenCV functions that decode an image or video (a ``cv2.<name>`` call or an imported name)."""
_ALLOWED = {
    ("media/images.py", "cv2.imdecode"): "the image gate itself",
    ("media/video.py", "av.open"): "the video gate itself",
    ("media/audio.py", "av.open"): "demuxes and decodes audio tracks only (no pixels)",
    ("live/capture.py", "cv2.VideoCapture"): "a local camera device: frames come from its driver, not a file",
}


def _decode_calls(path: Path) -> list[tuple[str, int]]:
    """``(call, line)`` of every image/video decoding call in one module (``av.open`` for writing excluded)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module in ("cv2", "av", "PIL.Image", "imageio", "skimage.io"):
            found += [(f"from {node.module} import {alias.name}", node.lineno) for alias in node.names
                      if alias.name in _DECODERS | {"open", "imread"}]
        if isinstance(node, ast.Import):
            found += [(f"import {alias.name}", node.lineno) for alias in node.names
                      if alias.name in ("PIL.Image", "imageio", "skimage.io")]
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value
        if not isinstance(owner, ast.Name):
            continue
        name = f"{owner.id}.{node.func.attr}"
        if owner.id == "cv2" and node.func.attr in _DECODERS:
            found.append((name, node.lineno))
        elif name == "av.open":
            mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"),
                                                                None)
            if not (isinstance(mode, ast.Constant) and str(mode.value).startswith("w")):
                found.append((name, node.lineno))
    return found


def test_no_module_decodes_images_or_video_outside_the_gate() -> None:
    offenders, gate_calls = [], set()
    for path in sorted(SRC.rglob("*.py")):
        module = path.relative_to(SRC).as_posix()
        for call, line in _decode_calls(path):
            if (module, call) in _ALLOWED:
                gate_calls.add((module, call))
            else:
                offenders.append(f"{module}:{line}: {call}")
    assert not offenders, "decode through recast.media.images.decode_image/read_image or recast.media.video: " + \
        ", ".join(offenders)
    assert {("media/images.py", "cv2.imdecode"), ("media/video.py", "av.open")} <= gate_calls  # the scan sees them


def test_the_scan_catches_a_direct_decode(tmp_path: Path) -> None:
    module = write_bytes(tmp_path / "m.py", b"import cv2, av\nfrom cv2 import imread\n"
                                             b"a = cv2.imdecode(b, 1)\nc = av.open(p)\nd = av.open(p, 'w')\n")
    assert [call for call, _ in _decode_calls(module)] == ["from cv2 import imread", "cv2.imdecode", "av.open"]


def test_jpeg_markers_are_walked_as_libjpeg_does() -> None:
    data = bypass_jpeg(32000, 32000)
    assert image_size(data) == (32000, 32000)  # the fake 16x16 frame header in APP1 is skipped
    with pytest.raises(InputError, match="32000x32000 pixels, over the limit"):
        decode_image(data, "bomb.jpg")
    assert image_size(bypass_jpeg(40, 24)) == (40, 24)
    assert decode_image(bypass_jpeg(40, 24), "small.jpg").shape == (24, 40, 3)  # libjpeg agrees
    _ok, plain = cv2.imencode(".jpg", np.zeros((30, 50, 3), np.uint8))
    stuffed = plain.tobytes()[:2] + b"\xff\xff\xff\x01" + plain.tobytes()[2:]  # fill bytes and a TEM marker
    assert image_size(stuffed) == (50, 30)
    assert image_size(plain.tobytes()[:2] + plain.tobytes()) is None  # a second SOI: libjpeg refuses it too


def test_a_decode_that_disagrees_with_the_header_is_refused() -> None:
    _ok, png = cv2.imencode(".png", np.zeros((20, 30, 3), np.uint8))
    lying = bytearray(png.tobytes())
    lying[16:24] = (10).to_bytes(4, "big") + (10).to_bytes(4, "big")  # IHDR says 10x10 (CRC now wrong)
    with pytest.raises(InputError, match="not a readable image"):
        decode_image(bytes(lying), "lying.png")


_READ = """
import recast, cv2, numpy as np
from recast.errors import RecastError
from recast.media.images import read_image
data = open(sys.argv[1], 'rb').read()
try:
    read_image(sys.argv[1])
except RecastError as error:
    print('refused:', error)
try:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    print('opencv decoded', None if image is None else image.shape)
except cv2.error:
    print('opencv refused')
"""


def test_the_jpeg_bypass_bomb_costs_nothing(tmp_path: Path) -> None:
    """Case 1: the 32000x32000 frame (3 GB decoded) is refused by the gate and by OpenCV itself."""
    path = write_bytes(tmp_path / "frames" / "00001.jpg", bypass_jpeg(32000, 32000))
    peak, output = run_peak(_READ, str(path))
    assert "refused:" in output and "32000x32000" in output and "opencv refused" in output, output
    assert peak < MAX_PEAK_MIB, f"peak {peak:.0f} MiB"


_IMPORT = """
from recast.faceset.{module} import import_{module}
result = import_{module}(sys.argv[1], sys.argv[2]{extra})
print('converted', len(result.converted))
for name, reason in sorted(result.skipped.items()):
    print('skipped', name, reason)
"""


def _dfl_face_bytes(image_jpeg: bytes, metadata: dict) -> bytes:
    from test_import_dfl import dfl_pickle

    payload = dfl_pickle(metadata)
    return image_jpeg[:2] + b"\xff\xef" + len(payload + b"xx").to_bytes(2, "big") + payload + image_jpeg[2:]


def test_dfl_face_and_mask_bombs_are_skipped_by_the_gate(tmp_path: Path) -> None:
    """Case 3: a DeepFaceLab face whose JPEG is a bomb, and one whose ``xseg_mask`` is, are skipped."""
    from test_import_dfl import dfl_face

    aligned = tmp_path / "aligned"
    aligned.mkdir()
    metadata = dfl_face(aligned, "00001_0.jpg", 0)
    write_bytes(aligned / "00002_0.jpg", _dfl_face_bytes(bypass_jpeg(32000, 32000), metadata))
    dfl_face(aligned, "00003_0.jpg", 2, xseg_mask=bomb_png(32000, 32000, compressed=False))
    peak, output = run_peak(_IMPORT.format(module="dfl", extra=""), str(aligned), str(tmp_path / "out"))
    assert "converted 1" in output, output
    assert "skipped 00002_0.jpg the face image: image declares 32000x32000" in output, output
    assert "skipped 00003_0.jpg xseg_mask: image declares 32000x32000" in output, output
    assert "Traceback" not in output and peak < MAX_PEAK_MIB, (peak, output)


def test_faceswap_crop_and_frame_bombs_are_skipped_by_the_gate(tmp_path: Path) -> None:
    """Case 3: a FaceSwap crop that is a bomb (no frames), and a source frame that is one, are skipped."""
    from test_import_faceswap import with_itxt

    points = np.array([[100 + 3 * (i % 17), 100 + 3 * (i // 17)] for i in range(68)], np.float64)
    header = {"alignments": {"x": 90, "y": 90, "w": 80, "h": 80, "landmarks_xy": points.tolist(), "mask": {}},
              "source": {"source_filename": "00001.png", "source_frame_dims": (240, 320)}}
    faces = tmp_path / "faces"
    write_bytes(faces / "00001_0.png", with_itxt(bomb_png(32000, 32000), b"faceswap", repr(header).encode()))
    peak, output = run_peak(_IMPORT.format(module="faceswap", extra=""), str(faces), str(tmp_path / "out"))
    assert "skipped 00001_0.png the FaceSwap crop: image declares 32000x32000" in output, output
    assert "Traceback" not in output and peak < MAX_PEAK_MIB, (peak, output)
    _ok, crop = cv2.imencode(".png", np.zeros((64, 64, 3), np.uint8))
    write_bytes(faces / "00001_0.png", with_itxt(crop.tobytes(), b"faceswap", repr(header).encode()))
    write_bytes(tmp_path / "frames" / "00001.png", bomb_png(32000, 32000))
    peak, output = run_peak(_IMPORT.format(module="faceswap", extra=", frames=sys.argv[3]"), str(faces),
                            str(tmp_path / "out2"), str(tmp_path / "frames"))
    assert "skipped 00001_0.png" in output and "declares 32000x32000" in output, output
    assert "Traceback" not in output and peak < MAX_PEAK_MIB, (peak, output)

