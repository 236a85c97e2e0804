"""Studio faceset API: compact listings, the thumbnail cache, trash/restore through the sort journal,
sort jobs, overlays, the manual fix (and its undo), bad input and names that try to leave the set."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from recast.errors import OptionError
from recast.faces.aligned import read_face, read_meta, write_face
from recast.faceset.journal import JOURNAL_NAME
from recast.faceset.sort import restore, sort_faceset
from recast.locking import workspace_lock
from recast.studio.faceset import THUMBS, list_folder
from recast.studio.tasks.jobs import JobManager
from studio_support import asgi_client
from test_studio_jobs import make_workspace, wait_state

SRC = "data_src/aligned"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A synthetic workspace (12 src faces) with the source frame of 00000_0.jpg and a frame without a
    face (00050.png, logged by extract as having none)."""
    root = make_workspace(tmp_path / "ws", faces=12)
    size = read_meta(root / SRC / "00000_0.jpg").source_size
    ramp = np.linspace(0, 255, size[0] * size[1] * 3).reshape(size[1], size[0], 3).astype(np.uint8)
    for frame in ("00000.png", "00050.png"):
        cv2.imwrite(str(root / "data_src" / frame), ramp)
    (root / SRC / ".recast-extract.jsonl").write_text(
        "".join(json.dumps({"frame": f"{i:05d}.png", "faces": 1}) + "\n" for i in range(12))
        + json.dumps({"frame": "00050.png", "faces": 0}) + "\n")
    return root


@pytest.fixture
def client(ws: Path):  # type: ignore[no-untyped-def]
    with asgi_client(ws) as client:
        yield client


def names(client, side: str = "src", bin: str = "faces") -> list[str]:  # type: ignore[no-untyped-def]
    return [name for name, _ in client.get(f"/api/faceset/{side}?bin={bin}").json()["faces"]]


def thumbs(ws: Path) -> list[Path]:
    return sorted((ws / THUMBS).rglob("*.jpg"))


def test_listing_is_compact_and_in_display_order(client, ws: Path) -> None:  # type: ignore[no-untyped-def]
    (ws / SRC / "00010_0.jpg").rename(ws / SRC / "00100_0.jpg")
    listing = client.get("/api/faceset/src").json()
    assert listing["folder"] == SRC and listing["counts"] == {"faces": 12, "trash": 0}
    assert [name for name, _ in listing["faces"]][-3:] == ["00009_0.jpg", "00011_0.jpg", "00100_0.jpg"]
    assert all(len(entry) == 2 and isinstance(entry[1], str) for entry in listing["faces"])
    assert client.get("/api/faceset/src?bin=trash").json()["faces"] == []
    methods = {m["name"] for m in client.get("/api/faceset/methods").json()}
    assert {"blur", "yaw", "hist", "best", "origname"} <= methods
    assert client.get("/api/faceset/src/frames").json()["without_face"] == ["00050.png"]


def test_listing_is_remembered_until_the_folder_changes(client, ws: Path) -> None:  # type: ignore[no-untyped-def]
    folder = ws / SRC
    os.utime(folder, (time.time() - 10, time.time() - 10))
    first = list_folder(folder)
    assert list_folder(folder) is first
    (folder / "00004_0.jpg").rename(folder / "00400_0.jpg")
    assert [name for name, _ in list_folder(folder)][-1] == "00400_0.jpg"
    assert names(client)[-1] == "00400_0.jpg"


def test_thumbnails_are_cached_and_invalidated_when_the_face_changes(client, ws: Path) -> None:  # type: ignore[no-untyped-def]
    (name, key), *_ = client.get("/api/faceset/src").json()["faces"]
    first = client.get(f"/api/faceset/src/thumb/{name}?v={key}")
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    assert "immutable" in first.headers["cache-control"] and first.headers["etag"] == f'"{key}"'
    assert cv2.imdecode(np.frombuffer(first.content, np.uint8), cv2.IMREAD_COLOR).shape == (128, 128, 3)
    [cached] = thumbs(ws)
    made = cached.stat().st_mtime_ns
    again = client.get(f"/api/faceset/src/thumb/{name}?v={key}")
    assert again.content == first.content and thumbs(ws) == [cached] and cached.stat().st_mtime_ns == made
    assert client.get(f"/api/faceset/src/thumb/{name}", headers={"if-none-match": f'"{key}"'}).status_code == 304
    stale = client.get(f"/api/faceset/src/thumb/{name}?v=old")
    assert stale.headers["cache-control"] == "private, no-cache"

    client.post("/api/faceset/src/trash", json={"names": [name]})  # a rename keeps the key: no new thumbnail
    assert client.get(f"/api/faceset/src/thumb/{name}?bin=trash").content == first.content and len(thumbs(ws)) == 1
    client.post("/api/faceset/src/restore", json={"names": [name]})

    face = read_face(ws / SRC / name)
    write_face(ws / SRC / name, 255 - face.image, face.meta)
    [(_, new_key)] = [entry for entry in client.get("/api/faceset/src").json()["faces"] if entry[0] == name]
    assert new_key != key
    changed = client.get(f"/api/faceset/src/thumb/{name}?v={new_key}")
    assert changed.content != first.content and len(thumbs(ws)) == 2


