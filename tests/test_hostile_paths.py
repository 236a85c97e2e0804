"""Issue #14 case 2: no command writes over one of its inputs, with or without ``--force``."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from media_factory import face_clip_frames, tone, write_av_clip
from recast.cli.main import app
from recast.errors import InputError, RecastError
from recast.extract.stage import extract
from recast.paths import check_outputs_not_inputs


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clash")
    return write_av_clip(root / "a.mp4", face_clip_frames(6, 96), 25, tone(6 / 25))


def _invoke_error(args: list[str]) -> BaseException | None:
    """The exception the command ends with (``recast.cli.main.main`` prints a RecastError in one line)."""
    return CliRunner().invoke(app, args).exception


def test_helper_catches_spellings_symlinks_and_hard_links(tmp_path: Path) -> None:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"video")
    (tmp_path / "link.mp4").symlink_to(video)
    os.link(video, tmp_path / "hard.mp4")
    for output in (video, tmp_path / "x" / ".." / "a.mp4", tmp_path / "link.mp4", tmp_path / "hard.mp4"):
        with pytest.raises(InputError, match="is also an input"):
            check_outputs_not_inputs([output], [None, video])
    check_outputs_not_inputs([tmp_path / "b.mp4", None], [video])


@pytest.mark.parametrize("argv", [
    ["cut", "{a}", "--start", "0", "--end", "0.1", "-o", "{a}", "--force"],
    ["video", "{frames}", "--audio-from", "{a}", "-o", "{a}", "--force"],
    ["video", "{frames}", "--audio-from", "{a_mask}", "--mask", "{frames}", "-o", "{a}", "--force"],
    ["run", "--src", "{b}", "--dst", "{a}", "-o", "{a}", "--force"],
    ["run", "--src", "{b}", "--dst", "{a}", "-o", "{out}", "--workspace", "{a}", "--force"],
])
def test_cli_force_never_replaces_an_input(argv: list[str], clip: Path, tmp_path: Path) -> None:
    a, b, a_mask = tmp_path / "a.mp4", tmp_path / "b.mp4", tmp_path / "a_mask.mp4"
    for path in (a, b, a_mask):
        path.write_bytes(clip.read_bytes())
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "00001.png"), np.zeros((64, 64, 3), np.uint8))
    before = {p: _sha(p) for p in (a, b, a_mask)}
    args = [s.format(a=a, b=b, a_mask=a_mask, frames=frames, out=tmp_path / "out.mp4") for s in argv]
    error = _invoke_error(args)
    assert isinstance(error, RecastError) and "is also an input" in str(error), error
    assert {p: _sha(p) for p in (a, b, a_mask)} == before


def test_extract_into_its_own_frame_folder_is_refused(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "00001.png"), face_clip_frames(1, 96)[0])
    with pytest.raises(InputError, match="is also an input"):
        extract(frames, frames)
    with pytest.raises(InputError, match="is also an input"):
        extract(frames, tmp_path / "frames" / ".")
    assert sorted(p.name for p in frames.iterdir()) == ["00001.png"]
