"""Issue #27's acceptance: the whole workflow in Chromium from an EMPTY workspace through the UI only,
on two real clips (person_A's 5 s talking clip as it is, and the first 1.2 s of person_B's clip, cut by
this test's setup outside the workspace): add both videos → extract both → open a face and fix a
landmark → label 3 faces in the XSeg editor → train XSeg briefly → apply → train the face model →
merge tuner (settings, keyframes) → train further and see the preview and its iteration change →
render → verify → eval → live for a few seconds.

The test never writes into the workspace and never calls the API to change anything: the client only
reads (job states). Screenshots of every step go to ``test-artifacts/studio/walk/`` in the project
(:data:`studio_support.ARTIFACTS`; ``RECAST_ARTIFACTS`` moves it)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recast.faces.aligned import read_meta
from recast.faceset.labelling import read_labels
from recast.workspace import init_workspace
from studio_support import ARTIFACTS, chromium, served

SRC_CLIP = "videos/person_A__videoretalking_face_3.mp4"
DST_CLIP = "videos/person_B__sadtalker_WDA_KatieHill_000.mp4"
DST_SECONDS = 1.2  # 30 of its 200 frames; the source (125 frames, 5 s) goes up whole: Live plays it
CANVAS_SUM = """() => {
  const canvas = document.querySelector('#merge-canvas');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0;
  for (let i = 0; i < data.length; i += 4) sum += data[i] * 3 + data[i + 1] * 5 + data[i + 2] * 7;
  return sum;
}"""


def _text(page: Any, selector: str, part: str, timeout: float = 60_000) -> None:
    page.wait_for_function(
        "([s, t]) => document.querySelector(s) && document.querySelector(s).textContent.includes(t)",
        arg=[selector, part], timeout=timeout)


def _previews(page: Any) -> int:
    return int(page.evaluate("Number(document.querySelector('#merge-canvas')?.dataset.previews || 0)"))


def _wait_previews(page: Any, more_than: int) -> None:
    page.wait_for_function(
        f"Number(document.querySelector('#merge-canvas')?.dataset.previews || 0) > {more_than}", timeout=120_000)


def _job_done(page: Any, client: Any, timeout: float = 300_000) -> dict[str, Any]:
    """Wait on the job page the UI moved to until the job ends; its record (read-only GET)."""
    page.wait_for_url("**#/jobs/*")
    job_id = int(page.url.rsplit("/", 1)[1])
    page.wait_for_selector("#job-state .state-done, #job-state .state-failed, #job-state .state-cancelled",
                           timeout=timeout)
    job = client.get(f"/api/jobs/{job_id}").json()
    assert job["state"] == "done", job
    return dict(job)


@pytest.mark.slow
@pytest.mark.walk
@pytest.mark.realdata
def test_the_whole_walk_from_an_empty_workspace_through_the_ui(shared_data: Path, tmp_path: Path) -> None:
    from recast.media.video_encode import cut

    clips = tmp_path / "clips"
    clips.mkdir()
    src_clip, dst_clip = shared_data / SRC_CLIP, clips / "person B interview.mp4"
    cut(shared_data / DST_CLIP, dst_clip, 0, DST_SECONDS)
    root = init_workspace(tmp_path / "ws").root
    shots = ARTIFACTS / "walk"
    shutil.rmtree(shots, ignore_errors=True)  # this run's steps only
    shots.mkdir(parents=True)
    count = [0]

    def shot(page: Any, name: str) -> None:
        count[0] += 1
        path = shots / f"{count[0]:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)

    with served(root) as (studio, client), chromium() as browser:
        page: Any = browser.new_page(viewport={"width": 1440, "height": 900})  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        base = studio.config.url.split("#")[0]

        def go(route: str) -> None:
            page.goto(base + route)

        try:
            # 1. add both videos through the page's file inputs
            go("#/workspace")
            page.wait_for_selector("#panel-footage")
            _text(page, "#stages", "src: data_src.mp4 missing")
            shot(page, "empty-workspace")
            for side, clip in (("src", src_clip), ("dst", dst_clip)):
                page.set_input_files(f"#footage-{side}", str(clip))
                page.click(f"#upload-{side}")
                page.wait_for_selector(f"#footage-row-{side} button:text('Replace')", timeout=120_000)
            assert "missing" not in page.inner_text("#stages")
            shot(page, "videos-added")

            # 2. extract both sides from the videos
            for side, frames in (("src", 125), ("dst", 30)):
                go("#/workspace")
                page.wait_for_selector("#extract-side")
                page.select_option("#extract-side", side)
                page.click("#start-extract")
                job = _job_done(page, client)
                assert job["result"]["frames_written"] == frames, job
                shot(page, f"extract-{side}-done")
            src_faces = sorted((root / "data_src" / "aligned").glob("*.jpg"))
            dst_faces = sorted((root / "data_dst" / "aligned").glob("*.jpg"))
            assert len(src_faces) >= 120 and len(dst_faces) == 30

            # 3. open a face and fix a landmark (drag the bottom of the lower lip down)
            patient = src_faces[3]
            before = read_meta(patient)
            go("#/faceset/src")
            page.wait_for_selector(f".fs-cell[data-name='{patient.name}'] img")
            page.click(f".fs-cell[data-name='{patient.name}']")
            page.wait_for_selector("#face-detail")
            shot(page, "faceset-src")
            page.click("#open-frame")
            page.wait_for_selector("#fix-canvas")
            page.wait_for_function("document.querySelector('#fix-canvas').dataset.view")
            view = json.loads(page.get_attribute("#fix-canvas", "data-view") or "{}")
            box = page.locator("#fix-canvas").bounding_box()
            x, y = (float(v) for v in before.source_landmarks[57])
            sx, sy = box["x"] + view["ox"] + x * view["scale"], box["y"] + view["oy"] + y * view["scale"]
            page.mouse.move(sx, sy)
            page.mouse.down()
            page.mouse.move(sx, sy + 8, steps=5)
            page.mouse.move(sx, sy + 16, steps=5)
            page.mouse.up()
            page.click("#fix-save")
            _text(page, "#fix-message", "Saved")
            page.wait_for_function("document.querySelector('#fix-aligned').complete")
            shot(page, "manual-fix-saved")
            after = read_meta(patient)
            moved = np.abs(after.source_landmarks - before.source_landmarks).max(axis=1)
            assert moved[57] > 5 and np.delete(moved, 57).max() < 0.01

            # 4. label 3 dst faces in the XSeg editor (one include polygon each, around the face)
            go("#/xseg/dst")
            page.wait_for_selector("#xseg-canvas")
            total = len(dst_faces)
            for index in range(3):
                _text(page, "#xseg-face", f"{index + 1}/{total}")
                _text(page, "#xseg-mode", "include")
                box = page.locator("#xseg-canvas").bounding_box()
                corners = ((0.22, 0.18), (0.78, 0.18), (0.84 - index * 0.02, 0.62), (0.5, 0.9), (0.16, 0.62))
                for fx, fy in corners:
                    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
                page.keyboard.press("Enter")
                _text(page, "#xseg-status", "1 polygon(s), 1 include")
                page.click("#xseg-save")
                _text(page, "#xseg-status", "· saved")
                if index == 2:
                    shot(page, "xseg-labelled-3")
                page.keyboard.press("d")
            labelled = [path for path in dst_faces if read_labels(path)]
            assert labelled == dst_faces[:3]

            # 5. train XSeg briefly from the page, then apply it to dst
            for name, value in (("name", "mask"), ("iterations", "6"), ("preview_every", "3"), ("batch_size", "2"),
                                ("threads", "2"), ("workers", "0")):
                page.fill(f"#xseg-train-{name}", value)
            page.click("#xseg-train")
            _text(page, "#xseg-train-progress", "done at iteration 6", timeout=300_000)
            page.wait_for_function("document.querySelector('#xseg-preview').naturalWidth > 0")
            page.select_option("#xseg-model", "mask")
            _text(page, "#xseg-prediction-info", "model/mask at iteration 6")
            page.click("#xseg-apply")
            _text(page, "#xseg-job-status", f"applied model/mask to {total} dst faces", timeout=180_000)
            shot(page, "xseg-trained-applied")
            assert all(read_meta(path).xseg_mask is not None for path in dst_faces)

            # 6. train the face model from the Training page's form (cpu preset, small batch)
            go("#/training")
            page.wait_for_selector("#train-start")
            page.select_option("#train-family", "cpu")
            page.fill("#train-target", "20")
            page.fill("#train-preview-every", "10")
            page.click("#train-settings summary")
            page.fill("#opt-batch_size", "2")
            page.click("#train-start")
            page.wait_for_selector("#stat-state.state-running", timeout=60_000)
            _text(page, "#stat-state", "stopped", timeout=400_000)
            assert page.inner_text("#stat-iteration") == "20"
            page.wait_for_function("document.querySelector('#preview-image').naturalWidth > 0")
            shot(page, "trained-20")

            # 7. the merge tuner: xseg mask, a setting change, two keyframes
            go("#/merge")
            page.wait_for_selector("#merge-xseg")
            _wait_previews(page, 0)
            _text(page, "#merge-info", "model at iteration 20")
            shown = _previews(page)
            page.select_option("#merge-xseg", "mask")
            page.select_option("#opt-mask_mode", "xseg-dst")
            _wait_previews(page, shown)
            _text(page, "#merge-info", "XSeg at 6")
            page.wait_for_timeout(500)
            shot(page, "merge-xseg-mask")
            shown = _previews(page)
            page.select_option("#opt-mask_mode", "dst")  # six XSeg iterations mask out most of the face: back to dst
            _wait_previews(page, shown)
            shown = _previews(page)
            page.select_option("#opt-color", "none")
            _wait_previews(page, shown)
            page.fill("#opt-erode", "40")
            page.wait_for_function(f"Number(document.querySelector('#merge-canvas').dataset.previews) > {shown + 1}",
                                   timeout=120_000)
            page.click("#merge-add-keyframe")
            page.wait_for_selector("#merge-keyframes a:has-text('frame 1')")
            page.evaluate("document.activeElement.blur()")
            for _ in range(9):
                page.keyboard.press("ArrowRight")
            page.wait_for_function("document.querySelector('#merge-frame').value === '10'")
            page.fill("#opt-erode", "0")
            page.click("#merge-add-keyframe")
            page.wait_for_selector("#merge-keyframes a:has-text('frame 10')")
            shown = _previews(page)
            _wait_previews(page, shown - 1)
            page.wait_for_timeout(500)
            shot(page, "merge-tuned-keyframes")
            before_sum = page.evaluate(CANVAS_SUM)
            assert "model at iteration 20" in page.inner_text("#merge-info")

            # 8. train further, back to the merge page: the preview shows the new weights and says so
            go("#/training")
            page.wait_for_selector("#train-start")
            page.fill("#train-target", "30")
            page.fill("#train-preview-every", "10")
            page.click("#train-start")
            page.wait_for_selector("#stat-state.state-running", timeout=60_000)
            _text(page, "#stat-state", "stopped", timeout=400_000)
            assert page.inner_text("#stat-iteration") == "30"
            _text(page, "#train-saved-note", "saved at iteration 30")
            shot(page, "trained-30")
            go("#/merge/10")
            _wait_previews(page, 0)
            _text(page, "#merge-info", "model at iteration 30")
            assert page.input_value("#merge-xseg") == "mask"  # the session kept its XSeg model
            page.wait_for_function("document.querySelector('#opt-erode').value === '0'")
            page.wait_for_timeout(500)
            assert page.evaluate(CANVAS_SUM) != before_sum
            shot(page, "merge-after-more-training")

            # 9. render from the merge page (verified there), then verify and eval on the Result page
            page.click("#merge-render")
            page.wait_for_selector("#merge-verdict", timeout=400_000)
            assert "verify passed" in page.inner_text("#merge-verdict")
            shot(page, "rendered")
            assert (root / "result.mp4").is_file()
            go("#/result")
            page.wait_for_function("document.querySelector('#result-player')?.readyState >= 2", timeout=60_000)
            page.click("#run-verify")
            page.wait_for_selector("#verify-verdict.good", timeout=120_000)
            shot(page, "verified")
            page.fill("#eval-every", "6")
            page.click("#run-eval")
            page.wait_for_selector("#eval-table", timeout=300_000)
            page.wait_for_function("document.querySelector('#eval-plot')?.naturalWidth > 0")
            shot(page, "evaluated")

            # 10. live on the source video (5 s, played at its own rate) for a few seconds, then stop
            go("#/live")
            page.wait_for_selector("#live-start")
            page.select_option("#live-input", "data_src.mp4")
            page.select_option("#live-model", "default")
            page.click("#live-start")
            page.wait_for_function("/^[1-9][0-9]* frames · /.test(document.querySelector('#live-stats').textContent)",
                                   timeout=60_000)
            page.wait_for_function("document.querySelector('#live-view').naturalWidth > 0")
            assert "model at iteration 30" in page.inner_text("#live-stats")
            shot(page, "live")
            page.wait_for_timeout(1500)
            page.click("#live-stop", timeout=5_000)
            _text(page, "#live-stats", "done — ")  # Stop ends a live job normally, with its summary
            summary = re.search(r"(\d+) frames, .* (\d+) dropped", page.inner_text("#live-stats"))
            assert summary is not None
            assert int(summary[1]) > 0 and int(summary[1]) + int(summary[2]) < 125  # stopped before the clip's end
            shot(page, "live-stopped")
        except Exception:
            shot(page, "failed")
            raise
        assert errors == []