def test_trash_and_restore_go_through_the_journal(client, ws: Path) -> None:  # type: ignore[no-untyped-def]
    answer = client.post("/api/faceset/src/trash", json={"names": ["00002_0.jpg", "00005_0.jpg"]})
    assert answer.status_code == 200 and answer.json() == {"trashed": ["00002_0.jpg", "00005_0.jpg"]}
    assert "00002_0.jpg" not in names(client) and names(client, bin="trash") == ["00002_0.jpg", "00005_0.jpg"]
    assert (ws / "data_src/aligned_trash/00005_0.jpg").is_file() and (ws / SRC / JOURNAL_NAME).is_file()
    listing = client.get("/api/faceset/src").json()
    assert listing["counts"] == {"faces": 10, "trash": 2} and listing["journal"]

    restored = client.post("/api/faceset/src/restore", json={"names": ["00005_0.jpg"]}).json()
    assert restored == {"restored": ["00005_0.jpg"]}
    assert "00005_0.jpg" in names(client) and names(client, bin="trash") == ["00002_0.jpg"]
    restore(ws / SRC)  # `recast sort --restore` undoes the studio's moves like any other
    assert len(names(client)) == 12 and names(client, bin="trash") == []


def test_restore_returns_a_face_to_its_sorted_name(client, ws: Path) -> None:  # type: ignore[no-untyped-def]
    sort_faceset(ws / SRC, "yaw", workers=1)
    third = names(client)[3]
    assert third.startswith("00003_")
    client.post("/api/faceset/src/trash", json={"names": [third]})
    trashed = names(client, bin="trash")
    assert trashed == [third.split("_", 1)[1]]  # the trash holds original names
    assert client.post("/api/faceset/src/restore", json={"names": trashed}).json() == {"restored": [third]}


def test_writes_are_refused_while_another_process_writes(client, ws: Path) -> None:  # type: ignore[no-untyped-def]
    with workspace_lock(ws, "recast train"):
        answer = client.post("/api/faceset/src/trash", json={"names": ["00001_0.jpg"]})
    assert answer.status_code == 409 and "recast train" in answer.json()["detail"]
    assert "00001_0.jpg" in names(client)


def fixed_points(ws: Path, name: str = "00000_0.jpg") -> tuple[list[list[float]], list[float]]:
    meta = read_meta(ws / SRC / name)
    points = meta.source_landmarks.astype(np.float64)
    points[48:68] += (0.0, 6.0)  # the mouth 6 px lower
    return points.tolist(), list(meta.source_rect)


def test_manual_fix_writes_the_face_and_keeps_the_old_one(client, ws: Path) -> None:  # type: ignore[no-untyped-def]
    path = ws / SRC / "00000_0.jpg"
    before_bytes, before = path.read_bytes(), read_meta(path)
    points, rect = fixed_points(ws)
    answer = client.post("/api/faceset/src/fix", json={"name": "00000_0.jpg", "frame": "00000.png",
                                                        "landmarks": points, "rect": rect})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    after = read_face(path)
    assert np.allclose(after.meta.source_landmarks, points, atol=0.01)
    assert not np.allclose(after.meta.landmarks, before.landmarks, atol=0.5)
    assert not np.allclose(after.meta.image_to_face_mat, before.image_to_face_mat)
    assert after.image.shape == (96, 96, 3) and after.meta.face_type == before.face_type
    assert after.meta.detector == "manual" and body["face"]["fix"]["backup"] == body["backup"]
    backup = ws / "data_src" / body["backup"]
    assert backup.parent.name == "aligned_fix_backup" and backup.read_bytes() == before_bytes
    assert body["face"]["source_landmarks"][60][1] == pytest.approx(points[60][1], abs=0.01)

    overlays = client.post("/api/faceset/src/overlays", json={"names": ["00000_0.jpg", "gone.jpg"]}).json()["overlays"]
    assert list(overlays) == ["00000_0.jpg"] and len(overlays["00000_0.jpg"]["landmarks"]) == 68
    assert overlays["00000_0.jpg"]["mask"] and overlays["00000_0.jpg"]["mask_kind"] == "hull"

    undone = client.post("/api/faceset/src/unfix", json={"name": "00000_0.jpg"})
    assert undone.status_code == 200 and path.read_bytes() == before_bytes
    assert len(list(backup.parent.iterdir())) == 2  # the fixed face is kept too
    assert client.post("/api/faceset/src/unfix", json={"name": "00000_0.jpg"}).status_code == 422


