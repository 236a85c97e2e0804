"""Footage in, frames out: the Workspace page's video upload (streamed, size-limited, probed, never
overwriting) and the extract task writing the frames that merging and the manual fix read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from media_factory import write_face_clip
from recast.faces.aligned import read_meta
from recast.locking import workspace_lock
from recast.media.images import list_images
from recast.studio.api import footage
from recast.studio.tasks import runs
from recast.workspace import init_workspace
from studio_support import asgi_client


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return init_workspace(tmp_path / "ws").root


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_face_clip(tmp_path_factory.mktemp("clip") / "talk.mp4", count=12, size=256).read_bytes()


def leftovers(root: Path) -> list[Path]:
    return sorted(root.glob(".upload-*"))


def test_upload_adds_the_video_and_the_state_shows_it(workspace: Path, clip: bytes) -> None:
    client = asgi_client(workspace)
    before = client.get("/api/footage").json()
    assert before["src"]["present"] is False and before["dst"]["name"] == "data_dst.mp4"
    assert before["max_bytes"] == footage.MAX_FOOTAGE_BYTES
    response = client.put("/api/footage/dst", content=clip)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["present"] and body["size"] == len(clip) and body["frame_count"] == 12
    assert body["duration"] == pytest.approx(12 / 25, abs=0.05) and body["moved_aside"] is None
    assert (workspace / "data_dst.mp4").read_bytes() == clip and not leftovers(workspace)
    assert client.get("/api/state").json()["videos"] == {"src": False, "dst": True}
    assert client.get("/api/footage").json()["dst"]["width"] == 256


def test_upload_streams_in_chunks(workspace: Path, clip: bytes) -> None:
    def chunks() -> Iterator[bytes]:
        for start in range(0, len(clip), 4096):
            yield clip[start:start + 4096]

    response = asgi_client(workspace).put("/api/footage/src", content=chunks())
    assert response.status_code == 200, response.text
    assert (workspace / "data_src.mp4").read_bytes() == clip


def test_an_existing_video_and_its_frames_are_moved_aside(workspace: Path, clip: bytes) -> None:
    old = workspace / "data_dst.mp4"
    old.write_bytes(b"the previous video")
    frame = workspace / "data_dst" / "00001.png"
    frame.write_bytes(b"a frame of the previous video")
    response = asgi_client(workspace).put("/api/footage/dst", content=clip)
    assert response.status_code == 200, response.text
    backup = workspace / response.json()["moved_aside"]
    assert backup.parent == workspace / ".recast" / "backup"
    assert (backup / "data_dst.mp4").read_bytes() == b"the previous video"
    assert (backup / "data_dst" / "00001.png").read_bytes() == b"a frame of the previous video"
    assert old.read_bytes() == clip and not frame.exists()


@pytest.mark.parametrize("body", [b"this is not a video\n", b"", "truncated"])
def test_a_file_that_is_no_video_is_refused_in_one_line(workspace: Path, clip: bytes, body: Any) -> None:
    (workspace / "data_src.mp4").write_bytes(b"kept")
    content = clip[:1500] if body == "truncated" else body
    response = asgi_client(workspace).put("/api/footage/src", content=content)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("data_src.mp4") and "\n" not in detail and str(workspace) not in detail
    assert (workspace / "data_src.mp4").read_bytes() == b"kept" and not leftovers(workspace)
    assert not (workspace / ".recast" / "backup").exists()


@pytest.mark.parametrize("streamed", [False, True])
def test_the_size_limit_is_refused_with_413(workspace: Path, clip: bytes, monkeypatch: pytest.MonkeyPatch,
                                            streamed: bool) -> None:
    monkeypatch.setattr(footage, "MAX_FOOTAGE_BYTES", 1000)
    content: Any = iter([clip[:600], clip[600:1200], clip[1200:]]) if streamed else clip
    response = asgi_client(workspace).put("/api/footage/dst", content=content)
    assert response.status_code == 413 and "limit" in response.json()["detail"]
    assert not (workspace / "data_dst.mp4").exists() and not leftovers(workspace)


def test_uploads_need_the_token_a_known_side_and_a_free_workspace(workspace: Path, clip: bytes) -> None:
    client = asgi_client(workspace)
    assert client.put("/api/footage/dst", content=clip, headers={"x-recast-token": "wrong"}).status_code == 401
    assert client.put("/api/footage/dst", content=clip, headers={"origin": "http://evil.test"}).status_code == 403
    assert client.get("/api/footage", headers={"x-recast-token": ""}).status_code == 401
    for side in ("model", "..%2Fdata_dst", "src.mp4"):
        assert client.put(f"/api/footage/{side}", content=clip).status_code == 404
    with workspace_lock(workspace, "recast train"):
        response = client.put("/api/footage/dst", content=clip)
    assert response.status_code == 409 and "recast train" in response.json()["detail"]
    assert not (workspace / "data_dst.mp4").exists() and not leftovers(workspace)
    assert sorted(p.name for p in workspace.iterdir() if p.is_file()) == [".recast.lock"]


class Events:
    """A task's ``emit``: keeps the events."""

    job_id = 1

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(event)


