"""Destructive-safety tests: journaled renames survive kill -9, restore is exact, bad input is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from faces_factory import synthetic_face
from recast.errors import InputError, MetadataError, OptionError
from recast.faces.aligned import embed_metadata, encode_face, write_face
from recast.faces.facetype import FaceType
from recast.faceset.files import list_faces
from recast.faceset.journal import JOURNAL_NAME, Journal
from recast.faceset.sort import SORT_METHODS, restore, sort_faceset


def make_faceset(folder: Path, count: int, size: int = 64, face_type: FaceType = FaceType.WHOLE) -> dict[str, bytes]:
    """``count`` small synthetic faces with shuffled source frames; returns name → bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    image, meta = synthetic_face(face_type=face_type, size=size)
    base = encode_face(image, meta)
    order = np.random.default_rng(1).permutation(count)
    files = {}
    for i in range(count):
        meta.source_filename = f"{order[i]:05d}.png"
        meta.pose = (0.0, float(i) / count, 0.0)
        data = embed_metadata(base, meta)
        name = f"face{i:05d}_0.jpg"
        (folder / name).write_bytes(data)
        files[name] = data
    return files


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != JOURNAL_NAME}


def test_sort_then_restore_is_exact_and_trash_comes_back(tmp_path: Path) -> None:
    folder = tmp_path / "aligned"
    original = make_faceset(folder, 12)
    image, meta = synthetic_face()
    meta.source_filename = "00003.png"  # a second face of frame 3 → oneface trashes both
    write_face(folder / "extra_1.jpg", image, meta)
    original = snapshot(folder)
    sort_faceset(folder, "origname")
    assert [p.name[:6] for p in list_faces(folder)] == [f"{i:05d}_" for i in range(13)]
    result = sort_faceset(folder, "oneface")
    assert len(result.trashed) == 2 and len(list_faces(folder)) == 11
    assert len(list((tmp_path / "aligned_trash").iterdir())) == 2
    restored = restore(folder)
    assert restored.missing == [] and restored.conflicts == []
    assert snapshot(folder) == original
    assert not (folder / JOURNAL_NAME).exists()
    assert list((tmp_path / "aligned_trash").iterdir()) == []


def test_restore_without_journal_is_an_input_error(tmp_path: Path) -> None:
    make_faceset(tmp_path / "a", 2)
    with pytest.raises(InputError, match="nothing to restore"):
        restore(tmp_path / "a")


_SORT_SCRIPT = (
    "import sys\nfrom recast.faceset.sort import sort_faceset\nsort_faceset(sys.argv[1], 'origname', workers=1)\n"
)


@pytest.mark.parametrize("delay", [0.0, 0.015, 0.05])
def test_kill_9_during_sort_then_restore_returns_everything(tmp_path: Path, delay: float) -> None:
    folder = tmp_path / "aligned"
    make_faceset(folder, 1200)
    original = snapshot(folder)
    sort_faceset(folder, "yaw", workers=1)  # a first sort, so the killed one renames already-renamed files
    proc = subprocess.Popen([sys.executable, "-c", _SORT_SCRIPT, str(folder)])
    journal = folder / JOURNAL_NAME
    stamp = journal.stat().st_mtime_ns
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.stat().st_mtime_ns != stamp:  # the plan is written: renames start now
            break
        time.sleep(0.0005)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    in_flight = len(list(folder.glob(".recast-sort-*.part")))
    state = json.loads(journal.read_text())
    phase = state["pending"]["phase"] if state["pending"] else None
    print(f"kill -9 after {delay}s: {in_flight} files at temporary names, journal phase {phase}")
    result = restore(folder)
    assert result.missing == [] and result.conflicts == []
    assert snapshot(folder) == original