def test_manual_fix_adds_a_face_to_a_frame_without_one(client, ws: Path) -> None:  # type: ignore[no-untyped-def]
    points, rect = fixed_points(ws)
    answer = client.post("/api/faceset/src/fix", json={"name": None, "frame": "00050.png", "landmarks": points,
                                                        "rect": rect})
    assert answer.status_code == 200 and answer.json()["name"] == "00050_0.jpg" and answer.json()["backup"] is None
    face = read_face(ws / SRC / "00050_0.jpg")
    assert face.meta.source_filename == "00050.png" and face.image.shape == (96, 96, 3)
    assert client.get("/api/faceset/src/frames").json()["without_face"] == []


GOOD = "good"  # replaced by the face's own landmarks / box


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"name": "00000_0.jpg", "frame": "00000.png", "landmarks": [[1, 2]] * 67, "rect": GOOD}, 400, "68"),
    ({"name": "00000_0.jpg", "frame": "00000.png", "landmarks": [[1e9, 2]] * 68, "rect": GOOD}, 400, "inside"),
    ({"name": "00000_0.jpg", "frame": "00000.png", "landmarks": "x", "rect": GOOD}, 400, "landmarks"),
    ({"name": "00000_0.jpg", "frame": "00000.png", "landmarks": GOOD, "rect": [9, 9, 1, 1]}, 400, "rect"),
    ({"name": "00000_0.jpg", "frame": "00050.png", "landmarks": GOOD, "rect": GOOD}, 400, "comes from frame"),
    ({"name": 3, "frame": "00000.png"}, 400, "name"),
    ({"name": None, "frame": None}, 400, "frame"),
    ({"name": "nope.jpg", "frame": "00000.png"}, 404, "no such face"),
    ({"name": None, "frame": "00077.png"}, 404, "no such frame"),
])
def test_bad_fix_input_is_a_one_line_4xx(client, ws: Path, body: dict, status: int, words: str) -> None:  # type: ignore[no-untyped-def]
    points, rect = fixed_points(ws)
    body = {**body, **{key: good for key, good in (("landmarks", points), ("rect", rect)) if body.get(key) == GOOD}}
    before = (ws / SRC / "00000_0.jpg").read_bytes()
    answer = client.post("/api/faceset/src/fix", json=body)
    detail = answer.json()["detail"]
    assert answer.status_code == status and words in detail and "\n" not in detail, detail
    assert (ws / SRC / "00000_0.jpg").read_bytes() == before


@pytest.mark.parametrize(("url", "content", "status"), [
    ("/api/faceset/src/trash", b"[1", 400),
    ("/api/faceset/src/trash", b"[1]", 400),
    ("/api/faceset/src/trash", b'{"names": []}', 400),
    ("/api/faceset/src/trash", b'{"names": ["00001_0.jpg", "00001_0.jpg"]}', 400),
    ("/api/faceset/src/trash", b'{"names": "00001_0.jpg"}', 400),
    ("/api/faceset/src/overlays", json.dumps({"names": [f"{i}.jpg" for i in range(401)]}).encode(), 413),
    ("/api/faceset/src/trash", b'{"names": ["' + b"x" * (1 << 20) + b'"]}', 413),
])
def test_bad_bodies_are_a_one_line_4xx(client, url: str, content: bytes, status: int) -> None:  # type: ignore[no-untyped-def]
    answer = client.post(url, content=content, headers={"content-type": "application/json"})
    assert answer.status_code == status and isinstance(answer.json()["detail"], str)
    assert len(names(client)) == 12


HOSTILE = ["..", "../aligned_trash", "../../.recast.lock", "/etc/passwd", "..\\..\\x.jpg", ".recast-sort.json",
           "a\x00b.jpg", "../00000.png", "%2e%2e/%2e%2e/etc/passwd", "evil.jpg", "nope.jpg"]


def _requests(name: str) -> list[tuple[str, str, dict | None]]:
    quoted = name
    for char, escape in (("%", "%25"), (".", "%2E"), ("/", "%2F"), ("\\", "%5C"), ("\x00", "%00")):
        quoted = quoted.replace(char, escape)
    return [
        ("GET", f"/api/faceset/src/thumb/{quoted}", None),
        ("GET", f"/api/faceset/src/thumb/{quoted}?bin=trash", None),
        ("GET", f"/api/faceset/src/image/{quoted}", None),
        ("GET", f"/api/faceset/src/face/{quoted}", None),
        ("GET", f"/api/faceset/src/frame/{quoted}", None),
        ("GET", f"/api/faceset/{quoted}", None),
        ("POST", "/api/faceset/src/trash", {"names": [name]}),
        ("POST", "/api/faceset/src/restore", {"names": [name]}),
        ("POST", "/api/faceset/src/unfix", {"name": name}),
        ("POST", "/api/faceset/src/fix", {"name": name, "frame": "00000.png", "landmarks": [], "rect": []}),
        ("POST", "/api/faceset/src/fix", {"name": None, "frame": name, "landmarks": [], "rect": []}),
        ("POST", f"/api/faceset/{quoted}/trash", {"names": ["00001_0.jpg"]}),
    ]


