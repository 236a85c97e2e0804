"""The studio in a real headless Chromium: the shell, the Workspace page and the Jobs page.

Screenshots: test-artifacts/studio/workspace.png, job-running.png, job-reloaded.png."""

from __future__ import annotations

from pathlib import Path

from studio_support import chromium, screenshot, served
from test_studio_jobs import make_workspace


def test_workspace_train_and_job_pages(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws")
    with served(root) as (studio, client), chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 860})  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(studio.config.url)
        assert "token=" not in page.url  # the token moved into a cookie
        page.wait_for_selector("#stages")
        assert "src 8" in page.inner_text("#stages")
        screenshot(page, "workspace")

        page.select_option("#train-model", "cpu")
        page.fill("#train-iterations", "400")
        page.fill("#opt-batch_size", "2")
        page.click("#start-train")
        page.wait_for_url("**/#/jobs/*")
        logged = "document.querySelector('#job-log')?.textContent?.includes('iteration')"
        page.wait_for_function(logged, timeout=240_000)
        job = client.get("/api/jobs").json()[-1]
        assert job["options"]["settings"] == {"batch_size": 2} and job["options"]["model"] == "cpu"
        screenshot(page, "job-running")

        page.reload()
        page.wait_for_function(logged)
        page.click("#cancel-job")
        page.wait_for_selector("#job-state .state-done", timeout=120_000)
        assert "interrupted" in page.inner_text("#job-log")
        screenshot(page, "job-reloaded")
        assert errors == []
