"""DeepFaceLab's habits in Chromium, on the real-clip workspace: create a named model on the Training
page, train it for a fraction of a minute, press "refresh preview now" and see the preview, watch the
job's bar in the jobs list, roll back to a backup, and drive the merge tuner with DeepFaceLab's merger
keys; a faceset sort shows the shared job bar. Screenshots: test-artifacts/studio/habits-*.png."""

from __future__ import annotations

from pathlib import Path

import pytest

from recast.models import checkpoint as ckpt
from studio_support import chromium, screenshot, served


def _text(page: object, selector: str, part: str, timeout: float = 120_000) -> None:
    page.wait_for_function(  # type: ignore[attr-defined]
        "([s, t]) => document.querySelector(s) && document.querySelector(s).textContent.includes(t)",
        arg=[selector, part], timeout=timeout)


def _value(page: object, selector: str) -> str:
    return page.eval_on_selector(selector, "e => e.value")  # type: ignore[attr-defined,no-any-return]


def _train(page: object, minutes: str) -> None:
    page.fill("#train-target", "")  # type: ignore[attr-defined]
    page.fill("#train-minutes", minutes)  # type: ignore[attr-defined]
    page.fill("#train-preview-every", "100000")  # type: ignore[attr-defined]  # previews only on request
    page.click("#train-start")  # type: ignore[attr-defined]
    _text(page, "#stat-state", "running")


@pytest.mark.slow
@pytest.mark.realdata
def test_named_model_minutes_refresh_rollback_and_merger_keys(real_workspace: Path) -> None:
    folder = real_workspace / "model" / "mine"
    with served(real_workspace) as (studio, client), chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 1000})  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(studio.config.url + "#/training")
        page.wait_for_selector("#model-list tr[data-name=default]")
        assert "10" in page.inner_text("#model-list tr[data-name=default]")
        page.fill("#new-model-name", "mine")
        page.click("#new-model")
        _text(page, "h2", "Training model/mine")
        _text(page, "#stat-state", "no model yet")
        page.select_option("#train-family", "cpu")

        _train(page, "0.2")  # 12 s of training, no iteration target
        page.wait_for_function("Number(document.querySelector('#stat-iteration').textContent) > 0", timeout=180_000)
        assert page.is_visible("#no-preview")
        page.click("#train-refresh-preview")
        page.wait_for_selector("#preview-image[src*='preview.png']", state="visible", timeout=120_000)
        assert not (folder / ckpt.PREVIEW_REQUEST).exists()
        screenshot(page, "habits-refresh-preview")
        _text(page, "#stat-state", "stopped")
        first = int(page.inner_text("#stat-iteration"))
        assert first == ckpt.read_state(folder)["iteration"]  # type: ignore[index]
        assert client.get("/api/jobs").json()[-1]["options"]["minutes"] == 0.2

        ckpt.backup(folder, 3)  # what the trainer's autobackup writes
        page.reload()
        page.wait_for_selector("#backup-list tr[data-backup='01']")
        _train(page, "0.1")
        page.goto(studio.config.url + "#/jobs")
        page.wait_for_selector("#job-list .job-list-progress progress")
        screenshot(page, "habits-jobs-progress")
        page.goto(studio.config.url + "#/training/mine")
        _text(page, "#stat-state", "stopped")
        second = int(page.inner_text("#stat-iteration"))
        assert second > first
        assert str(second) in page.inner_text("#model-list tr[data-name=mine]")

        page.click("#backup-list tr[data-backup='01'] button.rollback")
        _text(page, "#backup-message", f"Rolled back to iteration {first}")
        _text(page, "#stat-iteration", str(first))
        assert ckpt.read_state(folder)["iteration"] == first  # type: ignore[index]
        kept = [b for b in client.get("/api/training/mine/backups").json() if b["name"].startswith("kept-")]
        assert [b["iteration"] for b in kept] == [second]
        page.wait_for_selector(f"#backup-list tr[data-backup='{kept[0]['name']}']")
        screenshot(page, "habits-rollback")

        page.goto(studio.config.url + "#/merge")
        page.wait_for_function("Number(document.querySelector('#merge-canvas')?.dataset.previews || 0) > 0",
                               timeout=120_000)
        assert sorted(page.eval_on_selector_all("#merge-model option", "os => os.map(o => o.value)")) == [
            "default", "mine"]
        page.evaluate("document.activeElement.blur()")
        assert _value(page, "#opt-erode") == "0" and _value(page, "#opt-color") == "rct"
        page.keyboard.press("w")
        page.keyboard.press("Shift+W")  # ×5
        page.keyboard.press("c")  # next colour mode
        page.keyboard.press("2")  # mode 2: overlay … 4: seamless
        page.keyboard.press("4")
        assert _value(page, "#opt-erode") == "6" and _value(page, "#slider-erode") == "6"
        assert _value(page, "#opt-color") == "lct" and _value(page, "#opt-mode") == "seamless"
        assert "edited" in page.inner_text("#merge-edit-state")
        page.keyboard.press("s")
        assert _value(page, "#opt-erode") == "5"
        assert not page.eval_on_selector("#merge-key-help", "d => d.open")
        page.keyboard.press("Tab")
        assert page.eval_on_selector("#merge-key-help", "d => d.open")
        assert "erode up / down" in page.inner_text("#merge-keys")
        screenshot(page, "habits-merger-keys")

        page.goto(studio.config.url + "#/faceset/src")  # the faceset sort shows the shared job bar
        page.wait_for_selector("#sort-method option", state="attached")
        page.click("#sort-start")
        _text(page, "#fs-job-progress .job-eta", "done")
        assert page.eval_on_selector("#fs-job-progress progress", "p => p.value") == 1
        screenshot(page, "habits-faceset-sort")
        assert not errors, errors
