"""The studio's XSeg editor: label API (traversal, hostile polygons), prediction overlay, and drawing,
undo/redo and saving polygons in Chromium. Screenshot: test-artifacts/studio/xseg-editor.png."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from recast.faceset.labelling import read_labels
from studio_support import asgi_client, chromium, screenshot, served


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
    from recast.studio.tasks.jobs import JobManager
    from test_studio_jobs import wait_state

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
