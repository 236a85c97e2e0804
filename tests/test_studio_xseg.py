"""The studio's XSeg page: label API (traversal, hostile polygons), prediction overlay, drawing,
undo/redo and saving polygons in Chromium (screenshot: test-artifacts/studio/xseg-editor.png), and the
XSeg jobs — train with progress and preview, apply and remove with their backups, fetch — on
synthetic facesets."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from recast.errors import InputError, OptionError
from recast.faces.aligned import read_meta
from recast.faceset.labelling import read_labels, write_labels
from recast.studio.tasks.jobs import JobManager
from studio_support import asgi_client, chromium, screenshot, served
from test_studio_jobs import make_workspace, wait_state


@pytest.fixture(scope="module")
def xseg_workspace(real_workspace_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real-clip workspace with a 2-iteration ``xseg-cpu`` model in ``model/mask``."""
    import shutil

    from recast.train.xseg_trainer import XSegTrainOptions, train_xseg

    root = Path(shutil.copytree(real_workspace_template, tmp_path_factory.mktemp("xseg") / "ws"))
    train_xseg(XSegTrainOptions([root / "data_src" / "aligned", root / "data_dst" / "aligned"], root / "model" / "mask",
                                model="xseg-cpu", iterations=2, workers=0, threads=1, preview_every=0,
                                autosave_minutes=0, settings={"batch_size": 2}))
    return root


def first_face(root: Path) -> str:
    return sorted(p.name for p in (root / "data_dst" / "aligned").glob("*.jpg"))[0]


def test_labels_round_trip_and_models(xseg_workspace: Path) -> None:
    name = first_face(xseg_workspace)
    with asgi_client(xseg_workspace) as client:
        assert client.get("/api/xseg/models").json() == ["mask"]
        faces = client.get("/api/xseg/dst/faces").json()
        assert faces[0] == {"name": name, "labelled": False} and len(faces) == 13
        square = {"type": "include", "points": [[10, 10], [200, 10], [200, 200], [10, 200]]}
        hole = {"type": "exclude", "points": [[50, 50], [90, 50], [70, 90]]}
        assert client.put(f"/api/xseg/dst/faces/{name}/labels", json={"polygons": [square, hole]}).status_code == 200
        assert client.get(f"/api/xseg/dst/faces/{name}/labels").json()["polygons"] == [square, hole]
        assert client.get("/api/xseg/dst/faces").json()[0]["labelled"] is True
        assert client.put(f"/api/xseg/dst/faces/{name}/labels", json={"polygons": []}).status_code == 200
        assert read_labels(xseg_workspace / "data_dst" / "aligned" / name) == []


@pytest.mark.parametrize("polygons", [
    [{"type": "include", "points": [[1e12, 0], [1, 1], [2, 2]]}],
    [{"type": "include", "points": "nope"}],
    [{"type": "maybe", "points": [[1, 1], [5, 1], [5, 5]]}],
    [{"type": "include", "points": [[1, 1]] * 100_000}],
    [{"type": "include", "points": [[1, 1], [None, 2], [3, 3]]}],
])
def test_hostile_polygons_are_refused_and_nothing_is_written(xseg_workspace: Path, polygons: list) -> None:
    name = first_face(xseg_workspace)
    path = xseg_workspace / "data_dst" / "aligned" / name
    before = path.read_bytes()
    with asgi_client(xseg_workspace) as client:
        response = client.put(f"/api/xseg/dst/faces/{name}/labels", json={"polygons": polygons})
    assert response.status_code in (413, 422) and "\n" not in response.json()["detail"]
    assert path.read_bytes() == before


@pytest.mark.parametrize("url", ["/api/xseg/dst/faces/..%2F..%2Fdata_src.mp4/labels", "/api/xseg/../faces",
                                 "/api/xseg/etc/faces", "/api/xseg/dst/faces/missing.jpg/image",
                                 "/api/xseg/dst/faces/x.jpg/prediction?model=..%2F..%2Fmodel"])
def test_names_cannot_leave_the_faceset(xseg_workspace: Path, url: str) -> None:
    with asgi_client(xseg_workspace) as client:
        assert client.get(url).status_code == 404


def test_prediction_is_a_mask_of_the_face_size(xseg_workspace: Path) -> None:
    name = first_face(xseg_workspace)
    with asgi_client(xseg_workspace) as client:
        response = client.get(f"/api/xseg/dst/faces/{name}/prediction", params={"model": "mask"})
        assert client.get(f"/api/xseg/dst/faces/{name}/prediction", params={"model": "default"}).status_code == 404
    mask = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert response.headers["content-type"] == "image/png" and mask.shape == (256, 256)


