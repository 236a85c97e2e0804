"""The studio's Live page: a live job on a real clip and a real model, its MJPEG stream in Chromium,
watermarked frames, stop, and refused inputs. Screenshot: test-artifacts/studio/live.png."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from recast.errors import RecastError
from recast.provenance.watermark import detect_watermark
from recast.studio.live import frame_path
from recast.studio.tasks.jobs import JobManager
from studio_support import asgi_client, chromium, screenshot, served


def wait_done(manager: JobManager, job_id: int, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while manager.get(job_id).state == "running":
        assert time.monotonic() < deadline, manager.get(job_id).events[-3:]
        time.sleep(0.1)
    return manager.get(job_id).state


def test_sources_list_workspace_models_and_videos(real_workspace: Path) -> None:
    with asgi_client(real_workspace) as client:
        sources = client.get("/api/live/sources").json()
    assert {"data_src.mp4", "data_dst.mp4"} <= set(sources["inputs"]) and sources["models"] == ["default"]
    assert sources["settings"] == ["mask_mode", "color", "erode", "blur", "morph"]


@pytest.mark.parametrize(("options", "message"), [
    ({"input": "../../etc/passwd"}, "not a file in the workspace"),
    ({"input": "missing.mp4"}, "no such video"),
    ({"model": "../../x"}, "not a model in the workspace"),
    ({"settings": {"super_resolution": 2}}, "unknown live option 'super_resolution'; known: blur, color"),
    ({"rm": "-rf"}, "unknown live option"),
    ({"detect_every": 0}, "detect_every=0 is outside 1…1000"),
])
def test_bad_live_options_are_refused_in_one_line(real_workspace: Path, options: dict[str, object],
                                                  message: str) -> None:
    """Refused before a worker starts (the studio answers 422): no job is recorded."""
    manager = JobManager(real_workspace)
    with pytest.raises(RecastError) as error:
        manager.start("live", {"model": "default", "input": "data_dst.mp4", **options})
    assert message in str(error.value) and "\n" not in str(error.value)
    assert manager.all() == []


def test_live_page_streams_watermarked_frames(real_workspace: Path) -> None:
    with served(real_workspace) as (studio, client), chromium() as browser:
        page = browser.new_page(viewport={"width": 1100, "height": 900})  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(studio.config.url + "#/live")
        page.wait_for_selector("#live-input")
        page.select_option("#live-input", "data_dst.mp4")
        page.select_option("#live-model", "default")
        page.click("#live-start")
        page.wait_for_function("document.querySelector('#live-view').naturalWidth > 0", timeout=120_000)
        page.wait_for_function("/done|cancelled/.test(document.querySelector('#live-stats').textContent)",
                               timeout=120_000)
        screenshot(page, "live")
        job = client.get("/api/jobs").json()[-1]
        assert job["task"] == "live" and job["state"] == "done" and job["result"]["delivered"] > 0
        assert job["result"]["latency_median_ms"] > 0
        assert "frames" in page.inner_text("#live-stats")
        assert errors == []
    frame = cv2.imread(str(frame_path(real_workspace, job["id"])))
    assert frame is not None and frame.shape == (512, 512, 3)
    assert detect_watermark(frame).found


def test_stop_ends_a_camera_less_live_job(real_workspace: Path) -> None:
    from recast.media.video_encode import VideoWriter

    long_clip = real_workspace / "long.mp4"
    with VideoWriter(long_clip, 25, preset="ultrafast") as writer:
        for _ in range(750):
            writer.write(np.full((96, 96, 3), 90, np.uint8))
    manager = JobManager(real_workspace)
    job = manager.start("live", {"model": "default", "input": "long.mp4"})
    deadline = time.monotonic() + 120
    while not frame_path(real_workspace, job.id).exists():
        assert time.monotonic() < deadline and job.state == "running", job.events[-3:]
        time.sleep(0.1)
    manager.cancel(job.id)
    assert wait_done(manager, job.id) == "done"
    assert job.result is not None and 0 < job.result["delivered"] < 750
