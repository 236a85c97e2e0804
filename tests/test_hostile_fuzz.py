"""Property-based fuzzing (hypothesis, with shrinking) of every parser of untrusted input: image
headers, face metadata, packs, pickles, labels, ONNX graphs, sidecars and config/state files.

The property: a reader returns a result or raises one :class:`RecastError` (one line) — never
another exception — and each example stays within a memory bound, measured per example as the
growth of this process's peak RSS (``VmHWM``, reset before each example through
``/proc/self/clear_refs``), and a CPU-time bound (process time, not wall-clock, so a loaded
machine does not make it flaky). Examples are derandomized (the same on every run) and bounded
in number, with no per-example deadline.
"""

from __future__ import annotations

import base64
import copy
import json
import pickle
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faces_factory import synthetic_face
from hostile_factory import bomb_png, bypass_jpeg, laughs_pickle
from recast.errors import RecastError
from recast.faces.aligned import _jpeg_with_text, decode_face, encode_face, metadata_text
from recast.faceset.pack import PackedFaceSet, pack_faceset
from recast.faceset.plainpickle import load_plain
from recast.media.images import decode_image
from recast.provenance.label import mark_frame, write_sidecar
from recast.provenance.verify import verify

MAX_CASE_MIB = 400
"""Most a single example may raise this process's peak RSS."""
MAX_CASE_CPU_S = 20.0
"""Most CPU seconds a single example may use (a hang or an exponential blow-up, not load)."""

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])

_SPECIAL = ["", "x" * 5000, "../../etc/passwd", "/dev/zero", "a\x00b", "\udcff", "giraffe", "NaN"]
_SCALARS = (st.none() | st.booleans() | st.integers() | st.sampled_from([2**63, -(10**30), 10**400])
            | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=40) | st.sampled_from(_SPECIAL))
HOSTILE = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=5)
                       | st.dictionaries(st.text(max_size=10), inner, max_size=5), max_leaves=25)
"""Any JSON-like value, including NaN, infinities, huge integers, odd strings and nesting."""
EDITS = st.lists(st.tuples(st.integers(0, 1 << 16), st.sampled_from(["replace", "delete", "add"]), HOSTILE),
                 min_size=1, max_size=3)
"""Edits of a JSON document: (which path, what to do, the value put there)."""
BYTE_EDITS = st.one_of(
    st.tuples(st.just("flip"), st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1,
                                        max_size=16)),
    st.tuples(st.just("truncate"), st.integers(1, 1 << 20)),
    st.tuples(st.just("insert"), st.tuples(st.integers(0, 1 << 20), st.binary(min_size=1, max_size=64))),
)
"""Edits of a file: byte flips, a truncation, or an inserted run of bytes."""


def _status_mib(key: str) -> float:
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith(key)).split()[1]) / 1024


