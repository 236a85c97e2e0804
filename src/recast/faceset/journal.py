"""Crash-safe, undoable renaming of the files of a faceset folder.

Every rename a tool does in a faceset goes through a :class:`Journal`, a JSON file in the folder
(``.recast-sort.json``) that maps each file's *original* name to where it is now (in the folder, or
in ``<folder>_trash``). A batch of moves is done in two phases:

1. the plan (every ``from → tmp → to``) is written to the journal atomically, *before* any rename;
2. phase 1 renames each file to a unique hidden temporary name (``.recast-sort-000001.part``),
   then the journal is marked phase 2; phase 2 renames each temporary file to its target;
3. the journal records the new locations and drops the plan.

After a crash (even ``kill -9``) at any moment, :meth:`Journal.recover` reads the plan and rolls it
forward: in phase 1 a file is at ``from`` or ``tmp``, in phase 2 at ``tmp`` or ``to`` — never
ambiguous. :meth:`Journal.restore` then moves every file back to its original name.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recast.atomic import atomic_write_text, remove_stale_temp_files
from recast.errors import InputError
from recast.options import strictjson

JOURNAL_NAME = ".recast-sort.json"
FORMAT = "recast.sort-journal"
VERSION = 1
_TMP_PREFIX = ".recast-sort-"


@dataclass
class RestoreResult:
    """What :meth:`Journal.restore` did."""

    restored: int = 0
    missing: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


class Journal:
    """The rename journal of one faceset folder. Locations are paths relative to the folder."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / JOURNAL_NAME
        self.files: list[dict[str, Any]] = []
        self.pending: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = []
        if self.path.is_file():
            self._load()

    def _load(self) -> None:
        try:
            data = strictjson.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise InputError(self.path, f"sort journal is unreadable ({error}); it was left untouched") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("files"), list):
            raise InputError(self.path, "not a recast sort journal")
        if data.get("version", 0) > VERSION:
            raise InputError(self.path, f"sort journal version {data.get('version')} is newer than this recast")
        self.files = data["files"]
        self.pending = data.get("pending")
        self.history = data.get("history", [])

    def save(self) -> None:
        """Write the journal atomically."""
        data = {"format": FORMAT, "version": VERSION, "files": self.files, "pending": self.pending,
                "history": self.history}
        atomic_write_text(self.path, json.dumps(data, indent=0))

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def original_names(self) -> dict[str, str]:
        """Current location → original name, for every tracked file still present."""
        return {f["at"]: f["orig"] for f in self.files if f.get("at")}

    def recover(self) -> list[str]:
        """Finish an interrupted batch of moves (roll forward). Returns original names of files not found.

        A run killed while it wrote the journal leaves the journal's temporary file; it is removed here.
        """
        remove_stale_temp_files(self.folder)
        if self.pending is None:
            return []
        missing: list[str] = []
        moves = self.pending["moves"]
        if self.pending["phase"] == 1:
            kept = []
            for move in moves:
                if (self.folder / move["tmp"]).exists():
                    kept.append(move)
                elif (self.folder / move["from"]).exists():
                    os.rename(self.folder / move["from"], self.folder / move["tmp"])
                    kept.append(move)
                else:
                    missing.append(self._lose(move["file"]))
            self.pending = {"phase": 2, "moves": kept}
            self.save()
        for move in self.pending["moves"]:
            tmp, target = self.folder / move["tmp"], self.folder / move["to"]
            if tmp.exists():
                if target.exists():
                    raise InputError(target, f"is in the way of an interrupted rename; {tmp.name} holds "
                                     f"{self.files[move['file']]['orig']} (move one of them, then retry)")
                target.parent.mkdir(parents=True, exist_ok=True)
                os.rename(tmp, target)
            elif not target.exists():
                missing.append(self._lose(move["file"]))
                continue
            self.files[move["file"]]["at"] = move["to"]
        self.pending = None
        self.save()
        return missing

    def _lose(self, index: int) -> str:
        self.files[index]["at"] = None
        return str(self.files[index]["orig"])

    def move(self, moves: list[tuple[str, str]], note: dict[str, Any] | None = None) -> None:
        """Move files (``current → target``, paths relative to the folder) in two journaled phases.

        A file not yet tracked is added with its current name as its original name. Targets must be
        distinct and must not be occupied by a file that stays where it is.
        """
        if self.pending is not None:
            self.recover()
        index = {f["at"]: i for i, f in enumerate(self.files) if f.get("at")}
        for current, _ in moves:
            if current not in index:
                index[current] = len(self.files)
                self.files.append({"orig": current, "at": current})
        moves = [(c, t) for c, t in moves if os.path.normpath(c) != os.path.normpath(t)]
        leaving = {os.path.normpath(c) for c, _ in moves}
        targets: set[str] = set()
        for current, target in moves:
            norm = os.path.normpath(target)
            if norm in targets:
                raise ValueError(f"two files would be moved to {target}")
            targets.add(norm)
            if norm not in leaving and (self.folder / target).exists():
                raise InputError(self.folder / target, "already exists; refusing to overwrite it")
            if not (self.folder / current).is_file():
                raise InputError(self.folder / current, "no such file")
        planned: list[dict[str, Any]] = []
        counter = 0
        for current, target in moves:
            while True:
                counter += 1
                tmp = f"{_TMP_PREFIX}{counter:06d}.part"
                if not (self.folder / tmp).exists():
                    break
            planned.append({"file": index[current], "from": current, "tmp": tmp, "to": target})
        if note is not None:
            self.history.append({**note, "time": time.strftime("%Y-%m-%dT%H:%M:%S")})
        self.pending = {"phase": 1, "moves": planned}
        self.save()
        for move in planned:
            os.rename(self.folder / move["from"], self.folder / move["tmp"])
        self.pending["phase"] = 2
        self.save()
        made: set[Path] = set()
        for move in planned:
            target = self.folder / move["to"]
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            os.rename(self.folder / move["tmp"], target)
        for move in planned:
            self.files[move["file"]]["at"] = move["to"]
        self.pending = None
        self.save()

    def restore(self) -> RestoreResult:
        """Move every tracked file back to its original name in the folder (also out of the trash).

        Files that vanished are listed in ``missing``; a file whose original name is now taken by an
        untracked file stays where it is and is listed in ``conflicts``. When everything is back,
        the journal itself is removed.
        """
        result = RestoreResult(missing=self.recover())
        result.missing += [f["orig"] for f in self.files if f.get("at") is None and f["orig"] not in result.missing]
        tracked = {os.path.normpath(f["at"]) for f in self.files if f.get("at")}
        moves = []
        for f in self.files:
            at = f.get("at")
            if not at or os.path.normpath(at) == os.path.normpath(f["orig"]):
                continue
            if not (self.folder / at).is_file():
                result.missing.append(f["orig"])
                f["at"] = None
                continue
            if os.path.normpath(f["orig"]) not in tracked and (self.folder / f["orig"]).exists():
                result.conflicts.append(f["orig"])
                continue
            moves.append((at, f["orig"]))
        self.move(moves, {"action": "restore"})
        result.restored = len(moves)
        if not result.conflicts and not result.missing:
            self.path.unlink()
        return result
