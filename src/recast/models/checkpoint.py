"""Model folders: config, crash-safe checkpoints, backups. Weights are safetensors, the rest JSON.

Layout::

    model_dir/
      config.json                 registry name + full model config (written once, at creation)
      state.json                  commit record: iteration, settings, and which checkpoint is current
      checkpoints/<iteration>/    weights.safetensors, optimizer.safetensors, history.json
      backups/<NN>/               rotating copies of whole checkpoints (+ state.json, config.json)
      backups/kept-<time>-<it>/   the state a rollback replaced (same layout; never rotated away)
      preview.request             asks a running trainer for a preview at its next iteration
      previews/                   preview grid, loss curve, loss_history.json, history/

A save writes a new ``checkpoints/.tmp-*`` folder (every file fsynced), renames it into place, and
only then atomically replaces ``state.json``. The previous checkpoint is kept, so a ``kill -9`` at any
moment leaves ``state.json`` pointing at a complete checkpoint.
"""

from __future__ import annotations

import errno
import json
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import SafetensorError, safe_open

from recast.atomic import atomic_path, atomic_write_text, fsync_dir, make_folder, write_error
from recast.errors import InputError
from recast.options import strictjson

if TYPE_CHECKING:  # torch loads on the first read or write of tensors, not on import (the studio reads state.json)
    import torch

FORMAT = "recast.model"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
STATE_FILE = "state.json"
WEIGHTS_FILE = "weights.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
HISTORY_FILE = "history.json"
CHECKPOINTS = "checkpoints"
BACKUPS = "backups"
PREVIEW_REQUEST = "preview.request"
"""A file in the model folder that asks the running trainer for a preview grid at its next iteration
(DeepFaceLab's P key); the trainer removes it once the preview is written."""


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
        data = strictjson.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(path, f"cannot read JSON: {' '.join(str(error).split())[:160]}") from None
    if not isinstance(data, dict):
        raise InputError(path, "is not a JSON object")
    return data


def check_writable(model_dir: Path) -> None:
    """Create ``model_dir`` if needed and prove a file can be written there, before any training.

    Raises:
        InputError: read-only, no permission, disk full, or a file where the folder should be.
    """
    model_dir = Path(model_dir)
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=model_dir) as handle:
            handle.write(b"recast")
    except OSError as error:
        raise write_error(model_dir, error) from None


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
    if data.get("format") != FORMAT or not isinstance(data.get("config"), dict) or not isinstance(
            data.get("model"), str):
        raise InputError(path, f"is not a {FORMAT} config")
    version = data.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise InputError(path, "'version' is not a whole number")
    if version > FORMAT_VERSION:
        raise InputError(path, f"version {version} is newer than this recast reads")
    return data["model"], dict(data["config"])


def load_weights_file(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a safetensors file. Anything else (e.g. a pickle) is refused without running it."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise InputError(path, f"not a valid safetensors weights file ({error}); recast never unpickles "
                               "weights") from None


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        try:
            save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
        except SafetensorError as error:  # an I/O failure (disk full …) reads "… (os error 28)"
            code = re.search(r"os error (\d+)", str(error))
            raise OSError(int(code.group(1)) if code else errno.EIO, str(error)) from None


def save_checkpoint(model_dir: Path, iteration: int, weights: dict[str, torch.Tensor],
                    optimizer: dict[str, torch.Tensor], state: dict[str, Any], history: dict[str, list[float]],
                    keep: int = 2) -> Path:
    """Write a checkpoint and commit it in state.json; keeps the ``keep`` newest checkpoints.

    Raises:
        InputError: the checkpoint could not be written (disk full, read-only, …); the previous
            checkpoint stays committed.
    """
    try:
        return _save_checkpoint(Path(model_dir), iteration, weights, optimizer, state, history, keep)
    except OSError as error:
        raise write_error(Path(model_dir) / CHECKPOINTS, error) from None


