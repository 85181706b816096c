"""A built index kept on disk, so a restart with unchanged knowledge skips the work.

Parsing, validating and indexing a large knowledge folder takes seconds; a restart
with the very same files (a deploy, a crash, every ``ask`` call) need not repeat it.
The snapshot is only a cache, keyed by the SHA-256 of every knowledge file *and* by
the engine's own code and library versions: a missing, stale or unreadable one is
rebuilt from the YAML, which stays the only truth. A snapshot exists only for
knowledge that passed validation, and validation depends on nothing but those bytes
and that code, so reading one back skips nothing a check would have found.

When the files did change, each one that did not is taken from ``files/`` (parsed
and validated before, kept by the SHA-256 of its bytes), so an edit to one file of
fifty parses one file; the checks across files and the index build always run.

These are pickles, so the cache folder must be as trusted as the code itself (it lives
in ``data/``, beside the database, by default; ``BOT_CACHE_DIR`` moves it, ``off``
turns it off).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import sys
import time
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from bot.gcpause import gc_paused
from bot.knowledge import (
    KnowledgeFile,
    ParsedFiles,
    Problem,
    check_knowledge_quietly,
    folder_fingerprint,
)
from bot.matcher import Index, build_index
from bot.text import Readings

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the snapshot's layout changes in a way the code hash misses
BOT = Path(__file__).resolve().parent
# What an index is built by: every module of bot/ but these, which only use an index
# (adapters, storage, rendering, settings, the CLI). Any change to one of the others (a
# new module, or one split into a package, included) makes every old snapshot stale.
NOT_ENGINE = frozenset(  # modules and packages, by name
    {
        "__main__",
        "answers",
        "config",
        "evaluation",
        "locale",
        "reply",
        "reports",
        "storage",
        "telegram",
    }
)
PACKAGES = ("pydantic", "pydantic-core", "PyYAML", "yaml-rs", "rapidfuzz", "wordfreq")
PREFIX = "index-"
FILES = "files"  # subfolder of parsed knowledge files
PREFIX_FILE = "file-"
LEFTOVER_AGE_S = 3600  # a temp file this old was left by a process that died saving


def engine_files(bot: Path | None = None) -> list[Path]:
    """The modules of the package folder (``bot/``) an index depends on, in a fixed order."""
    bot = BOT if bot is None else bot
    return sorted(
        path
        for path in bot.rglob("*.py")
        if path.relative_to(bot).parts[0].removesuffix(".py") not in NOT_ENGINE
    )


@lru_cache(maxsize=1)
def code_version() -> str:
    digest = hashlib.sha256(f"{FORMAT} {sys.version}".encode())
    for path in engine_files():
        digest.update(f"{path.relative_to(BOT).as_posix()}\0".encode())
        digest.update(path.read_bytes())
    for package in PACKAGES:
        try:
            digest.update(f"{package}={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package}=?".encode())
    return digest.hexdigest()[:12]


def snapshot_path(folder: Path, cache_dir: Path) -> Path | None:
    """Where the snapshot of this folder's files lives (None if one cannot be read)."""
    return _path_of(folder_fingerprint(folder), cache_dir)


def _path_of(fingerprint: str, cache_dir: Path) -> Path | None:
    if not fingerprint:
        return None
    return cache_dir / f"{PREFIX}{fingerprint}-{code_version()}.pickle"


def open_index(folder: Path, cache_dir: Path | None) -> tuple[Index | None, list[Problem]]:
    """The index of ``folder``: read from its snapshot when there is one, otherwise
    checked and built (and saved for next time). ``None`` with the problems when the
    folder does not pass validation."""
    if cache_dir is None:
        return _check_and_build(folder)
    fingerprint = folder_fingerprint(folder)
    path = _path_of(fingerprint, cache_dir)
    index = _read(path) if path else None
    if index is not None:
        return index, []
    files = _ParsedFiles(cache_dir / FILES)
    index, problems = _check_and_build(folder, files)
    if index is None:
        return None, problems
    files.forget_others()
    # Only if the files parsed are the ones the name was made from (none changed in
    # between): the name must tell the truth.
    if path is not None and index.knowledge.fingerprint == fingerprint:
        _write(index, path)
    return index, problems