@pytest.mark.parametrize("name", HOSTILE)
def test_names_cannot_leave_the_faceset(client, ws: Path, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "outside.jpg"
    shutil.copy(ws / SRC / "00001_0.jpg", outside)
    (ws / SRC / "evil.jpg").symlink_to(outside)
    (ws / "data_src" / "aligned_trash").mkdir()
    for method, url, body in _requests(name):
        answer = client.request(method, url, json=body)
        assert 400 <= answer.status_code < 500, (method, url, answer.status_code)
        detail = answer.json()["detail"] if answer.headers["content-type"] == "application/json" else answer.text
        assert isinstance(detail, str) and "\n" not in detail, (url, detail)
    assert outside.is_file() and len(names(client)) == 13 and names(client, bin="trash") == []


def test_coverage_lists_the_dst_face_no_src_face_is_close_to(client, ws: Path) -> None:  # type: ignore[no-untyped-def]
    dst = ws / "data_dst/aligned"
    shutil.rmtree(dst)
    shutil.copytree(ws / SRC, dst)
    face = read_face(dst / "00003_0.jpg")
    points = face.meta.landmarks.copy()
    points[65:68, 1] += 0.6 * float(np.linalg.norm(points[64] - points[60]))  # jaw drop: a wide-open mouth
    write_face(dst / "00003_0.jpg", face.image, dataclasses.replace(face.meta, landmarks=points))

    answer = client.get("/api/faceset/coverage").json()
    assert answer["src_faces"] == answer["dst_faces"] == 12
    assert answer["score"] == pytest.approx(11 / 12, abs=1e-4) and not answer["poor"]
    assert answer["uncovered_count"] == 1 and answer["weakest"] == "mouth"
    assert answer["uncovered"][0]["name"] == "00003_0.jpg" and answer["uncovered"][0]["feature"] == "mouth"
    assert answer["summary"].startswith("92 % of 12 dst faces have a close src face")
    assert answer["src"] == SRC and answer["dst"] == "data_dst/aligned"

    shutil.rmtree(dst)
    dst.mkdir()
    empty = client.get("/api/faceset/coverage")
    assert empty.status_code == 422 and empty.json()["detail"] == "data_dst/aligned: holds no aligned faces (.jpg/.png)"


def test_sort_and_undo_run_as_jobs(ws: Path) -> None:
    manager = JobManager(ws)
    try:
        job = manager.start("sort", {"side": "src", "method": "yaw"})
        assert wait_state(manager, job.id, ("done", "failed")) == "done", manager.get(job.id).events
        assert manager.get(job.id).result == {"side": "src", "method": "yaw", "kept": 12, "trashed": 0}
        sorted_names = sorted(p.name for p in (ws / SRC).glob("*.jpg"))
        assert all(name[:5].isdigit() and name.count("_") == 2 for name in sorted_names)
        job = manager.start("sort", {"side": "src", "restore": True})
        assert wait_state(manager, job.id, ("done", "failed")) == "done", manager.get(job.id).events
        assert sorted(p.name for p in (ws / SRC).glob("*.jpg")) == [f"{i:05d}_0.jpg" for i in range(12)]
        with pytest.raises(OptionError, match="method='nonsense' is not one of"):
            manager.start("sort", {"side": "src", "method": "nonsense"})
    finally:
        manager.shutdown()


def test_landmark_job_finds_the_face_in_a_box(real_workspace: Path) -> None:
    name = sorted(p.name for p in (real_workspace / SRC).glob("*.jpg"))[0]
    meta = read_meta(real_workspace / SRC / name)
    manager = JobManager(real_workspace)
    try:
        job = manager.start("faceset-landmarks", {"side": "src", "frame": meta.source_filename,
                                                  "rect": list(meta.source_rect)})
        assert wait_state(manager, job.id, ("done", "failed")) == "done", manager.get(job.id).events
        found = np.array(manager.get(job.id).result["landmarks"])  # type: ignore[index]
        assert found.shape == (68, 2)
        assert float(np.abs(found - meta.source_landmarks).mean()) < 4.0  # extraction smoothed over time
        with pytest.raises(OptionError, match="no such frame"):
            manager.start("faceset-landmarks", {"side": "src", "frame": "../../etc/passwd", "rect": [0, 0, 9, 9]})
    finally:
        manager.shutdown()