def test_editor_draws_undoes_and_saves_polygons(xseg_workspace: Path) -> None:
    name = first_face(xseg_workspace)
    with served(xseg_workspace) as (studio, _), chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(studio.config.url + "#/xseg/dst")
        page.wait_for_selector("#xseg-canvas")
        page.wait_for_function("document.querySelector('#xseg-face').textContent.includes('1/13')")
        page.select_option("#xseg-model", "mask")
        box = page.locator("#xseg-canvas").bounding_box()
        scale = 512 / 256  # canvas px per face px

        def click(x: float, y: float) -> None:
            page.mouse.click(box["x"] + x * scale, box["y"] + y * scale)

        for x, y in ((40, 40), (220, 40), (220, 230), (40, 230)):
            click(x, y)
        page.keyboard.press("Enter")
        page.keyboard.press("e")
        for x, y in ((100, 100), (150, 100), (125, 150)):
            click(x, y)
        click(100, 100)  # the first point closes it
        page.wait_for_function("document.querySelector('#xseg-status').textContent.startsWith('2 polygon')")
        page.keyboard.press("Control+z")
        page.wait_for_function("document.querySelector('#xseg-status').textContent.startsWith('1 polygon')")
        page.keyboard.press("Control+y")
        page.wait_for_function("document.querySelector('#xseg-status').textContent.startsWith('2 polygon')")
        page.mouse.move(box["x"] + 220 * scale, box["y"] + 230 * scale)  # drag a corner
        page.mouse.down()
        page.mouse.move(box["x"] + 240 * scale, box["y"] + 240 * scale, steps=4)
        page.mouse.up()
        page.click("#xseg-save")
        page.wait_for_function("document.querySelector('#xseg-status').textContent.includes('· saved')")
        screenshot(page, "xseg-editor")
        page.click("#xseg-next")
        page.wait_for_function("document.querySelector('#xseg-face').textContent.includes('2/13')")
        assert errors == []
    labels = read_labels(xseg_workspace / "data_dst" / "aligned" / name)
    assert [p.include for p in labels] == [True, False]
    np.testing.assert_allclose(labels[0].points, [[40, 40], [220, 40], [240, 240], [40, 230]], atol=1.5)
    np.testing.assert_allclose(labels[1].points, [[100, 100], [150, 100], [125, 150]], atol=1.5)


def test_merge_tuner_and_render_use_the_xseg_model(xseg_workspace: Path) -> None:
    body = {"model": "default", "frame": 1, "settings": {"mask_mode": "xseg-dst"}, "view": "mask"}
    with served(xseg_workspace) as (_, client):
        assert client.get("/api/state").status_code == 200
        refused = client.post("/api/merge/preview", json=body)
        assert refused.status_code in (409, 422) and "xseg" in refused.text.lower()
        assert client.post("/api/merge/preview", json={**body, "xseg": "../mask"}).status_code == 404
        masked = client.post("/api/merge/preview", json={**body, "xseg": "mask"})
        assert masked.status_code == 200 and masked.headers["content-type"] == "image/png"
    manager = JobManager(xseg_workspace)
    try:
        job = manager.start("render", {"mask_mode": "xseg-dst", "xseg": "mask", "crf": 30, "force": True})
        assert wait_state(manager, job.id, ("done", "failed")) == "done", manager.get(job.id).events[-3:]
        sidecar = (xseg_workspace / "result.mp4.provenance.json").read_text()
        assert "xseg_weights_sha256" in sidecar
    finally:
        manager.shutdown()


XSEG_TRAIN = {"name": "mask", "iterations": 3, "preview_every": 2, "batch_size": 2, "workers": 0, "threads": 1}
"""A few iterations of a new ``xseg-cpu`` model in ``model/mask``, a preview at iteration 2."""


def run_job(manager: JobManager, task: str, options: dict) -> dict:
    job = manager.start(task, options)
    assert wait_state(manager, job.id, ("done", "failed", "cancelled")) == "done", manager.get(job.id).events[-3:]
    return manager.get(job.id).result or {}