def test_extract_from_the_video_writes_the_frames_the_faces_came_from(workspace: Path, clip: bytes) -> None:
    client = asgi_client(workspace)
    assert client.put("/api/footage/dst", content=clip).status_code == 200
    emit = Events()
    summary = runs.run_extract(workspace, {"side": "dst", "workers": 1}, emit)
    assert summary["source"] == "data_dst.mp4" and summary["frames_written"] == 12 and summary["faces"] > 0
    frames = list_images(workspace / "data_dst")
    assert [path.name for path in frames] == [f"{index:05d}.png" for index in range(1, 13)]
    sources = {read_meta(face).source_filename for face in list_images(workspace / "data_dst" / "aligned")}
    assert sources and sources <= {path.name for path in frames}
    assert any(event.get("kind") == "frames" for event in emit.events)
    assert client.get("/api/merge/frames").json()["count"] == 12
    assert client.get("/api/state").json()["frames"]["dst"] == 12
    again = runs.run_extract(workspace, {"side": "dst", "workers": 1}, Events())
    assert again["source"] == "data_dst" and again["frames_written"] is None


def test_the_workspace_page_adds_both_videos_and_extract_makes_the_merge_page_work(
        workspace: Path, clip: bytes, tmp_path: Path) -> None:
    """Empty workspace → both videos added through the page → extract dst from the page → the Merge page
    has the destination frames. Screenshots: footage-empty.png, footage-added.png, footage-merge.png."""
    from studio_support import chromium, screenshot, served

    upload = tmp_path / "my clip.mp4"
    upload.write_bytes(clip)
    (tmp_path / "notes.txt").write_text("not a video")
    with served(workspace) as (studio, client), chromium() as browser:
        page: Any = browser.new_page(viewport={"width": 1440, "height": 900})  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(studio.config.url + "#/merge")
        assert "add data_dst.mp4 on the Workspace page" in page.wait_for_selector(".panel p.muted").inner_text()
        page.goto(studio.config.url.split("?")[0] + "#/workspace")
        page.wait_for_selector("#panel-footage")
        assert "src: data_src.mp4 missing" in page.inner_text("#stages")
        screenshot(page, "footage-empty")

        page.set_input_files("#footage-dst", str(tmp_path / "notes.txt"))
        page.click("#upload-dst")
        page.wait_for_function("document.querySelector('#footage-dst-message').textContent.includes('refused')")
        assert not (workspace / "data_dst.mp4").exists()
        for side in ("src", "dst"):
            page.set_input_files(f"#footage-{side}", str(upload))
            page.click(f"#upload-{side}")
            page.wait_for_selector(f"#footage-row-{side} button:text('Replace')")
        stages = page.inner_text("#stages")
        assert "dst: data_dst.mp4 (" in stages and "0.5 s, 12 frames, 256×256" in stages and "missing" not in stages
        assert "my clip.mp4 is now data_dst.mp4" in page.inner_text("#footage-note")
        panel = "document.querySelector('#panel-footage')"
        assert page.evaluate(f"{panel}.scrollWidth <= {panel}.clientWidth")
        assert page.evaluate(f"{panel}.getBoundingClientRect().right") <= 1440
        assert page.evaluate("document.documentElement.scrollWidth") <= 1440  # no control sticks out of its card
        screenshot(page, "footage-added")

        page.select_option("#extract-side", "dst")
        page.click("#start-extract")
        page.wait_for_url("**#/jobs/*")
        job_id = int(page.url.rsplit("/", 1)[1])
        for _ in range(600):
            job = client.get(f"/api/jobs/{job_id}").json()
            if job["state"] != "running":
                break
            page.wait_for_timeout(200)
        assert job["state"] == "done" and job["result"]["frames_written"] == 12, job
        page.goto(studio.config.url.split("?")[0] + "#/merge")
        page.wait_for_selector("#merge-model, .panel p.muted")
        assert "No destination" not in page.inner_text("#page")
        assert "No model yet" in page.inner_text("#page")
        screenshot(page, "footage-merge")
        assert errors == []
