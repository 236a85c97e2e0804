"""Issue #14 case 9: write failures (disk full, read-only, a file where a folder should be) are one-line
errors naming the path, not tracebacks."""

from __future__ import annotations

import errno
from pathlib import Path

import cv2
import numpy as np
import pytest

from media_factory import face_clip_frames, write_av_clip
from recast.atomic import atomic_write_bytes, write_error
from recast.errors import InputError
from recast.extract.stage import extract
from recast.media.images import write_image
from recast.media.video import extract_frames
from recast.workspace import init_workspace


@pytest.mark.parametrize(("code", "words"), [
    (errno.ENOSPC, "the disk is full"), (errno.EROFS, "the file system is read-only"),
    (errno.EACCES, "permission denied"), (errno.ENOTDIR, "a file is in the way of a folder"),
])
def test_write_errors_read_as_one_line(code: int, words: str, tmp_path: Path) -> None:
    error = write_error(tmp_path / "x", OSError(code, "raw"))
    assert isinstance(error, InputError) and str(error) == f"{tmp_path / 'x'}: cannot write: {words}"


def test_a_file_where_a_folder_is_expected(tmp_path: Path) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("mine")
    with pytest.raises(InputError, match="a file is in the way"):
        atomic_write_bytes(blocker / "a.bin", b"x")
    with pytest.raises(InputError, match="a file is in the way"):
        write_image(blocker / "a.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(InputError, match="a file is in the way"):
        init_workspace(blocker / "ws")
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "00001.png"), np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(InputError, match="a file is in the way"):
        extract(frames, blocker / "aligned")
    assert blocker.read_text() == "mine"


def test_extract_frames_into_a_file_path(tmp_path: Path) -> None:
    video = write_av_clip(tmp_path / "a.mp4", face_clip_frames(2, 64), 25)
    (tmp_path / "blocker").write_text("mine")
    with pytest.raises(InputError, match="a file is in the way"):
        extract_frames(video, tmp_path / "blocker" / "frames")