@pytest.fixture(scope="module")
def synthetic_xseg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace of synthetic whole-face facesets (6 faces a side), one dst face labelled, and a
    2-iteration ``xseg-cpu`` model in ``model/base``."""
    from recast.train.xseg_trainer import XSegTrainOptions, train_xseg

    root = make_workspace(tmp_path_factory.mktemp("xseg-jobs") / "ws", faces=6)
    first = sorted((root / "data_dst" / "aligned").glob("*.jpg"))[0]
    write_labels(first, [{"type": "include", "points": [[10, 10], [80, 10], [80, 85], [10, 85]]}])
    train_xseg(XSegTrainOptions([root / "data_dst" / "aligned"], root / "model" / "base", iterations=2, workers=0,
                                threads=1, preview_every=0, autosave_minutes=0, settings={"batch_size": 2}))
    return root


def test_xseg_train_job_reports_progress_and_its_preview(synthetic_xseg: Path) -> None:
    manager = JobManager(synthetic_xseg)
    try:
        job = manager.start("xseg-train", XSEG_TRAIN)
        assert wait_state(manager, job.id, ("done", "failed")) == "done", manager.get(job.id).events[-3:]
        events = manager.get(job.id).events
    finally:
        manager.shutdown()
    progress = [event for event in events if event["type"] == "progress"]
    previews = [(e["iteration"], e["total"]) for e in progress if e["kind"] == "preview"]
    assert previews == [(2, 3)]
    assert progress[-1]["kind"] == "done" and progress[-1]["iteration"] == 3
    assert events[-1]["result"]["status"] == "done" and events[-1]["result"]["iteration"] == 3
    with asgi_client(synthetic_xseg) as client:
        assert client.get("/api/xseg/models").json() == ["base", "mask"]
        state = client.get("/api/xseg/models/mask").json()
        preview = client.get("/api/xseg/models/mask/preview.png")
        assert client.get("/api/xseg/models/..%2Fmask").status_code == 404
        assert client.get("/api/xseg/models/none/preview.png").status_code == 404
    assert state["exists"] and state["iteration"] == 3 and state["preview_iteration"] == 2
    assert state["job"] == {"id": job.id, "state": "done"}
    grid = cv2.imdecode(np.frombuffer(preview.content, np.uint8), cv2.IMREAD_COLOR)
    assert preview.headers["content-type"] == "image/png" and grid is not None
    assert grid.shape[1] == 4 * grid.shape[0] // 2  # 4 columns, one row per sample (batch 2)


def test_xseg_apply_remove_fetch_jobs_keep_backups(synthetic_xseg: Path) -> None:
    faces = sorted((synthetic_xseg / "data_dst" / "aligned").glob("*.jpg"))
    manager = JobManager(synthetic_xseg)
    try:
        first = run_job(manager, "xseg-apply", {"side": "dst", "name": "base", "batch_size": 4})
        assert first == {"side": "dst", "model": "model/base", "changed": 6, "backup": None}
        applied = read_meta(faces[0]).xseg_mask
        assert applied is not None and all(read_meta(path).xseg_mask is not None for path in faces)
        again = run_job(manager, "xseg-apply", {"side": "dst", "name": "base"})
        backup = synthetic_xseg / again["backup"]
        assert again["backup"].startswith("data_dst/aligned_backup/xseg-apply-")
        assert sorted(p.name for p in backup.iterdir()) == [p.name for p in faces]
        assert read_meta(backup / faces[0].name).xseg_mask is not None
        removed = run_job(manager, "xseg-remove", {"side": "dst"})
        assert removed["changed"] == 6 and removed["backup"].startswith("data_dst/aligned_backup/xseg-remove-")
        assert all(read_meta(path).xseg_mask is None for path in faces)
        assert read_labels(faces[0]) and read_meta(synthetic_xseg / removed["backup"] / faces[0].name).xseg_mask \
            is not None
        assert run_job(manager, "xseg-remove", {"side": "dst"}) == {"side": "dst", "changed": 0, "backup": None}
        fetched = run_job(manager, "xseg-fetch", {"side": "dst"})
        assert fetched == {"side": "dst", "copied": 1, "skipped": 0, "output": "data_dst/aligned_xseg"}
        assert [p.name for p in (synthetic_xseg / "data_dst" / "aligned_xseg").iterdir()] == [faces[0].name]
    finally:
        manager.shutdown()


@pytest.mark.parametrize(("task", "options", "error"), [
    ("xseg-train", {"batch_size": 0}, OptionError),
    ("xseg-train", {"name": "../x"}, OptionError),
    ("xseg-train", {"model": "saehd"}, OptionError),
    ("xseg-train", {"iterations": 5, "more": 2}, OptionError),
    ("xseg-train", {"faces": "all"}, OptionError),
    ("xseg-apply", {"name": "nothing-here"}, InputError),
    ("xseg-apply", {"side": "both"}, OptionError),
    ("xseg-remove", {"output": "x"}, OptionError),
    ("xseg-fetch", {"side": "../dst"}, OptionError),
])
def test_bad_xseg_options_start_no_job(tmp_path: Path, task: str, options: dict, error: type) -> None:
    root = make_workspace(tmp_path / "ws", faces=2)
    manager = JobManager(root)
    with pytest.raises(error) as refused:
        manager.start(task, options)
    assert "\n" not in str(refused.value) and manager.all() == []
