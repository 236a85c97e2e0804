"""Model folders: config, crash-safe checkpoints, backups. Weights are safetensors, the rest JSON.

Layout::

    model_dir/
      config.json                 registry name + full model config (written once, at creation)
      state.json                  commit record: iteration, settings, and which checkpoint is current
      checkpoints/<iteration>/    weights.safetensors, optimizer.safetensors, history.json
      backups/<NN>/               rotating copies of whole checkpoints (+ state.json)
      previews/                   preview grid, loss curve, loss_history.json, history/

A save writes a new ``checkpoints/.tmp-*`` folder (every file fsynced), renames it into place, and
only then atomically replaces ``state.json``. The previous checkpoint is kept, so a ``kill -9`` at any
moment leaves ``state.json`` pointing at a complete checkpoint.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from recast.atomic import atomic_path, atomic_write_text, fsync_dir
from recast.errors import InputError

FORMAT = "recast.model"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
STATE_FILE = "state.json"
WEIGHTS_FILE = "weights.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
HISTORY_FILE = "history.json"
CHECKPOINTS = "checkpoints"
BACKUPS = "backups"


@dataclass
class Checkpoint:
    """A loaded checkpoint: state.json contents, weights, optimiser tensors and loss history."""

    state: dict[str, Any]
    weights: dict[str, torch.Tensor]
    optimizer: dict[str, torch.Tensor]
    history: dict[str, list[float]]
    path: Path


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(path, f"cannot read JSON: {error}") from None
    if not isinstance(data, dict):
        raise InputError(path, "is not a JSON object")
    return data


def write_model_config(model_dir: Path, name: str, config: dict[str, Any]) -> None:
    """Write config.json (registry name and full model config)."""
    data = {"format": FORMAT, "version": FORMAT_VERSION, "model": name, "config": config}
    atomic_write_text(Path(model_dir) / CONFIG_FILE, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_model_config(model_dir: Path) -> tuple[str, dict[str, Any]]:
    """(registry name, config dict) from config.json; raises InputError if absent or malformed."""
    path = Path(model_dir) / CONFIG_FILE
    if not path.is_file():
        raise InputError(model_dir, f"is not a recast model folder (no {CONFIG_FILE})")
    data = _read_json(path)
    if data.get("format") != FORMAT or not isinstance(data.get("config"), dict):
        raise InputError(path, f"is not a {FORMAT} config")
    if int(data.get("version", 0)) > FORMAT_VERSION:
        raise InputError(path, f"version {data.get('version')} is newer than this recast reads")
    return str(data["model"]), dict(data["config"])


def load_weights_file(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a safetensors file. Anything else (e.g. a pickle) is refused without running it."""
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise InputError(path, f"not a valid safetensors weights file ({error}); recast never unpickles "
                               "weights") from None


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    with atomic_path(path) as tmp:
        save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)


def save_checkpoint(model_dir: Path, iteration: int, weights: dict[str, torch.Tensor],
                    optimizer: dict[str, torch.Tensor], state: dict[str, Any], history: dict[str, list[float]],
                    keep: int = 2) -> Path:
    """Write a checkpoint and commit it in state.json; keeps the ``keep`` newest checkpoints."""
    root = Path(model_dir) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    name = f"{iteration:09d}"
    tmp = root / f".tmp-{name}"
    tmp.mkdir()
    meta = {"format": FORMAT, "iteration": str(iteration)}
    _save_tensors(tmp / WEIGHTS_FILE, weights, meta)
    _save_tensors(tmp / OPTIMIZER_FILE, optimizer, meta)
    with atomic_path(tmp / HISTORY_FILE) as hist:
        hist.write_text(json.dumps(history), encoding="utf-8")
    final = root / name
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    fsync_dir(root)
    record = {**state, "format": FORMAT, "version": FORMAT_VERSION, "iteration": iteration,
              "checkpoint": f"{CHECKPOINTS}/{name}"}
    atomic_write_text(Path(model_dir) / STATE_FILE, json.dumps(record, indent=2, sort_keys=True) + "\n")
    done = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in done[:-keep]:
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def read_state(model_dir: Path) -> dict[str, Any] | None:
    """state.json contents, or None for a model that was never saved."""
    path = Path(model_dir) / STATE_FILE
    return _read_json(path) if path.is_file() else None


def load_checkpoint(model_dir: Path, with_optimizer: bool = True) -> Checkpoint | None:
    """The committed checkpoint, or None if the model has none yet."""
    state = read_state(model_dir)
    if state is None:
        return None
    path = Path(model_dir) / str(state.get("checkpoint", ""))
    if not (path / WEIGHTS_FILE).is_file():
        raise InputError(path, "checkpoint named in state.json is missing")
    weights = load_weights_file(path / WEIGHTS_FILE)
    optimizer = load_weights_file(path / OPTIMIZER_FILE) if with_optimizer else {}
    history_path = path / HISTORY_FILE
    history = _read_json(history_path) if history_path.is_file() else {}
    return Checkpoint(state, weights, optimizer, history, path)


def backup(model_dir: Path, count: int) -> Path | None:
    """Copy the current checkpoint and state into backups/01 (older ones shift up; ``count`` kept)."""
    model_dir = Path(model_dir)
    state = read_state(model_dir)
    if state is None or count <= 0:
        return None
    root = model_dir / BACKUPS
    root.mkdir(exist_ok=True)
    tmp = root / ".tmp-backup"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(model_dir / state["checkpoint"], tmp / state["checkpoint"])
    shutil.copy2(model_dir / CONFIG_FILE, tmp / CONFIG_FILE)
    (tmp / STATE_FILE).write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    oldest = root / f"{count:02d}"
    if oldest.exists():
        shutil.rmtree(oldest)
    for index in range(count - 1, 0, -1):
        src = root / f"{index:02d}"
        if src.exists():
            src.rename(root / f"{index + 1:02d}")
    tmp.rename(root / "01")
    fsync_dir(root)
    return root / "01"
