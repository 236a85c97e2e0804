"""Studio API of the Workspace, Training and Result pages: forms of every task, the tasks' option
validation (as the CLI's: unknown keys refused in one line, nothing outside the workspace), the
training previews and loss history, the result video with HTTP ranges, the verify and eval reports."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from recast.errors import OptionError
from recast.merge.settings import MERGE_COMPUTE, MergeSettings
from recast.options import option_fields
from recast.provenance.writer import EncodeOptions
from recast.studio.tasks import runs
from recast.studio.tasks.options import RenderJob
from recast.train.options import PREVIEW_COLUMNS
from recast.workspace import init_workspace
from studio_support import asgi_client, served
from test_studio_jobs import make_workspace

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return init_workspace(tmp_path / "ws").root


def fake_model(root: Path, name: str = "default", iteration: int = 20) -> Path:
    """A model folder as training leaves it: state.json, a checkpoint's loss history, previews."""
    folder = root / "model" / name
    checkpoint = folder / "checkpoints" / f"{iteration:09d}"
    checkpoint.mkdir(parents=True)
    (folder / "state.json").write_text(json.dumps({"checkpoint": f"checkpoints/{iteration:09d}", "iteration": iteration,
                                                   "model": "cpu", "settings": {"batch_size": 4}}))
    (checkpoint / "history.json").write_text(json.dumps({"iteration": list(range(1, iteration + 1)),
                                                         "src": [1.0] * iteration, "dst": [2.0] * iteration}))
    history = folder / "previews" / "history"
    history.mkdir(parents=True)
    for step in (10, 20):
        (history / f"{step:09d}.png").write_bytes(PNG + bytes([step]))
    (folder / "previews" / "preview.png").write_bytes(PNG + b"latest")
    (folder / "previews" / "loss_history.json").write_text(json.dumps({"iteration": [10], "src": [1.5], "dst": [2.5]}))
    (folder / "previews" / "notes.txt").write_text("not a preview")
    return folder


def test_every_task_has_a_form_and_the_forms_are_the_tasks_options(workspace: Path) -> None:
    client = asgi_client(workspace)
    tasks = {task["name"]: task for task in client.get("/api/tasks").json()}
    assert {"train", "extract", "sort", "render", "eval", "verify"} <= set(tasks)
    assert tasks["verify"]["writes"] is False and tasks["render"]["writes"] is True
    forms = client.get("/api/forms").json()
    assert {"extract", "sort", "render", "eval", "verify", "train", "merge"} <= set(forms)
    render = client.get("/api/forms/render").json()["properties"]
    classes = (MergeSettings, EncodeOptions, RenderJob)
    assert set(render) == {item.name for cls in classes for item in option_fields(cls)} | set(MERGE_COMPUTE)
    assert render["preset"]["enum"][0] == "ultrafast" and render["crf"]["maximum"] == 51
    sort = client.get("/api/forms/sort").json()["properties"]
    assert "blur" in sort["method"]["enum"] and sort["side"]["enum"] == ["src", "dst"]
    extract = client.get("/api/forms/extract").json()["properties"]
    assert list(extract)[:2] == ["side", "source"] and "detector" in extract
    for bad in ("/api/forms/..%2fforms", "/api/forms/%00", "/api/forms/render.json"):
        assert client.get(bad).status_code == 404


def test_the_train_form_shows_the_chosen_models_own_defaults(workspace: Path) -> None:
    """With ``cpu`` chosen the form shows what a cpu model trains with (adam, 2e-4), not the base settings."""
    from recast.models.registry import MODELS

    client = asgi_client(workspace)
    base = client.get("/api/forms/train").json()["properties"]
    assert base["optimizer"]["default"] == "adabelief" and base["lr"]["default"] == 5e-5
    for name, entry in MODELS.items():
        shown = client.get("/api/forms/train", params={"model": name}).json()["properties"]
        for key, value in entry.train_defaults.items():
            assert shown[key]["default"] == value, (name, key)
    cpu = client.get("/api/forms/train", params={"model": "cpu"}).json()["properties"]
    assert (cpu["optimizer"]["default"], cpu["lr"]["default"]) == ("adam", 2e-4)
    answer = client.get("/api/forms/train", params={"model": "nope"})
    assert answer.status_code == 422 and "unknown model 'nope'" in answer.json()["detail"]