@pytest.mark.parametrize("phase, done", [(1, 3), (2, 0), (2, 4)])
def test_recover_rolls_forward_from_each_phase(tmp_path: Path, phase: int, done: int) -> None:
    """A crash with the plan written and ``done`` renames of ``phase`` finished (deterministic)."""
    folder = tmp_path / "aligned"
    original = make_faceset(folder, 6)
    journal = Journal(folder)
    names = sorted(original)
    moves = [(n, f"{i:05d}_{n}") for i, n in enumerate(reversed(names))]
    plan = [{"file": i, "from": c, "tmp": f".recast-sort-{i:06d}.part", "to": t} for i, (c, t) in enumerate(moves)]
    journal.files = [{"orig": c, "at": c} for c, _ in moves]
    journal.pending = {"phase": phase, "moves": plan}
    journal.save()
    for move in plan[: done if phase == 1 else len(plan)]:
        os.rename(folder / move["from"], folder / move["tmp"])
    for move in plan[: done if phase == 2 else 0]:
        os.rename(folder / move["tmp"], folder / move["to"])
    assert Journal(folder).recover() == []
    assert sorted(p.name for p in list_faces(folder)) == sorted(t for _, t in moves)
    assert not list(folder.glob(".recast-sort-*.part"))
    restore(folder)
    assert snapshot(folder) == original


def test_folder_with_non_face_images_is_refused_untouched(tmp_path: Path) -> None:
    folder = tmp_path / "aligned"
    make_faceset(folder, 4)
    _ok, png = cv2.imencode(".png", np.zeros((32, 32, 3), np.uint8))
    (folder / "holiday.png").write_bytes(png.tobytes())
    before = snapshot(folder)
    with pytest.raises(MetadataError, match=r"holiday\.png") as error:
        sort_faceset(folder, "yaw")
    assert "\n" not in str(error.value)
    assert snapshot(folder) == before and not (folder / JOURNAL_NAME).exists()


def test_mixed_face_types_are_refused_for_image_methods(tmp_path: Path) -> None:
    folder = tmp_path / "aligned"
    make_faceset(folder, 4)
    image, meta = synthetic_face(face_type=FaceType.FULL, size=64)
    write_face(folder / "full_0.jpg", image, meta)
    before = snapshot(folder)
    with pytest.raises(InputError, match=r"mixes face types \(1 full, 4 whole; e.g. full_0.jpg"):
        sort_faceset(folder, "hist")
    assert snapshot(folder) == before
    sort_faceset(folder, "yaw")  # metadata-only methods do not compare pixels: fine
    assert len(list_faces(folder)) == 5


def test_unknown_method_and_option(tmp_path: Path) -> None:
    make_faceset(tmp_path / "a", 2)
    with pytest.raises(OptionError, match="unknown sort method"):
        sort_faceset(tmp_path / "a", "nope")
    with pytest.raises(OptionError, match="sort option"):
        sort_faceset(tmp_path / "a", "yaw", colour=1)
    with pytest.raises(InputError, match="holds no aligned faces"):
        (tmp_path / "empty").mkdir()
        sort_faceset(tmp_path / "empty", "yaw")


def test_every_method_runs_on_synthetic_faces(tmp_path: Path) -> None:
    folder = tmp_path / "aligned"
    for i in range(8):
        image, meta = synthetic_face(size=96, yaw=0.1 * (i - 4), seed=i, source_filename=f"{i:05d}.png")
        meta.embedding = np.random.default_rng(i).normal(size=128).astype(np.float32) * 0.01
        write_face(folder / f"{i:05d}_0.jpg", image, meta)
    original = snapshot(folder)
    for method in SORT_METHODS:
        result = sort_faceset(folder, method, target=4)
        assert len(result.kept) + len(result.trashed) == len(list_faces(folder)) + len(result.trashed)
        restore(folder)
        assert snapshot(folder) == original, method


def test_restore_removes_the_journal_temp_file_a_kill_left(tmp_path: Path) -> None:
    """kill -9 while the journal itself was being written leaves ``..recast-sort.<random>.tmp.json``."""
    folder = tmp_path / "aligned"
    make_faceset(folder, 4)
    original = snapshot(folder)
    sort_faceset(folder, "yaw", workers=1)
    (folder / "..recast-sort.j7lpohwm.tmp.json").write_text('{"format": "recast.sort-jou')
    assert restore(folder).missing == []
    assert snapshot(folder) == original
