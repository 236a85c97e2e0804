"""Issue #28 cases 5 and 6 and the notes on killed merges and refused commands.

Case 5: ``--export-rgba --export-dir`` pointed at the aligned or frames folder wrote 9 files there.
Case 6: merge went ahead silently on a packed dst faceset (``0 merged``, the untouched video as the
"result") and, after a kill -9 during sort, on a faceset whose faces sat in hidden ``.part`` files.
Notes: a killed merge-to-video left hidden ``.tmp.mp4`` files no run cleaned; a refused
``extract fr fr`` still wrote its log into ``fr/``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from recast.errors import InputError
from recast.faceset.files import list_faces
from recast.faceset.journal import Journal
from recast.faceset.pack import pack_faceset
from recast.merge.settings import MergeSettings
from recast.merge.stage import merge, merge_to_video
from test_merge_models import FunctionModel, invert
from test_merge_stage import workspace  # noqa: F401 (fixture)
from test_user_errors import assert_one_line_error, run_cli


def _tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.mark.parametrize("into", ["aligned", "frames"])
def test_export_dir_inside_an_input_is_refused_before_writing(workspace: Path, into: str) -> None:  # noqa: F811
    before = {name: _tree(workspace / name) for name in ("aligned", "frames")}
    with pytest.raises(InputError, match="is also an input"):
        merge(FunctionModel(invert), workspace / "frames", workspace / "aligned", workspace / "merged",
              MergeSettings(), export_dir=workspace / into)
    assert {name: _tree(workspace / name) for name in ("aligned", "frames")} == before
    assert not (workspace / "merged").exists()
    with pytest.raises(InputError, match="is also an input"):
        merge(FunctionModel(invert), workspace / "frames", workspace / "aligned", workspace / "merged",
              MergeSettings(), export_dir=workspace / "merged")


def test_a_packed_dst_faceset_is_refused(workspace: Path) -> None:  # noqa: F811
    pack_faceset(workspace / "aligned")
    with pytest.raises(InputError, match=r"packed faceset .* `recast faceset unpack "):
        merge_to_video(FunctionModel(invert), workspace / "frames", workspace / "aligned", workspace / "result.mp4")
    assert not (workspace / "result.mp4").exists()


def test_a_sort_killed_mid_rename_is_finished_before_merging(workspace: Path) -> None:  # noqa: F811
    """The journal's phase 1 after three of six renames: three faces are hidden ``.part`` files."""
    aligned = workspace / "aligned"
    names = sorted(p.name for p in aligned.iterdir() if p.suffix == ".jpg")
    journal = Journal(aligned)
    journal.files = [{"orig": name, "at": name} for name in names]
    journal.pending = {"phase": 1, "moves": [
        {"file": i, "from": name, "tmp": f".recast-sort-{i + 1:06d}.part", "to": f"{i:05d}_sorted.jpg"}
        for i, name in enumerate(names)]}
    journal.save()
    for i, name in enumerate(names[:3]):
        (aligned / name).rename(aligned / f".recast-sort-{i + 1:06d}.part")
    summary = merge(FunctionModel(invert), workspace / "frames", aligned, workspace / "merged", MergeSettings())
    assert summary.faces_merged == len(names) == 6
    assert not list(aligned.glob("*.part")) and len(list_faces(aligned)) == 6


def test_stale_temp_videos_of_a_killed_merge_are_removed(workspace: Path) -> None:  # noqa: F811
    stale = [workspace / ".result.k1ll3d00.tmp.mp4", workspace / ".result_mask.k1ll3d00.tmp.mp4"]
    other = workspace / ".other.k1ll3d00.tmp.mp4"
    for path in (*stale, other):
        path.write_bytes(b"\0" * 1000)
    merge_to_video(FunctionModel(invert), workspace / "frames", workspace / "aligned", workspace / "result.mp4")
    assert (workspace / "result.mp4").is_file()
    assert not any(path.exists() for path in stale) and other.exists()


def test_a_refused_extract_writes_no_log(workspace: Path) -> None:  # noqa: F811
    frames = workspace / "frames"
    before = _tree(frames)
    assert_one_line_error(run_cli("extract", str(frames), str(frames)), "is also an input")
    assert _tree(frames) == before  # not even recast-extract.log
