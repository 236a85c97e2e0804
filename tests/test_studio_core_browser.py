"""The Workspace, Training and Result pages in a real headless Chromium, on the real-clip workspace.

Screenshots: test-artifacts/studio/workspace-full.png, training.png, result.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio_support import chromium, screenshot, served


def open_page(browser: Any, url: str) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    return page, errors


def test_training_page_trains_and_the_preview_updates(real_workspace: Path) -> None:
    with served(real_workspace) as (studio, client), chromium() as browser:
        page, errors = open_page(browser, studio.config.url + "#/training")
        page.wait_for_selector("#loss-chart polyline.loss-src")
        labels = page.eval_on_selector_all("#preview-columns span", "spans => spans.map(s => s.textContent)")
        assert labels == ["src", "src recon", "dst", "dst recon", "swap", "swap mask", "dst mask"]
        assert page.inner_text("#stat-iteration") == "10"
        before_src = page.get_attribute("#preview-image", "src")
        before = client.get(before_src).content
        points = int(page.get_attribute("#loss-chart", "data-points"))

        page.fill("#train-target", "11")
        page.fill("#train-preview-every", "1")
        page.click("#train-settings summary")
        page.fill("#opt-batch_size", "2")
        page.click("#train-start")
        page.wait_for_selector("#stat-state.state-running")
        page.wait_for_function(f"document.querySelector('#preview-image').getAttribute('src') !== {before_src!r}",
                               timeout=240_000)
        after = client.get(page.get_attribute("#preview-image", "src")).content
        assert after != before  # new pixels, not only a new URL
        page.wait_for_function("document.querySelector('#stat-state').textContent === 'stopped'",
                               timeout=240_000)
        assert page.inner_text("#stat-iteration") == "11"
        assert int(page.get_attribute("#loss-chart", "data-points")) > points
        assert "11 (latest) · 2 of 2" in page.inner_text("#history-label")
        job = client.get("/api/jobs").json()[-1]
        assert job["state"] == "done" and job["options"]["settings"]["batch_size"] == 2
        assert job["options"]["preview_every"] == 1 and job["result"]["iteration"] == 11
        screenshot(page, "training")

        page.eval_on_selector("#history-scrubber", "s => { s.value = '0'; s.dispatchEvent(new Event('input')); }")
        page.wait_for_function("document.querySelector('#preview-image').src.includes('/history/')")
        assert "iteration 10" in page.inner_text("#history-label")
        assert errors == []


def test_workspace_render_then_result_page_verifies_and_evaluates(real_workspace: Path) -> None:
    with served(real_workspace) as (studio, client), chromium() as browser:
        page, errors = open_page(browser, studio.config.url)
        page.wait_for_selector("#start-verify")
        assert "src 13" in page.inner_text("#stages")
        screenshot(page, "workspace-full")

        page.fill("#render-blur", "20")
        page.click("#start-render")
        page.wait_for_url("**/#/jobs/*")
        page.wait_for_selector("#job-state .state-done", timeout=240_000)
        assert client.get("/api/jobs").json()[-1]["options"] == {"blur": 20}

        page.goto(studio.config.url.split("?")[0] + "#/result")
        page.wait_for_function("document.querySelector('#result-player')?.readyState >= 2")
        page.click("#run-verify")
        page.wait_for_selector("#verify-verdict.good", timeout=120_000)
        assert "synthetic media, made with recast" in page.inner_text("#verify-verdict")
        assert "watermark" in page.inner_text("#verify-table")
        page.click("#run-eval")
        page.wait_for_selector("#eval-table", timeout=240_000)
        page.wait_for_function("document.querySelector('#eval-plot')?.naturalWidth > 0")
        assert "pose error" in page.inner_text("#eval-table")
        screenshot(page, "result")
        assert errors == []
