"""Issue #28 case 8: disk full in ``train`` (checkpoint save) and ``merge -o x.mp4`` gave
``SafetensorError`` / ``Errno 28`` tracebacks. Both are now one line naming the path, and the last
committed checkpoint stays loadable.

A real full disk: a small tmpfs (needs the right to mount; skipped elsewhere), filled up.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from recast.errors import InputError
from recast.merge.stage import merge_to_video
from recast.models.checkpoint import load_checkpoint, read_state, save_checkpoint
from test_merge_models import FunctionModel, invert
from test_merge_stage import workspace  # noqa: F401 (fixture)


@pytest.fixture()
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs at ``tmp_path/disk`` (unmounted afterwards)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True,
                             check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs CAP_SYS_ADMIN)")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` until about ``leave`` bytes are free."""
    import shutil

    free = shutil.disk_usage(disk).free
    (disk / "filler").write_bytes(b"\0" * max(0, free - leave))


def test_a_checkpoint_save_on_a_full_disk_is_one_line_and_keeps_the_last(full_disk: Path) -> None:
    model = full_disk / "model"
    small = {"w": torch.zeros(16)}
    save_checkpoint(model, 1, small, {}, {"settings": {}}, {"loss": [1.0]})
    _fill(full_disk, 64 << 10)
    with pytest.raises(InputError, match="cannot write: the disk is full") as error:
        save_checkpoint(model, 2, {"w": torch.zeros(1 << 18)}, {}, {"settings": {}}, {"loss": [1.0, 0.5]})
    assert "\n" not in str(error.value) and str(model) in str(error.value)
    state = read_state(model)
    assert state is not None and state["iteration"] == 1
    assert torch.equal(load_checkpoint(model).weights["w"], small["w"])


@pytest.mark.parametrize("free", [8 << 10, 48 << 10])
def test_merge_to_a_video_on_a_full_disk_is_one_line(workspace: Path, full_disk: Path,  # noqa: F811
                                                      free: int) -> None:
    _fill(full_disk, free)
    output = full_disk / "result.mp4"
    with pytest.raises(InputError, match="disk is full") as error:
        merge_to_video(FunctionModel(invert), workspace / "frames", workspace / "aligned", output)
    assert "\n" not in str(error.value) and str(full_disk) in str(error.value)
    assert not [p.name for p in full_disk.iterdir() if p.name.startswith(".")]  # no temporary file left
    assert not output.exists() and not (full_disk / "result_mask.mp4").exists()  # no unlabelled result
