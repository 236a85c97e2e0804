"""DeepFaceLab's habits in the studio: named models listed with their iterations, "refresh preview now"
answered by a real running train job, and rolling a real model back to a backup (the replaced state
kept as a backup itself)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conftest import TinyConfig
from recast.models import checkpoint as ckpt
from recast.train.options import TrainOptions
from recast.train.trainer import train
from recast.workspace import Workspace
from studio_support import asgi_client, served
from test_studio_jobs import make_workspace, train_options


def _train(ws: Workspace, name: str, config: dict, iterations: int) -> None:
    train(TrainOptions(ws.src_aligned, ws.dst_aligned, ws.model_dir(name), model="saehd", model_config=config,
                       settings={"batch_size": 2}, iterations=iterations, workers=0, threads=1, preview_every=0,
                       autosave_minutes=0))


def test_named_models_are_listed_with_their_iterations(tmp_path: Path, tiny_config: TinyConfig) -> None:
    ws = Workspace(make_workspace(tmp_path / "ws"))
    _train(ws, "alpha", tiny_config(), 1)
    _train(ws, "beta", tiny_config(), 2)
    with asgi_client(ws.root) as client:
        listed = client.get("/api/training").json()
        assert [(m["name"], m["model"], m["iteration"], m["training"]) for m in listed] == [
            ("alpha", "saehd", 1, False), ("beta", "saehd", 2, False)]
        assert client.get("/api/training/beta").json()["iteration"] == 2
        assert client.get("/api/training/gamma").json()["exists"] is False


def test_rollback_restores_an_older_backup_and_keeps_the_current_one(tmp_path: Path,
                                                                   tiny_config: TinyConfig) -> None:
    ws = Workspace(make_workspace(tmp_path / "ws"))
    folder = ws.model_dir("mine")
    for iterations in (2, 4):
        _train(ws, "mine", tiny_config(), iterations)
        ckpt.backup(folder, 3)
    _train(ws, "mine", tiny_config(), 6)
    current = ckpt.load_checkpoint(folder)
    assert current is not None
    with asgi_client(ws.root) as client:
        listed = client.get("/api/training/mine/backups").json()
        assert [(b["name"], b["iteration"]) for b in listed] == [("01", 4), ("02", 2)]
        assert client.post("/api/training/mine/rollback", json={"backup": "09"}).status_code == 404
        assert client.post("/api/training/mine/rollback", json={"backup": "../mine"}).status_code == 404
        answer = client.post("/api/training/mine/rollback", json={"backup": "02"})
        assert answer.status_code == 200, answer.text
        kept = answer.json()["kept"]
        assert answer.json()["iteration"] == 2 and kept.startswith("kept-") and kept.endswith("-6")
        assert client.get("/api/training/mine").json()["iteration"] == 2
        names = [(b["name"], b["iteration"]) for b in client.get("/api/training/mine/backups").json()]
        assert sorted(names) == sorted([("01", 4), ("02", 2), (kept, 6)])
    restored = ckpt.load_checkpoint(folder)
    assert restored is not None and restored.state["iteration"] == 2
    assert restored.history["iteration"] == [1, 2]
    assert [p.name for p in (folder / "checkpoints").iterdir()] == ["000000002"]
    aside = ckpt.load_checkpoint(folder / "backups" / kept)  # nothing lost: the replaced state is whole
    assert aside is not None and aside.state["iteration"] == 6
    for key, tensor in current.weights.items():
        assert bool((aside.weights[key] == tensor).all()), key
    _train(ws, "mine", tiny_config(), 3)  # training resumes from the restored state
    assert ckpt.read_state(folder)["iteration"] == 3  # type: ignore[index]


def test_rollback_is_refused_while_the_model_trains(tmp_path: Path, tiny_config: TinyConfig) -> None:
    root = make_workspace(tmp_path / "ws")
    with served(root) as (_, client):
        job = client.post("/api/jobs", json={"task": "train", "options": train_options(
            tiny_config(), name="busy", iterations=100_000)}).json()
        try:
            answer = client.post("/api/training/busy/rollback", json={"backup": "01"})
            assert answer.status_code == 409 and "training" in answer.json()["detail"]
        finally:
            client.post(f"/api/jobs/{job['id']}/cancel")


def _events(client: object, job_id: int, until: str, timeout: float = 240) -> list[dict]:
    """The job's events until one of kind ``until`` (or the job's end)."""
    found: list[dict] = []
    deadline = time.monotonic() + timeout
    with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:  # type: ignore[attr-defined]
        for line in stream.iter_lines():
            if line.startswith('data: {"n"'):
                event = json.loads(line[6:])
                found.append(event)
                if event.get("kind") == until or event["type"] in ("done", "failed", "cancelled"):
                    break
            if time.monotonic() > deadline:
                break
    return found


@pytest.mark.slow
def test_refresh_preview_is_answered_by_the_running_trainer(tmp_path: Path, tiny_config: TinyConfig) -> None:
    root = make_workspace(tmp_path / "ws")
    folder = Workspace(root).model_dir("fresh")
    with served(root) as (_, client):
        assert client.post("/api/training/fresh/refresh-preview").status_code == 409  # nothing trains it
        job = client.post("/api/jobs", json={"task": "train", "options": train_options(
            tiny_config(), name="fresh", iterations=100_000)}).json()  # preview_every 0: no preview unless asked
        try:
            first = _events(client, job["id"], "iteration")
            assert first[-1].get("kind") == "iteration"
            assert not (folder / "previews" / "preview.png").exists()
            answer = client.post("/api/training/fresh/refresh-preview")
            assert answer.status_code == 200 and answer.json()["job"] == job["id"]
            events = _events(client, job["id"], "preview")
            assert events[-1].get("kind") == "preview", events[-3:]
            assert (folder / "previews" / "preview.png").is_file()
            assert not (folder / ckpt.PREVIEW_REQUEST).exists()
            assert client.get("/api/training/fresh").json()["preview"] is not None
        finally:
            client.post(f"/api/jobs/{job['id']}/cancel")
