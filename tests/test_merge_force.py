"""``recast merge --force`` to a video keeps the result it replaces, as the studio's forced render does
(one helper, :func:`recast.paths.move_aside`), and puts it back when the forced merge fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from media_factory import tone, write_av_clip
from recast.paths import BACKUP_DIR
from test_merge_stage import _frames, _tiny_model, _write_aligned


def _run(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> int:
    from recast.cli.main import main

    monkeypatch.setattr("sys.argv", ["recast", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return int(exit_info.value.code or 0)


def test_cli_force_moves_the_old_result_aside_and_back_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    frames = _frames()
    video = write_av_clip(tmp_path / "dst.mp4", frames, 25, tone(len(frames) / 25, burst_at=0.05))
    (tmp_path / "aligned").mkdir()
    _write_aligned(tmp_path / "aligned", frames)
    model = _tiny_model(tmp_path / "model")
    output = tmp_path / "out" / "result.mkv"
    output.parent.mkdir()
    args = ["merge", "-m", str(model), "-f", str(video), "-a", str(tmp_path / "aligned"), "-o", str(output)]
    assert _run(monkeypatch, args) == 0
    first = output.read_bytes()

    assert _run(monkeypatch, [*args[:2], str(tmp_path / "missing"), *args[3:], "--force"]) == 1
    assert output.read_bytes() == first  # a failed forced merge puts the old result back
    assert not any((output.parent / BACKUP_DIR).rglob("*.mkv"))

    capsys.readouterr()
    assert _run(monkeypatch, [*args, "--force", "--erode", "30"]) == 0
    assert "previous result is kept in" in " ".join(capsys.readouterr().err.split())
    kept = list((output.parent / BACKUP_DIR).glob("*/result.mkv"))
    assert len(kept) == 1 and kept[0].read_bytes() == first
    assert (kept[0].parent / "result_mask.mkv").is_file()
    assert output.is_file() and output.read_bytes() != first


def test_cli_run_force_keeps_the_old_result_when_the_run_fails(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from recast.provenance.writer import result_files

    output = tmp_path / "result.mp4"
    for path, data in zip(result_files(output), (b"old video", b"old mask", b"{}"), strict=True):
        path.write_bytes(data)
    blank = write_av_clip(tmp_path / "blank.mp4", [np.full((64, 64, 3), 90, np.uint8)] * 3, 25)  # no face in it
    args = ["run", "--src", str(blank), "--dst", str(blank), "-o", str(output), "--model", "cpu", "--iterations", "1",
            "--force"]  # passes the checks, fails at extraction: after the old result was moved aside
    assert _run(monkeypatch, args) == 1
    assert [path.read_bytes() for path in result_files(output)] == [b"old video", b"old mask", b"{}"]
    assert (tmp_path / BACKUP_DIR).is_dir()  # they were moved aside, and back
    assert not any(path.is_file() for path in (tmp_path / BACKUP_DIR).rglob("*"))