def bounded(case: Callable[[], object]) -> None:
    """Run one example: it may return or raise a one-line RecastError, within the memory and CPU bounds."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # VmHWM := VmRSS
    except OSError:
        pytest.skip("cannot reset the peak RSS here (/proc/self/clear_refs)")
    before = _status_mib("VmRSS:")
    started = time.process_time()
    try:
        case()
    except RecastError as error:
        assert "\n" not in str(error), error
    grown = _status_mib("VmHWM:") - before
    assert grown < MAX_CASE_MIB, f"peak RSS grew by {grown:.0f} MiB"
    assert time.process_time() - started < MAX_CASE_CPU_S


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


def edit_json(value: Any, edits: list[tuple[int, str, Any]]) -> Any:
    """A copy of ``value`` with ``edits`` applied (see :data:`EDITS`)."""
    value = copy.deepcopy(value)
    for where, action, new in edits:
        paths = _paths(value)
        path = paths[where % len(paths)]
        if not path:
            value = copy.deepcopy(new)
            continue
        parent = value
        for key in path[:-1]:
            parent = parent[key]
        if action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[f"unknown_{where % 97}"] = copy.deepcopy(new)
        else:
            parent[path[-1]] = copy.deepcopy(new)
    return value


def edit_bytes(data: bytes, edit: tuple[str, Any]) -> bytes:
    """``data`` with one :data:`BYTE_EDITS` edit."""
    kind, detail = edit
    buffer = bytearray(data)
    if kind == "flip":
        for at, value in detail:
            buffer[at % len(buffer)] = value
    elif kind == "truncate":
        del buffer[detail % len(buffer):]
    else:
        at, run = detail
        buffer[at % (len(buffer) + 1):at % (len(buffer) + 1)] = run
    return bytes(buffer)


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module")
def face_bytes() -> bytes:
    image, meta = synthetic_face(size=64)
    meta.xseg_mask = np.ones((64, 64), np.float32)
    return encode_face(image, meta, "jpg")


_IMAGES = {ext: cv2.imencode(ext, np.random.default_rng(1).integers(0, 256, (24, 40, 3), np.uint8))[1].tobytes()
           for ext in (".png", ".jpg", ".webp", ".bmp", ".tiff")}
_IMAGES["bomb"] = bomb_png(32000, 32000, compressed=False)
_IMAGES["bypass"] = bypass_jpeg(32000, 32000)


@FUZZ
@given(kind=st.sampled_from(sorted(_IMAGES)), edit=BYTE_EDITS)
def test_fuzz_image_headers(kind: str, edit: tuple[str, Any]) -> None:
    data = edit_bytes(_IMAGES[kind], edit)
    bounded(lambda: decode_image(data, f"fuzz.{kind}"))


@FUZZ
@given(edits=EDITS, bomb_mask=st.booleans(), raw=st.one_of(st.none(), BYTE_EDITS))
def test_fuzz_metadata_reader(face_bytes: bytes, edits: list, bomb_mask: bool, raw: tuple | None) -> None:
    record = json.loads(metadata_text(face_bytes) or b"{}")
    plain = cv2.imencode(".jpg", cv2.imdecode(np.frombuffer(face_bytes, np.uint8), cv2.IMREAD_COLOR))[1].tobytes()
    if raw is not None:
        data = edit_bytes(face_bytes, raw)
    else:
        hostile = edit_json(record, edits)
        if bomb_mask and isinstance(hostile, dict):
            hostile["xseg_mask_png"] = base64.b64encode(bomb_png(32000, 32000, compressed=False)).decode()
        data = _jpeg_with_text(plain, _dumps(hostile))
    bounded(lambda: decode_face(data, "fuzz.jpg"))


@pytest.fixture(scope="module")
def pack_bytes(face_bytes: bytes, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("pack")
    for i in range(3):
        (folder / f"{i:05d}_0.jpg").write_bytes(face_bytes)
    return pack_faceset(folder).read_bytes()


@FUZZ
@given(edits=EDITS, raw=st.one_of(st.none(), BYTE_EDITS))
def test_fuzz_pack_reader(pack_bytes: bytes, tmp_path: Path, edits: list, raw: tuple | None) -> None:
    prefix_end = 20 + int.from_bytes(pack_bytes[12:20], "little")
    if raw is not None:
        data = edit_bytes(pack_bytes, raw)
    else:
        text = _dumps(edit_json(json.loads(pack_bytes[20:prefix_end]), edits))
        data = pack_bytes[:12] + len(text).to_bytes(8, "little") + text + pack_bytes[prefix_end:]
    target = tmp_path / "fuzz.rfs"
    target.write_bytes(data)

    def case() -> None:
        pack = PackedFaceSet(target)
        for index in range(len(pack)):
            pack.meta(index)
            pack[index]

    bounded(case)


_DFL = pickle.dumps({"face_type": "whole_face", "landmarks": np.zeros((68, 2), np.float32), "source_filename": "a.png",
                     "source_rect": (1, 2, 3, 4), "xseg_mask": b"\x89PNG", "seg_ie_polys": {"polys": []}},
                    protocol=3).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


@FUZZ
@given(source=st.sampled_from(["dfl", "laughs", "plain"]), edit=st.one_of(st.none(), BYTE_EDITS), value=HOSTILE)
def test_fuzz_pickles(source: str, edit: tuple | None, value: Any) -> None:
    data = {"dfl": _DFL, "laughs": laughs_pickle(levels=12, fanout=6),
            "plain": pickle.dumps(value, protocol=2)}[source]
    if edit is not None:
        data = edit_bytes(data, edit)

    def case() -> None:
        try:
            load_plain(data)
        except ValueError as error:  # load_plain's one refusal type
            assert "\n" not in str(error), error

    bounded(case)


@FUZZ
@given(edits=EDITS)
def test_fuzz_labels(face_bytes: bytes, tmp_path: Path, edits: list) -> None:
    from recast.faceset.labelformats import import_labelme

    faces = tmp_path / "aligned"
    faces.mkdir(exist_ok=True)
    (faces / "00001_0.jpg").write_bytes(face_bytes)
    label = {"imagePath": "00001_0.jpg", "imageWidth": 64, "imageHeight": 64,
             "shapes": [{"label": "face", "shape_type": "polygon", "points": [[4, 4], [60, 4], [32, 60]]}]}
    source = tmp_path / "label.json"
    source.write_bytes(_dumps(edit_json(label, edits)))
    bounded(lambda: import_labelme(faces, source, replace=True))


@pytest.fixture(scope="module")
def onnx_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from test_hostile_models import allocating_model

    return allocating_model(tmp_path_factory.mktemp("onnx") / "m.dfm", [1, 64, 64], hidden=True).read_bytes()


@FUZZ
@given(edit=BYTE_EDITS, dims=st.lists(st.integers(-2, 1 << 40), min_size=0, max_size=4))
def test_fuzz_onnx_graphs(onnx_bytes: bytes, tmp_path: Path, edit: tuple[str, Any], dims: list[int]) -> None:
    import onnx

    from recast.models.contract import inspect_model

    path = tmp_path / "fuzz.dfm"
    if dims:
        model = onnx.load_from_string(onnx_bytes)
        del model.graph.initializer[-1].dims[:]
        model.graph.initializer[-1].dims.extend(dims)
        path.write_bytes(model.SerializeToString())
    else:
        path.write_bytes(edit_bytes(onnx_bytes, edit))
    bounded(lambda: inspect_model(path))


@pytest.fixture(scope="module")
def sidecar_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("sidecar")
    result = root / "result.png"
    cv2.imwrite(str(result), mark_frame(np.random.default_rng(0).integers(60, 200, (64, 64, 3), dtype=np.uint8)))
    (root / "src.bin").write_bytes(b"source")
    sidecar = write_sidecar(result, {"src": root / "src.bin"}, {"name": "m"}, {"blur": 1})
    return result, sidecar, json.loads(sidecar.read_text())


@settings(FUZZ, max_examples=40)
@given(edits=EDITS, raw=st.one_of(st.none(), BYTE_EDITS))
def test_fuzz_sidecar_reader(sidecar_case: tuple[Path, Path, dict], edits: list, raw: tuple | None) -> None:
    result, sidecar, record = sidecar_case
    text = _dumps(record)
    sidecar.write_bytes(edit_bytes(text, raw) if raw is not None else _dumps(edit_json(record, edits)))
    bounded(lambda: json.dumps(verify(result, sample_frames=1).to_dict()))


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory: pytest.TempPathFactory, one_torch_thread: None) -> Path:
    from recast.train import TrainOptions, train
    from recast.train.synthetic import write_synthetic_faceset

    root = tmp_path_factory.mktemp("model")
    faces = write_synthetic_faceset(root / "faces", 4, identity=0, size=64)
    model = root / "model"
    train(TrainOptions(faces, faces, model, model="saehd", iterations=1, workers=0, preview_every=0,
                       model_config={"resolution": 64, "archi": "df-ud", "ae_dims": 16, "e_dims": 4,
                                     "d_dims": 4, "d_mask_dims": 2}, settings={"batch_size": 2}))
    return model


@settings(FUZZ, max_examples=25)
@given(name=st.sampled_from(["config.json", "state.json"]), edits=EDITS, deep=st.integers(0, 3))
def test_fuzz_model_config_and_state(trained_model: Path, tmp_path: Path, name: str, edits: list,
                                     deep: int) -> None:
    from recast.models.inference import FaceSwapper
    from recast.train.options import resolve_settings

    work = tmp_path / "work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(trained_model, work)
    original = json.loads((trained_model / name).read_text())
    text = _dumps(edit_json(original, edits)) if deep == 0 else b"[" * 10 ** (deep + 2) + b"]" * 10 ** (deep + 2)
    (work / name).write_bytes(text)
    defaults = {"batch_size": 8, "lr": 5e-5, "optimizer": "adam", "ct_mode": "none", "random_warp": True}

    def case() -> None:
        FaceSwapper.load(work)
        resolve_settings(edit_json(defaults, edits))

    bounded(case)
