"""``recast model backups|rollback`` on real trained model folders: list the backups, roll back to one (the
replaced state kept as a backup itself), undo, and the one-line refusals."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import pytest

from conftest import TinyConfig
from recast.cli.main import main
from recast.locking import workspace_lock
from recast.models import checkpoint as ckpt
from recast.train import TrainOptions, train
from recast.workspace import init_workspace

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _train(facesets: tuple[Path, Path], config: dict, model_dir: Path, iterations: int) -> None:
    train(TrainOptions(facesets[0], facesets[1], model_dir, model="saehd", model_config=config,
                       settings={"batch_size": 2}, iterations=iterations, workers=0, preview_every=0,
                       threads=1, autosave_minutes=0))


def _cli(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """Run ``recast ARGS`` in this process: (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["recast", *args])
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as stopped:
        main()
    captured = capsys.readouterr()
    return int(stopped.value.code or 0), captured.out, captured.err


def _one_error_line(code: int, err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error:"), err
    assert all(word in lines[0] for word in words), lines[0]


@pytest.fixture
def model_dir(facesets: tuple[Path, Path], tmp_path: Path, tiny_config: TinyConfig) -> Path:
    """A model in a workspace, trained to iteration 2, backed up (``01``), then trained on to 4."""
    folder = init_workspace(tmp_path / "ws").model_dir("mine")
    _train(facesets, tiny_config(), folder, 2)
    ckpt.backup(folder, 3)
    _train(facesets, tiny_config(), folder, 4)
    return folder


def _weights(folder: Path) -> dict:
    loaded = ckpt.load_checkpoint(folder, with_optimizer=False)
    assert loaded is not None
    return loaded.weights


def _rows(out: str) -> list[list[str]]:
    """The listed backups: [name, iteration, when] each (``  NAME  iteration N  YYYY-MM-DD HH:MM:SS``)."""
    rows = [line.split() for line in out.splitlines() if line.startswith("  ")]
    return [[name, iteration.replace(",", ""), f"{day} {time}"] for name, _, iteration, day, time in rows]


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(bool((a[key] == b[key]).all()) for key in a)


def test_list_roll_back_and_undo(model_dir: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    original = _weights(model_dir)
    backed_up = _weights(model_dir / "backups" / "01")
    assert not _same(original, backed_up)  # training moved the weights: the rollback has something to show

    code, out, _ = _cli(["model", "backups", str(model_dir)], capsys, monkeypatch)
    assert code == 0
    written = datetime.fromtimestamp(ckpt.list_backups(model_dir)[0]["time"]).strftime("%Y-%m-%d %H:%M:%S")
    assert _rows(out) == [["01", "2", written]], out  # the time in local time

    code, out, _ = _cli(["model", "rollback", str(model_dir), "01"], capsys, monkeypatch)
    assert code == 0
    kept = [entry["name"] for entry in ckpt.list_backups(model_dir) if entry["name"].startswith("kept-")]
    assert len(kept) == 1 and kept[0].endswith("-4"), kept
    assert str(model_dir / "backups" / kept[0]) in out and f"recast model rollback {model_dir} {kept[0]}" in out
    assert ckpt.read_state(model_dir)["iteration"] == 2  # type: ignore[index]
    assert _same(_weights(model_dir), backed_up)

    code, out, _ = _cli(["model", "backups", str(model_dir)], capsys, monkeypatch)
    assert code == 0
    assert [row[:2] for row in _rows(out)] == [[kept[0], "4"], ["01", "2"]], out  # newest first

    code, out, _ = _cli(["model", "rollback", str(model_dir), kept[0]], capsys, monkeypatch)  # undo
    assert code == 0
    assert ckpt.read_state(model_dir)["iteration"] == 4  # type: ignore[index]
    assert _same(_weights(model_dir), original)


def test_refusals_are_one_line(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    state_before = (model_dir / "state.json").read_text()
    code, _, err = _cli(["model", "rollback", str(model_dir), "09"], capsys, monkeypatch)
    _one_error_line(code, err, str(model_dir / "backups" / "09"), "no such backup")
    code, _, err = _cli(["model", "rollback", str(model_dir), "../mine"], capsys, monkeypatch)
    _one_error_line(code, err, "no such backup")

    plain = tmp_path / "plain"
    plain.mkdir()
    for command in (["backups", str(plain)], ["rollback", str(plain), "01"]):
        code, _, err = _cli(["model", *command], capsys, monkeypatch)
        _one_error_line(code, err, str(plain), "is not a recast model folder")

    # A running trainer holds its workspace's lock (`recast train`, a studio train job): rollback waits for none.
    with workspace_lock(model_dir.parents[1], "recast train"):
        code, _, err = _cli(["model", "rollback", str(model_dir), "01"], capsys, monkeypatch)
    _one_error_line(code, err, "in use by recast train")
    assert (model_dir / "state.json").read_text() == state_before
    assert not any(entry["name"].startswith("kept-") for entry in ckpt.list_backups(model_dir))


def test_no_backups(facesets: tuple[Path, Path], tmp_path: Path, tiny_config: TinyConfig,
                    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "m"
    _train(facesets, tiny_config(), folder, 1)
    code, out, _ = _cli(["model", "backups", str(folder)], capsys, monkeypatch)
    assert code == 0 and out.strip() == "no backups"
