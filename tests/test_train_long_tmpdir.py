"""Training with data-loading workers under a long ``TMPDIR``: the workers hand tensors over through an
AF_UNIX socket made in the temporary folder, whose path is limited to 107 bytes; without a short folder of
their own the first batch never arrived and ``recast train`` hung (found by CI's long temporary path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from recast.models.checkpoint import read_state


def test_training_with_a_worker_under_a_long_tmpdir_finishes(facesets: tuple[Path, Path], tmp_path: Path) -> None:
    long_tmp = tmp_path / ("a-temporary-folder-with-a-deliberately-long-name-" * 2)
    long_tmp.mkdir()
    src, dst = facesets
    command = [str(Path(sys.executable).with_name("recast")), "train", "--src", str(src), "--dst", str(dst),
               "--model-dir", str(tmp_path / "model"), "--model", "cpu", "--iterations", "2",
               "--preview-every", "0", "--workers", "1", "--threads", "1"]
    result = subprocess.run(command, env={**os.environ, "TMPDIR": str(long_tmp)}, capture_output=True, text=True,
                            timeout=300, check=False)  # the timeout only ends a hang: the bug this guards against
    assert result.returncode == 0, result.stderr[-2000:]
    state = read_state(tmp_path / "model")
    assert state is not None and state["iteration"] == 2