def _save_checkpoint(model_dir: Path, iteration: int, weights: dict[str, torch.Tensor],
                     optimizer: dict[str, torch.Tensor], state: dict[str, Any], history: dict[str, list[float]],
                     keep: int) -> Path:
    root = make_folder(model_dir / CHECKPOINTS)
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
    """state.json contents (types and ranges checked), or None for a model that was never saved.

    Raises:
        InputError: naming state.json, for a field of the wrong type or out of range, or a
            ``checkpoint`` that is not ``checkpoints/<iteration>``.
    """
    path = Path(model_dir) / STATE_FILE
    if not path.is_file():
        return None
    state = _read_json(path)
    checkpoint = state.get("checkpoint")
    if not isinstance(checkpoint, str) or not re.fullmatch(rf"{CHECKPOINTS}/\d{{1,12}}", checkpoint):
        raise InputError(path, f"'checkpoint' must be {CHECKPOINTS}/<iteration>, got {str(checkpoint)[:60]!r}")
    for key, low, high in (("iteration", 0, 10**12), ("seed", -(2**63), 2**63 - 1)):
        value = state.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise InputError(path, f"'{key}' must be a whole number in {low}..{high}, got {str(value)[:40]!r}")
    elapsed = state.get("elapsed_seconds", 0.0)
    if isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)) or not 0 <= elapsed < 1e12:
        raise InputError(path, f"'elapsed_seconds' must be a number of seconds, got {str(elapsed)[:40]!r}")
    if not isinstance(state.get("settings", {}), dict):
        raise InputError(path, "'settings' must be an object")
    return state


@dataclass(frozen=True)
class WeightsVersion:
    """What identifies a model folder's newest committed weights: the checkpoint folder named in
    state.json (``checkpoints/<iteration>``), its iteration, and the weights file's mtime (ns) and size
    (a checkpoint rewritten at the same iteration still reads as new)."""

    checkpoint: str
    iteration: int
    mtime_ns: int
    size: int


def current_weights(model_dir: Path) -> WeightsVersion | None:
    """The version of the weights ``model_dir`` holds now, for every "are the loaded weights stale?"
    check (face and XSeg models alike); None for a folder with no readable committed checkpoint.
    Reads state.json and stats one file: cheap enough to call before every use."""
    try:
        state = read_state(Path(model_dir))
    except InputError:
        return None
    if state is None:
        return None
    try:
        stat = (Path(model_dir) / state["checkpoint"] / WEIGHTS_FILE).stat()
    except OSError:
        return None
    return WeightsVersion(state["checkpoint"], int(state.get("iteration", 0)), stat.st_mtime_ns, stat.st_size)


def check_weights_fit(model_dir: Path, expected: dict[str, tuple[int, ...]]) -> None:
    """Compare the committed weights' names, shapes and dtypes with ``expected`` (name → shape),
    reading only the safetensors header, before a model is built at full size.

    Raises:
        InputError: naming the weights file, for a missing tensor, another shape, or a dtype other
            than float32 (recast saves float32; fp16/int8 weights are not silently accepted).
    """
    state = read_state(model_dir)
    if state is None:
        return
    path = Path(model_dir) / state["checkpoint"] / WEIGHTS_FILE
    if not path.is_file():
        raise InputError(path.parent, "checkpoint named in state.json is missing")
    try:
        with safe_open(str(path), framework="pt") as handle:
            saved = {key: handle.get_slice(key) for key in handle.keys()}  # noqa: SIM118 (not a dict)
            shapes = {key: (tuple(s.get_shape()), s.get_dtype()) for key, s in saved.items()}
    except (SafetensorError, OSError, ValueError) as error:
        raise InputError(path, f"not a valid safetensors weights file ({error}); recast never unpickles "
                               "weights") from None
    extra = sorted(key for key in shapes if key.startswith("model.") and key not in expected)
    if extra:
        raise InputError(path, f"weights do not fit config.json: it has no tensor {extra[0]} "
                               f"({len(extra)} such tensors)")
    for key, shape in expected.items():
        if key not in shapes:
            raise InputError(path, f"weights do not fit config.json: tensor {key} is missing")
        have, dtype = shapes[key]
        if have != shape:
            raise InputError(path, f"weights do not fit config.json: {key} is {list(have)}, the config needs "
                                   f"{list(shape)}")
        if dtype != "F32":
            raise InputError(path, f"tensor {key} is {dtype}, not float32; recast reads only its own float32 weights")


def load_checkpoint(model_dir: Path, with_optimizer: bool = True) -> Checkpoint | None:
    """The committed checkpoint, or None if the model has none yet."""
    state = read_state(model_dir)
    if state is None:
        return None
    path = Path(model_dir) / str(state.get("checkpoint", ""))
    if not (path / WEIGHTS_FILE).is_file():
        raise InputError(path, "checkpoint named in state.json is missing")
    import torch

    weights = load_weights_file(path / WEIGHTS_FILE)
    for key, tensor in weights.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise InputError(path / WEIGHTS_FILE, f"tensor {key} holds NaN or infinite values")
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


