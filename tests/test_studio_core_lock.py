"""One writer per workspace, the command line included: while a studio job writes into a workspace,
every CLI command that would write there stops at once with a one-line message naming the job."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from conftest import TinyConfig
from recast.cli.main import main
from recast.locking import find_workspace, lock_holder, lock_workspace_of, workspace_lock
from recast.studio.tasks.jobs import JobManager
from recast.workspace import init_workspace
from test_studio_jobs import make_workspace, train_options


def test_find_workspace_walks_up_to_the_workspace(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    assert find_workspace(ws.root) == ws.root.absolute()
    assert find_workspace(ws.src_aligned) == ws.root.absolute()
    assert find_workspace(ws.root / "model" / "new" / "not-yet") == ws.root.absolute()  # need not exist
    assert find_workspace(tmp_path / "elsewhere") is None
    marked = tmp_path / "custom"
    marked.mkdir()
    (marked / ".recast.lock").write_text("")
    assert find_workspace(marked / "out") == marked.absolute()
    with lock_workspace_of(tmp_path / "elsewhere", "recast x") as root:
        assert root is None
    with lock_workspace_of(ws.dst_aligned, "recast extract") as root:
        assert root == ws.root.absolute() and lock_holder(ws.root)["what"] == "recast extract"  # type: ignore[index]
    assert lock_holder(ws.root) is None


def cli(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """Run ``recast ARGS`` in this process: (exit status, stderr)."""
    monkeypatch.setattr(sys, "argv", ["recast", *args])
    with pytest.raises(SystemExit) as stopped:
        main()
    return int(stopped.value.code or 0), capsys.readouterr().err


def test_cli_commands_refuse_a_workspace_a_studio_job_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             tiny_config: TinyConfig) -> None:
    root = make_workspace(tmp_path / "ws")
    ws = init_workspace(root)
    manager = JobManager(root)
    job = manager.start("train", train_options(tiny_config()))  # no limit: trains until cancelled
    try:
        deadline = time.monotonic() + 240
        while lock_holder(root) is None:
            assert time.monotonic() < deadline and job.state == "running", job.events[-3:]
            time.sleep(0.1)
        commands = [
            ["train", "--src", str(ws.src_aligned), "--dst", str(ws.dst_aligned),
             "--model-dir", str(ws.model_dir("b"))],
            ["merge", "-m", str(ws.model_dir()), "-f", str(ws.dst_frames), "-a", str(ws.dst_aligned),
             "-o", str(ws.merged)],
            ["extract", str(ws.dst_frames), str(ws.dst_aligned)],
            ["sort", str(ws.src_aligned), "--by", "blur"],
            ["faceset", "dedupe", str(ws.src_aligned)],
            ["faceset", "metadata", "export", str(ws.src_aligned)],
            ["video", str(ws.merged), "-o", str(ws.result)],
            ["run", "--src", str(tmp_path / "a.mp4"), "--dst", str(tmp_path / "b.mp4"), "-o", str(tmp_path / "r.mp4"),
             "--workspace", str(root)],
            ["workspace", "clear", str(root), "--yes"],
        ]
        for args in commands:
            code, err = cli(args, capsys, monkeypatch)
            assert code == 1, args
            lines = err.strip().splitlines()
            assert len(lines) == 1 and f"in use by studio job {job.id}: train" in lines[0], (args, err)
        assert not (root / "model" / "b").exists() and not ws.merged.exists()  # nothing was written
    finally:
        manager.cancel(job.id)
        deadline = time.monotonic() + 120
        while manager.get(job.id).state == "running" and time.monotonic() < deadline:
            time.sleep(0.1)
    assert lock_holder(root) is None
    with workspace_lock(root, "recast sort"):  # free again
        pass