@pytest.mark.parametrize(("run", "options", "message"), [
    (runs.run_render, {"nope": 1}, "unknown render option 'nope'; known: batch_size"),
    (runs.run_render, {"blur": -3}, "merge setting blur=-3 is outside 0…400"),
    (runs.run_render, {"crf": 99}, "crf=99 is outside 0…51"),
    (runs.run_render, {"preset": "warp"}, "preset='warp' is not one of ultrafast"),
    (runs.run_render, {"session": "../../etc/passwd"}, "session must name a file inside the workspace"),
    (runs.run_render, {"model": "../elsewhere"}, "model must be a plain name"),
    (runs.run_render, {"output": "../result.mp4"}, "output must name a file inside the workspace"),
    (runs.run_render, {"xseg": "../x"}, "xseg must be a plain name"),
    (runs.run_sort, {"method": "nope"}, "method='nope' is not one of blur"),
    (runs.run_sort, {"side": "both"}, "side='both' is not one of src, dst"),
    (runs.run_sort, {"by": "blur"}, "unknown sort option 'by'"),
    (runs.run_extract, {"size": 100}, "--size=100 is outside 256…2048"),
    (runs.run_extract, {"side": "dst", "reference": ["/etc/hostname"]}, "--reference must name a file inside"),
    (runs.run_extract, {"detector_kwargs": {"model_path": "/x"}}, "unknown extract option 'detector_kwargs'"),
    (runs.run_eval, {"every": 0}, "every=0 must be ≥ 1"),
    (runs.run_verify, {"frames": "all"}, "frames must be an integer"),
    (runs.run_verify, [1, 2], "verify options must be an object"),
    (runs.run_train, {"src": "/elsewhere"}, "unknown train option 'src'"),
    (runs.run_train, {"name": "../../x"}, "model must be a plain name"),
])
def test_task_options_are_checked_as_the_cli_checks_them(workspace: Path, run: Any, options: Any,
                                                         message: str) -> None:
    with pytest.raises(OptionError) as error:
        run(workspace, options, lambda event: None)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_bad_job_options_are_a_422_before_any_job_starts(tmp_path: Path) -> None:
    """Options are checked in the server: a bad form starts no job and never takes the workspace lock."""
    from recast.locking import workspace_lock

    root = make_workspace(tmp_path / "ws")
    with served(root) as (_, client), workspace_lock(root, "another writer"):
        for task, options, message in (
            ("sort", {"method": "blur", "nope": 1}, "unknown sort option 'nope'; known: "),
            ("render", {"batch_size": 0}, "--batch-size=0 is outside 1…256"),
            ("train", {"more": 5, "iterations": 10}, "give --iterations"),
            ("train", {"settings": {"lr": 2}}, "lr=2 is outside"),
            ("live", {"detect_every": 0}, "detect_every=0 is outside 1…1000"),
            ("live", {"settings": {"sharpen_mode": "box"}}, "unknown live option 'sharpen_mode'"),
        ):
            answer = client.post("/api/jobs", json={"task": task, "options": options})
            assert answer.status_code == 422, (task, options, answer.text)
            assert message in answer.json()["detail"], answer.json()["detail"]
        assert client.get("/api/jobs").json() == []


def test_training_state_previews_and_loss(workspace: Path) -> None:
    fake_model(workspace)
    client = asgi_client(workspace)
    info = client.get("/api/training/default").json()
    assert info["exists"] and info["model"] == "cpu" and info["iteration"] == 20
    assert info["settings"] == {"batch_size": 4} and info["columns"] == list(PREVIEW_COLUMNS)
    assert info["history"] == [10, 20] and isinstance(info["preview"], float) and info["job"] is None
    assert info["loss"]["iteration"][-1] == 20  # the checkpoint's history is longer than the preview's
    latest = client.get("/api/training/default/preview.png")
    assert latest.status_code == 200 and latest.content == PNG + b"latest"
    assert latest.headers["cache-control"] == "no-store"
    assert client.get("/api/training/default/history/10.png").content == PNG + bytes([10])
    assert client.get("/api/training/default/history/11.png").status_code == 404
    assert client.get("/api/training/default/history/abc.png").status_code == 422
    assert client.get("/api/training/default/history/-1.png").status_code == 404

    fresh = client.get("/api/training/other").json()
    assert not fresh["exists"] and fresh["preview"] is None and fresh["history"] == [] and fresh["loss"] is None
    assert client.get("/api/training/other/preview.png").status_code == 404


