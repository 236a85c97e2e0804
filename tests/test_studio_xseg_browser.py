"""The XSeg page in Chromium on synthetic facesets: draw a polygon, Ctrl+Z drops its last point only,
insert and delete points, zoom and draw an exclude polygon in the zoomed view, save; the next face
starts in include mode; an exclude-only face saves only after the inline warning; an unfinished
polygon is not dropped silently; then a short XSeg train job from the page (progress and preview)
and apply. Screenshots go to the test's tmp dir and test-artifacts/studio/xseg-*.png."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recast.faces.aligned import read_meta
from recast.faceset.labelling import read_labels
from studio_support import chromium, screenshot, served
from test_studio_jobs import make_workspace

FACE = 96  # px of the synthetic faces
VIEW = 512  # the editor canvas, CSS px


def _text(page: object, selector: str, part: str, timeout: float = 30_000) -> None:
    page.wait_for_function(  # type: ignore[attr-defined]
        "([s, t]) => document.querySelector(s) && document.querySelector(s).textContent.includes(t)",
        arg=[selector, part], timeout=timeout)


@pytest.mark.slow
def test_xseg_editor_and_jobs_in_chromium(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws", faces=4)
    faces = sorted((root / "data_dst" / "aligned").glob("*.jpg"))
    shots = tmp_path / "shots"
    shots.mkdir()
    with served(root) as (studio, _), chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 1000})  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(studio.config.url + "#/xseg/dst")
        page.wait_for_selector("#xseg-canvas")
        _text(page, "#xseg-face", "1/4")
        box = page.locator("#xseg-canvas").bounding_box()
        view = {"zoom": 1.0, "ox": 0.0, "oy": 0.0}

        def at(x: float, y: float) -> tuple[float, float]:
            s = VIEW / FACE * view["zoom"]
            return box["x"] + x * s + view["ox"], box["y"] + y * s + view["oy"]

        def click(x: float, y: float, **kw: object) -> None:
            page.mouse.click(*at(x, y), **kw)

        def shift_click(x: float, y: float) -> None:
            page.keyboard.down("Shift")
            click(x, y)
            page.keyboard.up("Shift")

        for x, y in ((10, 10), (80, 10), (80, 85), (50, 50)):
            click(x, y)
        _text(page, "#xseg-status", "drawing 4 point(s)")
        page.keyboard.press("Control+z")  # the last point only, not the whole polygon
        _text(page, "#xseg-status", "drawing 3 point(s)")
        click(10, 85)
        click(10, 10)  # the first point closes it
        _text(page, "#xseg-status", "1 polygon(s), 1 include")
        page.mouse.dblclick(*at(45, 10))  # insert on the top edge
        shift_click(80, 50)  # insert on the right edge
        click(80, 50, button="right")  # and delete it again
        shift_click(45, 85)  # insert on the bottom edge …
        page.mouse.move(*at(80, 70))
        page.mouse.move(*at(45, 85))
        page.keyboard.press("Delete")  # … and delete the hovered point
        page.mouse.move(box["x"] + VIEW / 2, box["y"] + VIEW / 2)
        page.mouse.wheel(0, -100)
        _text(page, "#xseg-zoom", "zoom 1.3×")
        view.update(zoom=1.25, ox=VIEW / 2 * (1 - 1.25), oy=VIEW / 2 * (1 - 1.25))
        page.keyboard.press("w")
        _text(page, "#xseg-mode", "exclude")
        for x, y in ((30, 30), (60, 30), (45, 60)):
            click(x, y)
        page.keyboard.press("Enter")
        _text(page, "#xseg-status", "2 polygon(s), 1 include")
        page.screenshot(path=str(shots / "xseg-zoomed.png"))
        page.keyboard.press("0")
        view.update(zoom=1.0, ox=0.0, oy=0.0)
        page.click("#xseg-save")
        _text(page, "#xseg-status", "· saved")
        page.keyboard.press("d")
        _text(page, "#xseg-face", "2/4")
        _text(page, "#xseg-mode", "mode: include")
        page.keyboard.press("w")
        for x, y in ((20, 20), (60, 20), (40, 60)):
            click(x, y)
        page.keyboard.press("Enter")
        page.keyboard.press("Control+s")
        page.wait_for_selector("#xseg-save-anyway")
        assert "only exclude polygons" in page.inner_text("#xseg-warning")
        _text(page, "#xseg-status", "unsaved")
        page.screenshot(path=str(shots / "xseg-exclude-only-warning.png"))
        page.click("#xseg-save-anyway")
        _text(page, "#xseg-status", "· saved")
        click(30, 70)
        click(50, 80)
        page.keyboard.press("d")
        page.wait_for_selector("#xseg-drop-go")
        _text(page, "#xseg-face", "2/4")
        page.click("#xseg-drop-go")
        _text(page, "#xseg-face", "3/4")

        for name, value in (("name", "mask"), ("iterations", "4"), ("preview_every", "2"), ("batch_size", "2"),
                            ("threads", "1"), ("workers", "0")):
            page.fill(f"#xseg-train-{name}", value)
        page.click("#xseg-train")
        _text(page, "#xseg-train-progress", "done at iteration 4", timeout=240_000)
        _text(page, "#xseg-preview-info", "preview from iteration 4")
        page.wait_for_function("document.querySelector('#xseg-preview').naturalWidth > 0")
        page.select_option("#xseg-model", "mask")
        _text(page, "#xseg-prediction-info", "model/mask at iteration 4")
        page.click("#xseg-apply")
        _text(page, "#xseg-job-status", "applied model/mask to 4 dst faces", timeout=120_000)
        page.screenshot(path=str(shots / "xseg-trained-applied.png"), full_page=True)
        screenshot(page, "xseg-jobs")
        assert errors == []

    first = read_labels(faces[0])
    assert [p.include for p in first] == [True, False]
    np.testing.assert_allclose(first[0].points, [[10, 10], [45, 10], [80, 10], [80, 85], [10, 85]], atol=0.5)
    np.testing.assert_allclose(first[1].points, [[30, 30], [60, 30], [45, 60]], atol=0.5)
    assert [p.include for p in read_labels(faces[1])] == [False]
    assert read_labels(faces[2]) == [] and read_labels(faces[3]) == []
    assert all(read_meta(path).xseg_mask is not None for path in faces)
