"""Issue #14 fuzz: random and mutated inputs to the metadata, pack, sidecar, and config/state readers
give a result or one RecastError — never another exception — within bounded time and memory.

Seeded (reproducible) generator; ``hypothesis`` would shrink failures better but is not installed.
"""

from __future__ import annotations

import base64
import copy
import json
import resource
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from faces_factory import synthetic_face
from hostile_factory import bomb_png
from recast.errors import RecastError
from recast.faces.aligned import _jpeg_with_text, decode_face, encode_face, metadata_text
from recast.faceset.pack import PackedFaceSet, pack_faceset
from recast.provenance.label import mark_frame, write_sidecar
from recast.provenance.verify import verify

SEED = 14
MAX_SECONDS_PER_CASE = 5.0
MAX_RSS_GROWTH_MIB = 400

_HOSTILE: list[Any] = [
    None, True, False, 0, -1, 1, 2**31, 2**63, 10**30, -(10**30), 1e308, -1e308, 1e-308, float("nan"),
    float("inf"), "", "x" * 5000, "../../etc/passwd", "/dev/zero", "a\x00b", "\udcff", "giraffe", [], {},
    [1e308] * 2, [[1e308, 1e308]] * 68, [[0, 0, 0], [0, 0, 0]], {"a": [1, {"b": None}]}, [[[[[]]]]],
]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys/indices) into a JSON value, shallow parts first."""
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:4]):
            out += _paths(item, (*prefix, index))
    return out


def mutate_json(value: Any, rng: np.random.Generator) -> Any:
    """A copy of ``value`` with one to three random hostile edits (replace, delete, add a key)."""
    value = copy.deepcopy(value)
    for _ in range(int(rng.integers(1, 4))):
        paths = _paths(value)
        path = paths[int(rng.integers(len(paths)))]
        if not path:
            return _pick(rng)
        parent = value
        for key in path[:-1]:
            parent = parent[key]
        action = rng.integers(3)
        if action == 0 and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == 1 and isinstance(parent, dict):
            parent[f"unknown_{int(rng.integers(100))}"] = _pick(rng)
        else:
            parent[path[-1]] = _pick(rng)
    return value


def _pick(rng: np.random.Generator) -> Any:
    """A fresh copy of one hostile value (never shared, so mutations cannot build cycles)."""
    return copy.deepcopy(_HOSTILE[int(rng.integers(len(_HOSTILE)))])


def mutate_bytes(data: bytes, rng: np.random.Generator) -> bytes:
    """Random byte flips, a truncation or an inserted run of bytes."""
    buffer = bytearray(data)
    kind = rng.integers(3)
    if kind == 0:
        for _ in range(int(rng.integers(1, 16))):
            buffer[int(rng.integers(len(buffer)))] = int(rng.integers(256))
    elif kind == 1:
        del buffer[int(rng.integers(1, len(buffer))):]
    else:
        at = int(rng.integers(len(buffer)))
        buffer[at:at] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
    return bytes(buffer)


def _run_cases(cases: int, case: Callable[[np.random.Generator], None]) -> None:
    """Run ``case`` ``cases`` times; each may only succeed or raise RecastError, quickly, in bounded memory."""
    rng = np.random.default_rng(SEED)
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for index in range(cases):
        started = time.monotonic()
        try:
            case(rng)
        except RecastError as error:
            assert "\n" not in str(error), error
        elapsed = time.monotonic() - started
        assert elapsed < MAX_SECONDS_PER_CASE, f"case {index} took {elapsed:.1f} s"
    growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start_rss) / 1024
    assert growth < MAX_RSS_GROWTH_MIB, f"peak RSS grew by {growth:.0f} MiB"


@pytest.fixture(scope="module")
def face_bytes() -> bytes:
    image, meta = synthetic_face(size=64)
    meta.xseg_mask = np.ones((64, 64), np.float32)
    return encode_face(image, meta, "jpg")


def test_fuzz_metadata_reader(face_bytes: bytes) -> None:
    record = json.loads(metadata_text(face_bytes) or b"{}")
    plain = cv2.imencode(".jpg", cv2.imdecode(np.frombuffer(face_bytes, np.uint8), cv2.IMREAD_COLOR))[1].tobytes()
    bomb = bomb_png(32000, 32000, compressed=False)

    def case(rng: np.random.Generator) -> None:
        if rng.random() < 0.5:
            hostile = mutate_json(record, rng)
            if rng.random() < 0.2 and isinstance(hostile, dict):
                hostile["xseg_mask_png"] = base64.b64encode(mutate_bytes(bomb, rng)).decode()
            data = _jpeg_with_text(plain, json.dumps(hostile).encode("utf-8", "surrogatepass"))
        else:
            data = mutate_bytes(face_bytes, rng)
        decode_face(data, "fuzz.jpg")

    _run_cases(400, case)


def test_fuzz_pack_reader(face_bytes: bytes, tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i:05d}_0.jpg").write_bytes(face_bytes)
    valid = pack_faceset(folder).read_bytes()
    prefix_end = 20 + int.from_bytes(valid[12:20], "little")
    header = json.loads(valid[20:prefix_end])
    target = tmp_path / "fuzz.rfs"

    def case(rng: np.random.Generator) -> None:
        if rng.random() < 0.5:
            text = json.dumps(mutate_json(header, rng)).encode("utf-8", "surrogatepass")
            data = valid[:12] + len(text).to_bytes(8, "little") + text + valid[prefix_end:]
        else:
            data = mutate_bytes(valid, rng)
        target.write_bytes(data)
        pack = PackedFaceSet(target)
        for index in range(len(pack)):
            pack.meta(index)
            pack[index]

    _run_cases(300, case)


def test_fuzz_sidecar_reader(tmp_path: Path) -> None:
    result = tmp_path / "result.png"
    frame = mark_frame(np.random.default_rng(0).integers(60, 200, (64, 64, 3), dtype=np.uint8))
    cv2.imwrite(str(result), frame)
    source = tmp_path / "src.bin"
    source.write_bytes(b"source")
    sidecar = write_sidecar(result, {"src": source}, {"name": "m"}, {"blur": 1})
    record = json.loads(sidecar.read_text())

    def case(rng: np.random.Generator) -> None:
        if rng.random() < 0.7:
            sidecar.write_text(json.dumps(mutate_json(record, rng)), encoding="utf-8", errors="surrogatepass")
        else:
            sidecar.write_bytes(mutate_bytes(json.dumps(record).encode(), rng))
        report = verify(result, sample_frames=1)
        json.dumps(report.to_dict())

    _run_cases(120, case)


def test_fuzz_model_config_and_state(tmp_path: Path, one_torch_thread: None) -> None:
    from recast.models.inference import FaceSwapper
    from recast.train import TrainOptions, train
    from recast.train.options import resolve_settings
    from recast.train.synthetic import write_synthetic_faceset

    faces = write_synthetic_faceset(tmp_path / "faces", 4, identity=0, size=64)
    model = tmp_path / "model"
    train(TrainOptions(faces, faces, model, model="saehd", iterations=1, workers=0, preview_every=0,
                       model_config={"resolution": 64, "archi": "df-ud", "ae_dims": 16, "e_dims": 4,
                                     "d_dims": 4, "d_mask_dims": 2}, settings={"batch_size": 2}))
    files = {name: json.loads((model / name).read_text()) for name in ("config.json", "state.json")}
    defaults = {"batch_size": 8, "lr": 5e-5, "optimizer": "adam", "ct_mode": "none", "random_warp": True}

    def case(rng: np.random.Generator) -> None:
        work = tmp_path / "work"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(model, work)
        name = ("config.json", "state.json")[int(rng.integers(2))]
        (work / name).write_text(json.dumps(mutate_json(files[name], rng)), encoding="utf-8",
                                 errors="surrogatepass")
        FaceSwapper.load(work)
        resolve_settings(mutate_json(defaults, rng))

    _run_cases(80, case)