def _check_and_build(
    folder: Path, files: ParsedFiles | None = None
) -> tuple[Index | None, list[Problem]]:
    readings = Readings()  # what the check reads, indexing need not read again
    # One pause of the collector over both: were it back on between them, its next
    # pass would walk the whole checked knowledge as young objects, holding the GIL
    # (a 100 ms stall of the bot's event loop at 10,000 entries). build_index freezes
    # all it made before the collector returns.
    with gc_paused():
        knowledge, problems = check_knowledge_quietly(folder, files, readings)
        if knowledge is None:
            return None, problems
        return build_index(knowledge, readings), []


class _ParsedFiles:
    """Each knowledge file, parsed and validated, by the SHA-256 of its bytes: when one
    file of many is edited, only that one is parsed and validated again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.used: set[Path] = set()

    def _path(self, digest: str) -> Path:
        return self.folder / f"{PREFIX_FILE}{digest}-{code_version()}.pickle"

    def get(self, digest: str) -> KnowledgeFile | None:
        path = self._path(digest)
        self.used.add(path)
        return _read(path, KnowledgeFile)

    def put(self, digest: str, model: KnowledgeFile) -> None:
        _write(model, self._path(digest), prune=False)

    def forget_others(self) -> None:
        """After a good load: files no longer in the folder need not be kept."""
        for old in self.folder.glob(f"{PREFIX_FILE}*.pickle"):
            if old not in self.used:
                _remove(old)
        _remove_leftovers(self.folder)


def _read(path: Path, kind: type = Index) -> Any:
    """The object saved at ``path`` if it is a ``kind``; otherwise None (a cache miss)."""
    try:
        source = path.open("rb")
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("snapshot %s unreadable (%s): rebuilding", path.name, exc)
        return None
    # Like a fresh build: no collector passes over the objects being made, then frozen
    # (the index is free of reference cycles, see matcher.build_index).
    try:
        # From the file, not from bytes: unpickling reads frame by frame, and each
        # read lets the bot's event loop run (one loads() call would hold the GIL).
        with gc_paused(freeze=True), source:
            value = pickle.load(source)
    except Exception as exc:  # a truncated, foreign or unreadable file: a cache miss
        log.warning("snapshot %s damaged (%s): rebuilding", path.name, type(exc).__name__)
        _remove(path)
        return None
    if not isinstance(value, kind):
        log.warning("snapshot %s holds something else: rebuilding", path.name)
        _remove(path)
        return None
    return value


def _write(value: Index | KnowledgeFile, path: Path, prune: bool = True) -> None:
    """Atomically (a reader sees the old file or the whole new one), then remove the
    snapshots of older knowledge. Failing to save is logged, never fatal: it only
    costs the next start its speed."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with temp.open("wb") as out:
            # Straight to the file: the pickler hands over frames as it goes, and each
            # write lets other threads (the bot's event loop) run.
            pickle.dump(value, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temp, path)
    except Exception as exc:  # a full disk, a read-only folder, ...: never fatal
        log.warning("snapshot not saved (%s: %s)", type(exc).__name__, exc)
        _remove(temp)
        return
    if prune:
        for old in path.parent.glob(f"{PREFIX}*.pickle"):
            if old != path:
                _remove(old)
        _remove_leftovers(path.parent)


def _remove_leftovers(folder: Path) -> None:
    """Half-written files of a process killed while saving: older than any save takes,
    so never those another process (``ask`` beside the bot) is writing right now."""
    for temp in folder.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if time.time() - temp.stat().st_mtime > LEFTOVER_AGE_S:
                _remove(temp)


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
