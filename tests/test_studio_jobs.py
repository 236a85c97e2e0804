"""Studio jobs: real training in a worker process, events streamed and replayed, cancel as Ctrl-C,
one writer per workspace, history that survives a restart."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conftest import TinyConfig
from recast.errors import OptionError
from recast.faces.facetype import FaceType
from recast.locking import WorkspaceBusy, lock_holder, workspace_lock
from recast.studio.tasks.jobs import JOBS_DIR, JobManager
from recast.train.synthetic import write_synthetic_faceset
from recast.workspace import init_workspace
from studio_support import served


def make_workspace(root: Path, faces: int = 8) -> Path:
    """A workspace with synthetic src and dst facesets."""
    ws = init_workspace(root)
    write_synthetic_faceset(ws.src_aligned, faces, identity=0, size=96, face_type=FaceType.WHOLE)
    write_synthetic_faceset(ws.dst_aligned, faces, identity=1, size=96, face_type=FaceType.WHOLE)
    return root


def train_options(config: dict, **kw: object) -> dict[str, object]:
    return {"model": "saehd", "model_config": config, "settings": {"batch_size": 2}, "workers": 0, "threads": 1,
            "preview_every": 0, "autosave_minutes": 0, **kw}


def wait_state(manager: JobManager, job_id: int, states: tuple[str, ...], timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = manager.get(job_id).state
        if state in states:
            return state
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {manager.get(job_id).state}")


def test_train_job_runs_streams_and_is_remembered(tmp_path: Path, tiny_config: TinyConfig) -> None:
    root = make_workspace(tmp_path / "ws")
    with served(root) as (_, client):
        options = train_options(tiny_config(), iterations=3)
        job = client.post("/api/jobs", json={"task": "train", "options": options}).json()
        assert job["state"] == "running"
        lines: list[str] = []
        with client.stream("GET", f"/api/jobs/{job['id']}/events") as stream:
            for line in stream.iter_lines():
                lines.append(line)
                if line == "event: end":
                    break
        events = [json.loads(line[6:]) for line in lines if line.startswith("data: {\"n\"")]
        assert [e["n"] for e in events] == list(range(len(events)))
        assert events[-1]["type"] == "done" and events[-1]["result"]["iteration"] == 3
        assert any(e["type"] == "progress" and e["kind"] == "iteration" for e in events)
        replay = client.get(f"/api/jobs/{job['id']}/events", headers={"last-event-id": str(len(events) - 2)}).text
        assert replay.count('data: {"n"') == 1 and '"type": "done"' in replay
        assert client.get("/api/state").json()["models"] == [{"name": "default", "model": "saehd", "iteration": 3}]
    again = JobManager(root)
    assert [(j.id, j.state, len(j.events)) for j in again.all()] == [(job["id"], "done", len(events))]


def test_cancel_stops_training_like_ctrl_c(tmp_path: Path, tiny_config: TinyConfig) -> None:
    root = make_workspace(tmp_path / "ws")
    manager = JobManager(root)
    job = manager.start("train", train_options(tiny_config()))
    deadline = time.monotonic() + 240
    while not any(e["type"] == "progress" and e.get("iteration", 0) >= 2 for e in job.events):
        assert time.monotonic() < deadline and job.state == "running", job.events[-3:]
        time.sleep(0.1)
    holder = lock_holder(root)
    assert holder is not None and holder["what"] == f"studio job {job.id}: train"
    with pytest.raises(WorkspaceBusy, match=f"in use by studio job {job.id}: train"), workspace_lock(root, "merge"):
        pass
    manager.cancel(job.id)
    assert wait_state(manager, job.id, ("done", "failed", "cancelled")) == "done"
    assert job.result is not None and job.result["status"] == "interrupted"
    state = json.loads((root / "model" / "default" / "state.json").read_text())
    assert state["iteration"] == job.result["iteration"] >= 2
    assert lock_holder(root) is None


def test_bad_options_are_refused_before_a_worker_starts(tmp_path: Path, tiny_config: TinyConfig) -> None:
    """The stage's own message, raised in the server: no job is recorded and no lock is taken."""
    root = make_workspace(tmp_path / "ws", faces=2)
    manager = JobManager(root)
    with workspace_lock(root, "another writer"):
        with pytest.raises(OptionError, match="batch_size=-3 is outside 1…4096"):
            manager.start("train", train_options(tiny_config(), settings={"batch_size": -3}, iterations=1))
        with pytest.raises(OptionError, match="unknown train option 'no_such_option'"):
            manager.start("train", {"no_such_option": 1})
        with pytest.raises(OptionError, match="--device: not a device: 'gpu'"):
            manager.start("train", {"device": "gpu"})
    assert manager.all() == [] and not (root / JOBS_DIR).exists()


def test_lock_is_released_when_its_process_dies(tmp_path: Path) -> None:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    process = context.Process(target=_hold_lock_forever, args=(str(tmp_path),))
    process.start()
    deadline = time.monotonic() + 60
    while lock_holder(tmp_path) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.kill()
    process.join()
    assert lock_holder(tmp_path) is None
    with workspace_lock(tmp_path, "after"):
        assert lock_holder(tmp_path) == {**(lock_holder(tmp_path) or {}), "what": "after"}


def _hold_lock_forever(root: str) -> None:
    with workspace_lock(Path(root), "sleeper"):
        time.sleep(600)