def test_training_endpoints_refuse_names_outside_the_workspace(workspace: Path, tmp_path: Path) -> None:
    fake_model(tmp_path, "outside")  # tmp_path/model/outside: a model beside the workspace, not in it
    (workspace / "model" / "link").symlink_to(tmp_path / "model" / "outside")
    client = asgi_client(workspace)
    for name in ("..%2f..%2fmodel%2foutside", "%2e%2e", "link", "%00"):
        for suffix in ("", "/preview.png", "/history/20.png"):
            assert client.get(f"/api/training/{name}{suffix}").status_code == 404, (name, suffix)


def test_damaged_model_state_is_a_409_not_a_crash(workspace: Path) -> None:
    folder = workspace / "model" / "broken"
    folder.mkdir(parents=True)
    (folder / "state.json").write_text('{"checkpoint": "../../etc", "iteration": 1}')
    response = asgi_client(workspace).get("/api/training/broken")
    assert response.status_code == 409 and "checkpoint" in response.json()["detail"]


def test_result_video_ranges_and_reports(workspace: Path) -> None:
    client = asgi_client(workspace)
    assert client.get("/api/result").json() == {"root": str(workspace.resolve()), "video": None, "mask": None,
                                                "sidecar": None, "verify": None, "eval": None}
    assert client.get("/api/result/video/result").status_code == 404
    assert client.get("/api/result/eval.png").status_code == 404

    video = bytes(range(256)) * 40
    (workspace / "result.mp4").write_bytes(video)
    (workspace / "result_mask.mp4").write_bytes(b"mask")
    whole = client.get("/api/result/video/result")
    assert whole.status_code == 200 and whole.content == video and whole.headers["accept-ranges"] == "bytes"
    part = client.get("/api/result/video/result", headers={"range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == video[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(video)}"
    assert client.get("/api/result/video/result", headers={"range": "bytes=99999-"}).status_code == 416
    assert client.get("/api/result/video/mask").content == b"mask"
    for bad in ("nope", "..%2fresult.mp4", "result.mp4", "%00"):
        assert client.get(f"/api/result/video/{bad}").status_code == 404

    (workspace / ".studio").mkdir()
    (workspace / ".studio" / "verify.json").write_text(json.dumps({"labelled": True, "verdict": "synthetic media"}))
    (workspace / "result_eval").mkdir()
    (workspace / "result_eval" / "eval.json").write_text(json.dumps({"summary": {"sharpness": 0.5}, "inputs": {}}))
    (workspace / "result_eval" / "eval.png").write_bytes(PNG)
    state = client.get("/api/result").json()
    assert state["video"]["bytes"] == len(video) and state["mask"]["name"] == "result_mask.mp4"
    assert state["verify"] == {"labelled": True, "verdict": "synthetic media", "stale": False}
    assert state["eval"]["summary"] == {"sharpness": 0.5} and state["eval"]["plot"] and not state["eval"]["stale"]
    assert client.get("/api/result/eval.png").content == PNG

    later = time.time() + 5
    os.utime(workspace / "result.mp4", (later, later))  # a new render after the checks: they are stale
    state = client.get("/api/result").json()
    assert state["verify"]["stale"] and state["eval"]["stale"]

    (workspace / ".studio" / "verify.json").write_text("{not json")
    assert client.get("/api/result").json()["verify"] is None


def test_result_endpoints_need_the_token(workspace: Path) -> None:
    client = asgi_client(workspace)
    (workspace / "result.mp4").write_bytes(b"video")
    for path in ("/api/result", "/api/result/video/result", "/api/training/default"):
        assert client.get(path, headers={"x-recast-token": "wrong"}).status_code in (401, 403)