def list_backups(model_dir: Path) -> list[dict[str, Any]]:
    """The model's backups, newest first: ``{"name", "iteration", "time"}`` (``time``: when the backup was
    written, Unix seconds) for each ``backups/<name>/`` holding a readable state.json and its checkpoint."""
    root = Path(model_dir) / BACKUPS
    found = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        try:
            state = read_state(folder)
        except InputError:
            continue
        if state is None or not (folder / state["checkpoint"] / WEIGHTS_FILE).is_file():
            continue
        found.append({"name": folder.name, "iteration": int(state.get("iteration", 0)),
                      "time": (folder / STATE_FILE).stat().st_mtime})
    return sorted(found, key=lambda entry: entry["time"], reverse=True)


def rollback(model_dir: Path, name: str) -> Path:
    """Make ``backups/<name>`` the model's committed state (its checkpoint, state.json and config.json);
    returns the folder the replaced state was first copied to, ``backups/kept-<time>-<iteration>/``, a
    backup itself (listed by :func:`list_backups`, restorable the same way). Never call it while the
    model trains.

    Raises:
        InputError: naming the backup, for no such backup or one that cannot be read.
    """
    model_dir = Path(model_dir)
    source = model_dir / BACKUPS / name
    if not re.fullmatch(r"[\w.-]{1,80}", name) or name.startswith(".") or not source.is_dir():
        raise InputError(source, "no such backup (list them with the model's backups)")
    wanted = read_state(source)
    if wanted is None or not (source / wanted["checkpoint"] / WEIGHTS_FILE).is_file():
        raise InputError(source, "is not a complete backup (state.json and its checkpoint)")
    current = read_state(model_dir)
    kept = model_dir / BACKUPS / f"kept-{time.strftime('%Y%m%d-%H%M%S')}-{current['iteration'] if current else 0}"
    suffix = 1
    while kept.exists():
        suffix += 1
        kept = kept.with_name(f"{kept.name.split('~')[0]}~{suffix}")
    tmp = model_dir / BACKUPS / ".tmp-kept"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if (model_dir / CHECKPOINTS).is_dir():
        shutil.copytree(model_dir / CHECKPOINTS, tmp / CHECKPOINTS,
                        ignore=shutil.ignore_patterns(".tmp-*"))
    for file in (STATE_FILE, CONFIG_FILE):
        if (model_dir / file).is_file():
            shutil.copy2(model_dir / file, tmp / file)
    tmp.rename(kept)
    fsync_dir(kept.parent)
    restored = model_dir / wanted["checkpoint"]
    staging = model_dir / CHECKPOINTS / ".tmp-rollback"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source / wanted["checkpoint"], staging)
    if restored.exists():
        shutil.rmtree(restored)
    staging.rename(restored)
    if (source / CONFIG_FILE).is_file():
        atomic_write_text(model_dir / CONFIG_FILE, (source / CONFIG_FILE).read_text(encoding="utf-8"))
    atomic_write_text(model_dir / STATE_FILE, (source / STATE_FILE).read_text(encoding="utf-8"))
    for other in (model_dir / CHECKPOINTS).iterdir():
        if other.is_dir() and other != restored and not other.name.startswith("."):
            shutil.rmtree(other)  # a copy is in ``kept``
    return kept


def load_into(model_dir: Path, model: torch.nn.Module) -> Checkpoint:
    """Load the committed checkpoint's ``model.*`` weights of ``model_dir`` into ``model``; returns the
    checkpoint (state, weights path) without its optimizer.

    Raises:
        InputError: no saved weights yet, weights that are not safetensors or hold NaN/inf, or
            weights that do not fit the model (one line).
    """
    checkpoint = load_checkpoint(Path(model_dir), with_optimizer=False)
    if checkpoint is None:
        raise InputError(model_dir, "has no saved weights yet (train it first)")
    weights = {k[len("model."):]: v for k, v in checkpoint.weights.items() if k.startswith("model.")}
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        raise InputError(checkpoint.path, "weights do not match config.json: "
                                          + " ".join(str(error).split())[:300]) from None
    return checkpoint
