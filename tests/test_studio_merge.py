"""The merge tuner's API on the real-clip workspace: previews from the warm worker, settings refused with
the option's name, latest-wins, sessions and keyframes (path traversal refused), rendering with a session."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from recast.merge.settings import load_session
from recast.studio.preview import PreviewRequest, PreviewService, Superseded
from recast.studio.tasks.jobs import JobManager
from studio_support import asgi_client
from test_studio_jobs import wait_state

TRAVERSALS = ["..", "..%2F..%2Fetc", "%2e%2e", ".hidden", "a%00b", "x%5C..%5Cy", "%2Ftmp%2Fx"]


def decode(content: bytes, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(content, np.uint8), flags)
    assert image is not None
    return image


def test_preview_images_follow_the_settings(real_workspace: Path) -> None:
    with asgi_client(real_workspace) as client:
        assert client.get("/api/merge/frames").json()["count"] == 13
        before = client.get("/api/merge/frames/3")
        assert before.status_code == 200 and decode(before.content).shape == (512, 512, 3)
        assert client.get("/api/merge/frames/14").status_code == 404
        assert client.get("/api/merge/frames/0").status_code == 404

        first = client.post("/api/merge/preview", json={"frame": 3})
        assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
        info = json.loads(first.headers["x-recast-preview"])
        assert info["name"] == "00003.png" and info["faces_merged"] == 1
        merged = decode(first.content)
        assert merged.shape == (512, 512, 3)
        assert np.abs(merged.astype(int) - decode(before.content).astype(int)).mean() > 1  # a face was swapped

        eroded = decode(client.post("/api/merge/preview", json={"frame": 3, "settings": {"erode": 80}}).content)
        assert np.abs(eroded.astype(int) - merged.astype(int)).mean() > 0.2
        mask = client.post("/api/merge/preview", json={"frame": 3, "settings": {"erode": 80}, "view": "mask"})
        assert mask.headers["content-type"] == "image/png"
        wide = client.post("/api/merge/preview", json={"frame": 3, "settings": {"erode": -80}, "view": "mask"})
        assert decode(mask.content).ndim == 2
        assert (decode(mask.content) > 127).sum() < (decode(wide.content) > 127).sum()  # erode shrinks the mask

        for settings, named in (({"erode": 999}, "erode"), ({"erode": "x"}, "erode"), ({"bogus": 1}, "bogus"),
                                ({"mode": "paint"}, "mode"), ({"morph": 0.5}, "morph")):
            answer = client.post("/api/merge/preview", json={"frame": 3, "settings": settings})
            assert answer.status_code == 422 and named in answer.json()["detail"], (settings, answer.text)
        answer = client.post("/api/merge/preview", json={"frame": 99})
        assert answer.status_code == 422 and "no frame 99" in answer.json()["detail"]
        assert client.post("/api/merge/preview", json={"frame": 0}).status_code == 422
        assert client.post("/api/merge/preview", json={"frame": 1, "view": "raw"}).status_code == 422
        for model in ("../model/default", "..", "missing", ".studio"):
            assert client.post("/api/merge/preview", json={"frame": 1, "model": model}).status_code == 404
        assert client.post("/api/merge/preview", json={"frame": 1}).status_code == 200  # the worker survived errors


def test_the_latest_preview_request_wins(real_workspace: Path) -> None:
    service = PreviewService(real_workspace, device="cpu")
    try:
        service.render(PreviewRequest("default", 1, {}))  # warm
        outcomes: dict[int, object] = {}

        def ask(frame: int) -> None:
            try:
                outcomes[frame] = service.render(PreviewRequest("default", frame, {"erode": frame}))
            except Superseded as error:
                outcomes[frame] = error

        with service._busy:  # a preview in progress: the next two requests wait
            threads = [threading.Thread(target=ask, args=(frame,)) for frame in (2, 3)]
            threads[0].start()
            while service._latest < 2:
                time.sleep(0.01)
            threads[1].start()
            while service._latest < 3:
                time.sleep(0.01)
        for thread in threads:
            thread.join(60)
        assert isinstance(outcomes[2], Superseded)  # dropped without being computed
        assert getattr(outcomes[3], "info", {})["name"] == "00003.png"
    finally:
        service.close()


def test_sessions_and_keyframes(real_workspace: Path) -> None:
    with asgi_client(real_workspace) as client:
        fresh = client.get("/api/merge/sessions/default").json()
        assert fresh["exists"] is False and fresh["session"]["keyframes"] == {}
        assert fresh["path"] == "merge_sessions/default.json"
        assert client.get("/api/merge/sessions").json() == []

        assert client.put("/api/merge/sessions/default/keyframes/1", json={"erode": 20}).status_code == 200
        answer = client.put("/api/merge/sessions/default/keyframes/11", json={"erode": 60, "color": "none"}).json()
        assert answer["session"]["keyframes"] == {"1": {"erode": 20}, "11": {"erode": 60, "color": "none"}}
        path = real_workspace / "merge_sessions" / "default.json"
        assert load_session(path).keyframes == {1: {"erode": 20}, 11: {"erode": 60, "color": "none"}}
        at6 = client.get("/api/merge/sessions/default/settings", params={"frame": 6}).json()
        assert (at6["erode"], at6["color"]) == (40, "rct")
        assert client.get("/api/merge/sessions").json() == ["default"]

        base = client.put("/api/merge/sessions/default/base", json={"blur": 30}).json()
        assert base["session"]["base"]["blur"] == 30 and len(base["session"]["keyframes"]) == 2
        assert client.delete("/api/merge/sessions/default/keyframes/11").json()["session"]["keyframes"] == {
            "1": {"erode": 20}}
        assert client.delete("/api/merge/sessions/default/keyframes/11").status_code == 404

        bad = client.put("/api/merge/sessions/default/keyframes/3", json={"blur": 900})
        assert bad.status_code == 422 and "blur" in bad.json()["detail"]
        assert client.put("/api/merge/sessions/default/keyframes/0", json={}).status_code == 422
        bad = client.put("/api/merge/sessions/default", json={"keyframes": {"2": {"sharpen_mode": "x"}}})
        assert bad.status_code == 422 and "sharpen_mode" in bad.json()["detail"]
        whole = {"base": {"mode": "seamless"}, "keyframes": {"5": {"blur": 10}}}
        assert client.put("/api/merge/sessions/other", json=whole).json()["session"]["base"]["mode"] == "seamless"
        path.write_text("{broken")
        assert client.get("/api/merge/sessions/default").status_code == 409

        for name in TRAVERSALS:
            assert client.get(f"/api/merge/sessions/{name}").status_code == 404, name
            assert client.put(f"/api/merge/sessions/{name}", json={}).status_code in (404, 405), name
            assert client.put(f"/api/merge/sessions/{name}/keyframes/1", json={}).status_code in (404, 405), name
            assert client.delete(f"/api/merge/sessions/{name}/keyframes/1").status_code in (404, 405), name
        written = {p.relative_to(real_workspace).as_posix() for p in real_workspace.rglob("*.json")
                   if "merge_sessions" in p.parts or p.parent == real_workspace}
        assert written == {"merge_sessions/default.json", "merge_sessions/other.json"}


def test_render_with_a_session_verifies_and_a_forced_one_keeps_the_old_result(real_workspace: Path) -> None:
    manager = JobManager(real_workspace)
    session = {"base": {"color": "none"}, "keyframes": {"1": {"erode": 0}, "13": {"erode": 60}}}
    (real_workspace / "merge_sessions").mkdir()
    (real_workspace / "merge_sessions" / "s.json").write_text(json.dumps(session))
    job = manager.start("render", {"session": "merge_sessions/s.json"})
    assert wait_state(manager, job.id, ("done", "failed", "cancelled")) == "done", job.events[-3:]
    result = job.result or {}
    assert result["output"] == "result.mp4" and result["frames"] == 13 and result["faces_merged"] == 13
    assert result["keyframes"] == [1, 13] and result["backup"] is None
    assert result["verified"] is True and result["verify"]["failed"] == {}
    assert result["verify"]["container_tag"] and result["verify"]["sidecar_ok"] and result["verify"]["watermark"]
    assert any(e["type"] == "progress" and e.get("kind") == "render" and e.get("done") == 13 for e in job.events)
    for name in ("result.mp4", "result_mask.mp4", "result.mp4.provenance.json"):
        assert (real_workspace / name).is_file()
    first = (real_workspace / "result.mp4").read_bytes()

    again = manager.start("render", {"session": "merge_sessions/s.json"})  # an existing result is not replaced…
    assert wait_state(manager, again.id, ("done", "failed")) == "failed" and "already exists" in (again.error or "")
    assert (real_workspace / "result.mp4").read_bytes() == first
    failing = manager.start("render", {"session": "merge_sessions/s.json", "force": True, "model": "missing"})
    assert wait_state(manager, failing.id, ("done", "failed")) == "failed"  # …a failed forced render puts it back…
    assert (real_workspace / "result.mp4").read_bytes() == first
    again = manager.start("render", {"session": "merge_sessions/s.json", "force": True})  # …and a forced one keeps it
    assert wait_state(manager, again.id, ("done", "failed")) == "done", again.events[-3:]
    backup = real_workspace / (again.result or {})["backup"]
    assert (backup / "result.mp4").read_bytes() == first and (backup / "result_mask.mp4").is_file()
    assert (again.result or {})["verified"] is True


