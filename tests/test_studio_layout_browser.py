"""Issue #27: every studio page, at 1280×800 and 1920×1080, fits the window's width (no sideways
scroll) and shows no broken image, on the real-clip workspace with a model trained 10 iterations
(Training has no preview grid of its own yet only when none was written; Live is shown before and while it runs).

Screenshots: test-artifacts/studio/layout-<page>-<width>.png."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from studio_support import chromium, screenshot, served

SIZES = ((1280, 800), (1920, 1080))
NO_OVERFLOW = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
BROKEN = ("[...document.images].filter((i) => i.getAttribute('src') && i.complete && i.naturalWidth === 0)"
          ".map((i) => i.id || i.getAttribute('src'))")
LOADED = ("[...document.images].every((i) => !i.getAttribute('src') || i.complete)"
          " && document.querySelector('#page').textContent.trim() !== 'loading…'")


def _finished_job(client: Any) -> int:
    """A sort job (dst by blur) run to its end, so the Jobs pages have a finished job to show."""
    job = client.post("/api/jobs", json={"task": "sort", "options": {"side": "dst", "method": "blur"}}).json()
    second = client.post("/api/jobs", json={"task": "render", "options": {"crf": 99}})  # submitted together
    assert second.status_code == 422 and "crf=99" in second.json()["detail"]  # refused at submit, lock or not
    deadline = time.monotonic() + 120
    while client.get(f"/api/jobs/{job['id']}").json()["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    return int(job["id"])


def _check(page: Any, route: str, name: str, width: int, height: int) -> None:
    page.goto(page.url.split("#")[0] + route)
    page.wait_for_timeout(300)
    page.wait_for_function(LOADED, timeout=60_000)
    page.wait_for_timeout(400)
    assert "could not show this page" not in page.inner_text("#page"), (route, page.inner_text("#page"))
    overflow = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert page.evaluate(NO_OVERFLOW), (route, width, overflow)
    assert page.evaluate(BROKEN) == [], (route, width)
    assert page.evaluate("document.querySelectorAll('img:not([src])').length === "
                         "document.querySelectorAll('img:not([src])[hidden]').length"), (route, "img without src shown")
    if name == "live":  # the stream's place is above the fold
        assert page.evaluate("document.querySelector('#live-placeholder').getBoundingClientRect().bottom") <= height
    screenshot(page, f"layout-{name}-{width}")


@pytest.mark.slow
def test_every_page_fits_the_width_and_shows_no_broken_image(real_workspace: Path) -> None:
    routes = {"workspace": "#/workspace", "jobs": "#/jobs", "faceset": "#/faceset/dst",
              "xseg": "#/xseg/dst", "training": "#/training",
              "merge": "#/merge/1", "result": "#/result", "live": "#/live"}
    with served(real_workspace) as (studio, client), chromium() as browser:
        job = _finished_job(client)
        routes["job"] = f"#/jobs/{job}"
        face = sorted((real_workspace / "data_dst" / "aligned").glob("*.jpg"))[0].name
        routes["faceset-fix"] = f"#/faceset/dst/fix/{face}"
        for width, height in SIZES:
            page = browser.new_page(viewport={"width": width, "height": height})
            errors: list[str] = []
            page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
            page.goto(studio.config.url)
            for name, route in routes.items():
                _check(page, route, name, width, height)
            assert errors == []
            page.close()


def test_the_train_form_shows_the_presets_own_defaults_and_the_model_gets_them(real_workspace: Path) -> None:
    """Issue #27: with ``cpu`` chosen the form showed the base settings (adabelief, 5e-05) while the model was
    saved with adam and 2e-4. Switching the model in the form now shows its preset's defaults, and they
    are what the new model is saved with."""
    import shutil

    from recast.models.checkpoint import read_state

    shutil.rmtree(real_workspace / "model" / "default")
    with served(real_workspace) as (studio, client), chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(studio.config.url + "#/workspace")
        page.wait_for_selector("#panel-train #opt-optimizer")
        shown = ("[document.querySelector('#panel-train #opt-optimizer').value,"
                 " document.querySelector('#panel-train #opt-lr').value]")
        others = [name for name in page.eval_on_selector_all("#train-model option", "os => os.map((o) => o.value)")
                  if name != "cpu"]
        page.select_option("#train-model", others[0])
        page.wait_for_timeout(500)
        page.select_option("#train-model", "cpu")
        page.wait_for_function(f"{shown}.join() === 'adam,0.0002'")
        page.fill("#train-iterations", "1")
        page.fill("#panel-train #opt-batch_size", "2")
        page.click("#start-train")
        page.wait_for_url("**/#/jobs/*")
        page.wait_for_selector("#job-state .state-done", timeout=240_000)
        assert page.is_hidden("#cancel-job")
        assert "iteration" in page.inner_text("#job-result")
        screenshot(page, "job-done")
        settings = read_state(real_workspace / "model" / "default")["settings"]
        assert (settings["optimizer"], settings["lr"]) == ("adam", 2e-4)
        assert client.get("/api/jobs").json()[-1]["state"] == "done"
