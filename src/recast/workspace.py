"""The workspace folder convention (DeepFaceLab's ``workspace/``), every path overridable.

::

    workspace/
      data_src.mp4  data_dst.mp4
      data_src/  data_src/aligned/  data_src/aligned_debug/
      data_dst/  data_dst/aligned/  data_dst/aligned_debug/
      model/<name>/
      data_dst/merged/  data_dst/merged_mask/
      result.mp4  result_mask.mp4  result.provenance.json
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from recast.atomic import make_folder
from recast.errors import InputError

_SOURCE_PREFIXES = ("data_src.", "data_dst.")


@dataclass(frozen=True)
class Workspace:
    """Paths inside one workspace folder."""

    root: Path

    @property
    def src_video(self) -> Path:
        return self.root / "data_src.mp4"

    @property
    def dst_video(self) -> Path:
        return self.root / "data_dst.mp4"

    @property
    def src_frames(self) -> Path:
        return self.root / "data_src"

    @property
    def dst_frames(self) -> Path:
        return self.root / "data_dst"

    @property
    def src_aligned(self) -> Path:
        return self.src_frames / "aligned"

    @property
    def dst_aligned(self) -> Path:
        return self.dst_frames / "aligned"

    @property
    def models(self) -> Path:
        return self.root / "model"

    def model_dir(self, name: str = "default") -> Path:
        return self.models / name

    @property
    def merged(self) -> Path:
        return self.dst_frames / "merged"

    @property
    def merged_mask(self) -> Path:
        return self.dst_frames / "merged_mask"

    @property
    def result(self) -> Path:
        return self.root / "result.mp4"

    @property
    def result_mask(self) -> Path:
        return self.root / "result_mask.mp4"

    def folders(self) -> list[Path]:
        """The folders :func:`init_workspace` creates."""
        return [self.src_frames, self.src_aligned, self.dst_frames, self.dst_aligned, self.models]


def init_workspace(root: str | Path) -> Workspace:
    """Create the workspace folders (existing content is left alone)."""
    workspace = Workspace(Path(root))
    if workspace.root.exists() and not workspace.root.is_dir():
        raise InputError(workspace.root, "exists and is not a folder")
    for folder in workspace.folders():
        make_folder(folder)
    return workspace


def clear_plan(root: str | Path) -> list[Path]:
    """What :func:`clear_workspace` would remove: everything but ``data_src.*`` / ``data_dst.*``."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "not a folder")
    return sorted(p for p in root.iterdir() if not p.name.startswith(_SOURCE_PREFIXES))


def clear_workspace(root: str | Path) -> list[Path]:
    """Remove everything in the workspace except the source videos, then re-create the folders.

    Returns the removed paths. The caller (the CLI) asks the user first.
    """
    removed = clear_plan(root)
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    init_workspace(root)
    return removed
