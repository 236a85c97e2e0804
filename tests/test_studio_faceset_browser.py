"""The faceset browser and the manual fix in a real headless Chromium.

On the real-clip workspace: the grid shows the faces, a face goes to the trash and comes back, one
face's landmarks are dragged and the file's metadata changes. On a 3,000-face set: only the rows in
view are in the DOM, and click / shift-click / ctrl-click select.
Screenshots: test-artifacts/studio/faceset.png, faceset-coverage.png, faceset-overlay.png,
manual-fix.png."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from recast.faces.aligned import read_meta
from studio_support import chromium, screenshot, served
from test_studio_jobs import make_workspace

SRC = "data_src/aligned"
ALL_LOADED = "[...document.querySelectorAll('.fs-cell img')].every((i) => i.complete && i.naturalWidth > 0)"


def open_page(browser, studio, hash_: str, errors: list[str]):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(studio.config.url + hash_)
    return page


def test_grid_trash_restore_and_manual_fix(real_workspace: Path) -> None:
    faces = sorted(p.name for p in (real_workspace / SRC).glob("*.jpg"))
    victim, patient = faces[1], faces[2]
    with served(real_workspace) as (studio, _), chromium() as browser:
        errors: list[str] = []
        page = open_page(browser, studio, "#/faceset/src", errors)
        page.wait_for_selector(".fs-cell img")
        page.wait_for_function(ALL_LOADED)
        assert sorted(page.eval_on_selector_all(".fs-cell", "cells => cells.map((c) => c.dataset.name)")) == faces
        page.click(f".fs-cell[data-name='{patient}']")
        page.wait_for_selector("#face-detail")
        assert "dlib-hog" in page.inner_text("#face-detail")
        screenshot(page, "faceset")

        page.wait_for_function("document.querySelector('#fs-coverage summary').textContent.includes('close src face')")
        page.click("#fs-coverage summary")
        assert page.eval_on_selector_all(".fs-coverage-table tr", "rows => rows.length") == 5
        screenshot(page, "faceset-coverage")
        page.click("#fs-coverage summary")

        page.check("#overlay-toggle")
        page.wait_for_function(f"document.querySelectorAll('.fs-cell canvas').length === {len(faces)}")
        screenshot(page, "faceset-overlay")
        page.uncheck("#overlay-toggle")

        page.click(f".fs-cell[data-name='{victim}']")
        page.click("#trash-selected")
        page.wait_for_selector(f".fs-cell[data-name='{victim}']", state="detached")
        assert (real_workspace / "data_src/aligned_trash" / victim).is_file()
        assert not (real_workspace / SRC / victim).exists()
        assert "Trash (1)" in page.inner_text("#tab-trash")
        page.click("#tab-trash")
        page.wait_for_selector(f".fs-cell[data-name='{victim}'] img")
        page.click(f".fs-cell[data-name='{victim}']")
        page.click("#restore-selected")
        page.wait_for_selector(".fs-cell", state="detached")
        assert (real_workspace / SRC / victim).is_file()
        page.click("#tab-faces")
        page.wait_for_function(f"document.querySelectorAll('.fs-cell').length === {len(faces)}")

        before = read_meta(real_workspace / SRC / patient)
        page.click(f".fs-cell[data-name='{patient}']")
        page.click("#open-frame")
        page.wait_for_selector("#fix-canvas")
        page.wait_for_function("document.querySelector('#fix-canvas').dataset.view")
        view = json.loads(page.get_attribute("#fix-canvas", "data-view") or "{}")
        box = page.locator("#fix-canvas").bounding_box()
        assert box is not None
        x, y = (float(v) for v in before.source_landmarks[57])  # the bottom of the lower lip
        sx, sy = box["x"] + view["ox"] + x * view["scale"], box["y"] + view["oy"] + y * view["scale"]
        page.mouse.move(sx, sy)
        page.mouse.down()
        page.mouse.move(sx, sy + 10, steps=5)
        page.mouse.move(sx, sy + 20, steps=5)
        page.mouse.up()
        page.click("#fix-save")
        page.wait_for_function("document.querySelector('#fix-message').textContent.startsWith('Saved')")
        page.wait_for_function("document.querySelector('#fix-aligned').complete")
        screenshot(page, "manual-fix")

        after = read_meta(real_workspace / SRC / patient)
        moved = np.abs(after.source_landmarks - before.source_landmarks).max(axis=1)
        assert moved[57] > 5 and np.delete(moved, 57).max() < 0.01
        assert after.source_landmarks[57][1] > before.source_landmarks[57][1] + 5
        assert after.landmarks[57][1] > before.landmarks[57][1] + 2  # in the aligned face too
        assert after.extra["manual_fix"]["backup"].startswith("aligned_fix_backup/")
        assert (real_workspace / "data_src" / after.extra["manual_fix"]["backup"]).is_file()
        assert errors == []


def test_large_grid_is_virtual_and_selects_ranges(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws", faces=1)
    one = root / SRC / "00000_0.jpg"
    for i in range(1, 3000):
        shutil.copyfile(one, root / SRC / f"{i:05d}_0.jpg")
    with served(root) as (studio, _), chromium() as browser:
        errors: list[str] = []
        page = open_page(browser, studio, "#/faceset/src", errors)
        page.wait_for_selector(".fs-cell img")
        page.wait_for_function(ALL_LOADED)
        assert page.get_attribute("#page [data-count]", "data-count") == "3000"
        assert page.locator(".fs-cell").count() < 120
        page.click(".fs-cell[data-name='00001_0.jpg']")
        page.click(".fs-cell[data-name='00006_0.jpg']", modifiers=["Shift"])
        assert page.inner_text("#fs-selection") == "6 selected"
        page.click(".fs-cell[data-name='00003_0.jpg']", modifiers=["Control"])
        assert page.inner_text("#fs-selection") == "5 selected"
        assert page.locator(".fs-cell.selected").count() == 5
        page.eval_on_selector("#face-grid", "grid => { grid.scrollTop = grid.scrollHeight; }")
        page.wait_for_selector(".fs-cell[data-name='02999_0.jpg'] img")
        page.wait_for_function(ALL_LOADED)
        assert page.locator(".fs-cell").count() < 120
        assert page.locator(".fs-cell[data-name='00001_0.jpg']").count() == 0
        assert errors == []


def test_a_face_is_added_to_a_frame_where_detection_failed(real_workspace: Path) -> None:
    aligned = real_workspace / SRC
    name = sorted(p.name for p in aligned.glob("*.jpg"))[4]
    meta = read_meta(aligned / name)
    (aligned / name).rename(real_workspace / "data_src" / "removed.jpg")
    with (aligned / ".recast-extract.jsonl").open("a") as log:  # as extract logs a frame without a face
        log.write(json.dumps({"frame": meta.source_filename, "faces": 0}) + "\n")
    with served(real_workspace) as (studio, _), chromium() as browser:
        errors: list[str] = []
        page = open_page(browser, studio, "#/faceset/src", errors)
        page.click(f".fs-frame-link:text('{meta.source_filename}')")
        page.wait_for_selector("#fix-canvas")
        page.wait_for_function("document.querySelector('#fix-canvas').dataset.view")
        assert page.is_disabled("#fix-find") and page.is_disabled("#fix-save")
        view = json.loads(page.get_attribute("#fix-canvas", "data-view") or "{}")
        box = page.locator("#fix-canvas").bounding_box()
        assert box is not None
        left, top, right, bottom = (float(v) for v in meta.source_rect)
        page.mouse.move(box["x"] + view["ox"] + left * view["scale"], box["y"] + view["oy"] + top * view["scale"])
        page.mouse.down()
        page.mouse.move(box["x"] + view["ox"] + right * view["scale"], box["y"] + view["oy"] + bottom * view["scale"],
                        steps=8)
        page.mouse.up()
        page.click("#fix-find")
        page.wait_for_function("document.querySelector('#fix-message').textContent.startsWith('Landmarks found')",
                               timeout=120_000)
        page.click("#fix-save")
        page.wait_for_function("document.querySelector('#fix-message').textContent.startsWith('Saved')")
        added = read_meta(aligned / f"{Path(meta.source_filename).stem}_0.jpg")
        assert added.source_filename == meta.source_filename and added.detector == "manual"
        assert float(np.abs(added.source_landmarks - meta.source_landmarks).mean()) < 6.0
        assert "/fix/" in page.url
        assert errors == []
