"""The merge tuner in a real headless Chromium, on the real-clip workspace: a merge setting changes the
previewed pixels, the mask view, keyframes, render, verify.

Screenshots: test-artifacts/studio/merge-tuner.png, merge-mask.png, merge-rendered.png."""

from __future__ import annotations

from pathlib import Path

from studio_support import chromium, screenshot, served

CANVAS_PIXELS = """() => {
  const canvas = document.querySelector('#merge-canvas');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0, grey = true;
  for (let i = 0; i < data.length; i += 4) {
    sum += data[i] * 3 + data[i + 1] * 5 + data[i + 2] * 7;
    if (Math.abs(data[i] - data[i + 1]) > 2 || Math.abs(data[i + 1] - data[i + 2]) > 2) grey = false;
  }
  return {sum, grey, width: canvas.width, height: canvas.height, previews: Number(canvas.dataset.previews || 0)};
}"""


def wait_previews(page: object, more_than: int) -> None:
    page.wait_for_function(  # type: ignore[attr-defined]
        f"Number(document.querySelector('#merge-canvas')?.dataset.previews || 0) > {more_than}", timeout=120_000)


def test_merge_tuner_preview_keyframes_render_verify(real_workspace: Path) -> None:
    with served(real_workspace) as (studio, client), chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 960})  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(studio.config.url)
        page.wait_for_selector("#stages")
        page.click("nav a[data-page=merge]")
        wait_previews(page, 0)
        before = page.evaluate(CANVAS_PIXELS)
        assert (before["width"], before["height"]) == (512, 512)
        assert "1 face" in page.inner_text("#merge-info")

        page.select_option("#opt-color", "none")  # a merge setting: the previewed pixels change
        wait_previews(page, before["previews"])
        after = page.evaluate(CANVAS_PIXELS)
        assert after["sum"] != before["sum"]
        assert "edited" in page.inner_text("#merge-edit-state")
        page.fill("#opt-erode", "60")
        wait_previews(page, after["previews"])
        assert page.evaluate(CANVAS_PIXELS)["sum"] != after["sum"]
        page.click("#view-split")
        screenshot(page, "merge-tuner")

        shown = page.evaluate(CANVAS_PIXELS)["previews"]
        page.click("#view-mask")
        wait_previews(page, shown)
        mask = page.evaluate(CANVAS_PIXELS)
        assert mask["grey"] and mask["sum"] > 0
        screenshot(page, "merge-mask")
        page.click("#view-result")

        page.click("#merge-add-keyframe")  # keyframe 1: colour none, erode 60
        page.wait_for_selector("#merge-keyframes a:has-text('frame 1')")
        page.evaluate("document.activeElement.blur()")
        for _ in range(6):  # scrub with the keyboard to frame 7
            page.keyboard.press("ArrowRight")
        page.wait_for_function("document.querySelector('#merge-frame').value === '7'")
        page.wait_for_function("document.querySelector('#opt-erode').value === '60'")  # the keyframe holds
        page.fill("#opt-erode", "0")
        page.click("#merge-add-keyframe")
        page.wait_for_selector("#merge-keyframes a:has-text('frame 7')")
        session = client.get("/api/merge/sessions/default").json()["session"]
        assert session["keyframes"] == {"1": {"color": "none", "erode": 60}, "7": {"color": "none", "erode": 0}}
        assert client.get("/api/merge/sessions/default/settings", params={"frame": 4}).json()["erode"] == 30
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowLeft")
        page.wait_for_function("document.querySelector('#opt-erode').value === '30'")  # interpolated at frame 4

        page.click("#merge-render")
        page.wait_for_selector("#merge-verdict", timeout=240_000)
        assert "verify passed" in page.inner_text("#merge-verdict")
        assert (real_workspace / "result.mp4").is_file()
        job = client.get("/api/jobs").json()[-1]
        assert job["task"] == "render" and job["options"]["session"] == "merge_sessions/default.json"
        assert job["result"]["keyframes"] == [1, 7]
        screenshot(page, "merge-rendered")
        assert errors == []
