"""Issue #14 case 5: extract workers die with their parent; stale temp files are cleaned at start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2

from media_factory import face_clip_frames
from recast.atomic import remove_stale_temp_files

SRC = Path(__file__).resolve().parents[1] / "src"


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_extract_workers_exit_when_the_parent_is_killed(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for index, frame in enumerate(face_clip_frames(4, 320) * 40, start=1):
        cv2.imwrite(str(frames / f"{index:05d}.png"), frame)
    script = ("from recast.extract.stage import ExtractOptions, extract\nimport sys\n"
              "if __name__ == '__main__':\n"
              "    extract(sys.argv[1], sys.argv[2], ExtractOptions(workers=2, size=256))\n")
    parent = subprocess.Popen([sys.executable, "-c", script, str(frames), str(tmp_path / "aligned")],
                              env={**os.environ, "PYTHONPATH": str(SRC)})
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            workers = [p for p in _children(parent.pid)
                       if "spawn" in (Path("/proc") / str(p) / "cmdline").read_bytes().decode(errors="replace")]
        assert len(workers) >= 2, "workers did not start"
        time.sleep(2)  # let them load their detectors
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(p) for p in workers)
    finally:
        parent.kill()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_stale_atomic_temp_files_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / ".00001_0.ab12cd_9.tmp.jpg"
    stale.write_bytes(b"half a face")
    keep = [tmp_path / ".notes.tmp", tmp_path / "00001_0.jpg"]
    for path in keep:
        path.write_bytes(b"user")
    assert remove_stale_temp_files(tmp_path) == [stale]
    assert all(p.exists() for p in keep)
