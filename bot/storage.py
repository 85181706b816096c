"""SQLite persistence: question log, feedback, unanswered-question groups, chat state.

Design notes
------------
* One SQLite file in WAL mode with two aiosqlite connections: a *writer* (owned by a
  background task plus the few awaited admin writes, serialised by one asyncio lock) and a
  read-only *reader*, so slow dashboard queries never queue behind a batch commit.
* ``log_question`` / ``log_feedback`` are synchronous and never raise: they validate, append
  to a bounded deque and wake the writer. The writer commits the buffer in batches, one
  transaction per batch, so a crash loses at most what was not yet committed.
* A batch is planned on the event loop (grouping, rows) and written by ONE call on the
  writer connection's own thread (checks, inserts, group updates, votes, commit), so the
  loop is touched once per batch, not once per statement: per-statement round trips each
  waited for a turn on a busy loop, and under load the writer fell so far behind that the
  buffer overflowed. See "batch writer" below for why the work is split that way.
* When SQLite is unavailable (locked, disk full, read-only, I/O error) rows stay buffered
  and the writer retries with exponential backoff; when the buffer is full the OLDEST rows
  are dropped and counted.
* Unanswered ("fallback") questions are clustered into groups inside the writer, against an
  in-memory index of open groups, so concurrent logging can never race on grouping. A batch
  stages its group changes on a copy of the index that replaces the live one only after the
  commit, so a failed (rolled back, later retried) batch never leaves a trace in it.
* Schema changes are forward-only migrations tracked by ``PRAGMA user_version``.

All calls must come from the event-loop thread that opened the storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import secrets
import sqlite3
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Final, TypeVar

import aiosqlite
from rapidfuzz import fuzz, process, utils

__all__ = [
    "CHAT_TYPES",
    "DECISIONS",
    "EXPORT_COLUMNS",
    "GROUP_STATUSES",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "EntryFeedback",
    "Group",
    "Migration",
    "QuestionRecord",
    "Stats",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "new_key",
]

logger = logging.getLogger("bot.storage")

CHAT_TYPES: Final = frozenset({"private", "group", "supergroup", "channel", "inline", "cli"})
DECISIONS: Final = frozenset({"answer", "choices", "fallback", "smalltalk"})
GROUP_STATUSES: Final = frozenset({"open", "answered", "ignored"})

MAX_TEXT_LEN: Final = 4096  # Telegram's own message limit
MAX_KEY_LEN: Final = 64  # new_key() makes 12; anything longer cannot fit callback data anyway
_SQLITE_INT_MAX: Final = 2**63 - 1

_BATCH_SIZE: Final = 500
_MIN_RETRY_DELAY: Final = 0.05
_FAILURE_LOG_INTERVAL: Final = 60.0  # seconds between repeated "still failing" warnings
_DROP_LOG_EVERY: Final = 1000
_MATCH_CANDIDATES: Final = 5
_TOKEN_MATCH: Final = 80.0  # per-word similarity that still counts as the same word (typos)

# Columns of the CSV export, in order. No user, chat or message ids: exports leave the server.
EXPORT_COLUMNS: Final = (
    "key",
    "asked_at",
    "chat_type",
    "text",
    "normalized",
    "decision",
    "entry_id",
    "score",
    "latency_ms",
    "group_id",
    "feedback_up",
    "feedback_down",
)


class StorageError(Exception):
    """Storage misuse or an unrecoverable database state."""


class StorageUnavailable(StorageError):
    """The database cannot be reached right now (locked, full, read-only, I/O error)."""


def new_key() -> str:
    """Return a random 12-character url-safe id (72 bits), short enough for callback data."""
    return secrets.token_urlsafe(9)


@dataclass(frozen=True)
class QuestionRecord:
    key: str
    asked_at: datetime
    chat_type: str
    user_id: int | None
    chat_id: int | None
    message_id: int | None
    text: str
    normalized: str
    decision: str
    entry_id: str | None
    score: float
    latency_ms: float


@dataclass(frozen=True)
class Group:
    id: int
    status: str
    example: str
    normalized: str
    count: int
    first_seen: datetime
    last_seen: datetime
    answered_at: datetime | None = None
    answer_text: str | None = None
    entry_id: str | None = None


@dataclass(frozen=True)
class EntryFeedback:
    entry_id: str
    up: int
    down: int


@dataclass(frozen=True)
class Stats:
    """Numbers for the admin dashboard over the last ``days`` calendar days (in ``tz``)."""

    since: datetime  # start of the window, UTC
    days: int
    total: int
    unique_users: int
    per_day: tuple[tuple[date, int], ...]  # every day of the window, oldest first, zeros kept
    decisions: Mapping[str, int]  # every known decision, zero when unused
    top_entries: tuple[tuple[str, int], ...]  # (entry_id, times answered), most first
    top_open_groups: tuple[Group, ...]  # open groups active in the window, most asked first
    feedback: tuple[EntryFeedback, ...]  # votes cast in the window, most downvoted first
    open_groups: int  # whole backlog, not just the window
    avg_latency_ms: float | None

    @property
    def decision_rates(self) -> dict[str, float]:
        """Share of each decision in ``total`` (0.0 when there were no questions)."""
        return {k: (v / self.total if self.total else 0.0) for k, v in self.decisions.items()}


# --------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


# Forward-only. Never edit a released migration: append a new one. Each runs in its own
# transaction together with its ``PRAGMA user_version`` bump, so a failure leaves the
# database at the previous version. No foreign keys on purpose: log rows arrive through a
# lossy buffer (a vote may outlive its dropped question) and must never fail a whole batch.
MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        "initial schema",
        (
            """CREATE TABLE questions (
                key         TEXT PRIMARY KEY,
                asked_at    TEXT NOT NULL,
                chat_type   TEXT NOT NULL,
                user_id     INTEGER,
                chat_id     INTEGER,
                message_id  INTEGER,
                text        TEXT NOT NULL,
                normalized  TEXT NOT NULL,
                decision    TEXT NOT NULL,
                entry_id    TEXT,
                score       REAL NOT NULL DEFAULT 0,
                latency_ms  REAL NOT NULL DEFAULT 0,
                group_id    INTEGER
            )""",
            """CREATE TABLE feedback (
                id           INTEGER PRIMARY KEY,
                question_key TEXT NOT NULL,
                entry_id     TEXT NOT NULL,
                value        INTEGER NOT NULL,
                user_id      INTEGER,
                created_at   TEXT NOT NULL
            )""",
            # NULL user ids are distinct in a UNIQUE index, so anonymous votes never collide.
            "CREATE UNIQUE INDEX feedback_one_vote ON feedback (question_key, user_id)",
            """CREATE TABLE unanswered_groups (
                id          INTEGER PRIMARY KEY,
                status      TEXT NOT NULL DEFAULT 'open',
                example     TEXT NOT NULL,
                normalized  TEXT NOT NULL,
                count       INTEGER NOT NULL DEFAULT 1,
                first_seen  TEXT NOT NULL,
                last_seen   TEXT NOT NULL,
                answered_at TEXT,
                answer_text TEXT,
                entry_id    TEXT
            )""",
            """CREATE TABLE chats (
                chat_id        INTEGER PRIMARY KEY,
                inactive_since TEXT
            )""",
        ),
    ),
    Migration(
        2,
        "chat activity and read indexes",
        (
            # A chat that asks again after blocking the bot is reachable again.
            "ALTER TABLE chats ADD COLUMN last_active TEXT",
            """INSERT INTO chats (chat_id, last_active)
               SELECT chat_id, MAX(asked_at) FROM questions
               WHERE chat_id IS NOT NULL GROUP BY chat_id
               ON CONFLICT (chat_id) DO UPDATE SET last_active = excluded.last_active""",
            "CREATE INDEX questions_asked_at ON questions (asked_at)",
            "CREATE INDEX questions_group ON questions (group_id) WHERE group_id IS NOT NULL",
            "CREATE INDEX groups_status_rank ON unanswered_groups (status, count, last_seen)",
            "CREATE INDEX feedback_created_at ON feedback (created_at)",
        ),
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)
assert all(m.version == i for i, m in enumerate(MIGRATIONS, 1)), "migrations must be 1..n"

_GROUP_COLUMNS: Final = (
    "id, status, example, normalized, count, first_seen, last_seen, "
    "answered_at, answer_text, entry_id"
)

# --------------------------------------------------------------------------- helpers


def _utc_iso(dt: datetime) -> str:
    """Fixed-width UTC ISO text, so string order equals time order in SQL."""
    if dt.tzinfo is None:  # naive values are taken as UTC rather than rejected
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def _parse_ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _now() -> datetime:
    return datetime.now(UTC)


def _clean_text(value: str, limit: int = MAX_TEXT_LEN) -> str:
    """Truncate and make valid UTF-8: JSON can carry lone surrogates SQLite cannot bind."""
    value = value[:limit]
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _opt_int(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be int or None")
    if abs(value) > _SQLITE_INT_MAX:
        raise ValueError(f"{name} out of range")
    return value


def _finite(value: float) -> float:
    number = float(value)
    return number if math.isfinite(number) else 0.0


def _group_key(normalized: str) -> str:
    """Comparison form of a question: lower-case alphanumeric words, single-spaced."""
    return " ".join(utils.default_process(normalized).split())


def _covered(words: Iterable[str], other: list[str]) -> bool:
    return all(any(fuzz.ratio(w, o) >= _TOKEN_MATCH for o in other) for w in words)


def _same_question(a: str, b: str) -> bool:
    """True unless a word was *replaced* rather than added or misspelt.

    token_sort_ratio alone joins "syarat buat ktp baru" with "syarat buat kk baru" (92) and
    "apbd 2024" with "apbd 2025"; token_set_ratio is worse (any subset scores 100, so "vaksin"
    would swallow every vaccine question). Requiring one side's words to all appear in the
    other keeps "jadwal vaksin rabies gratis" + "... dmn" together and those apart.
    """
    wa, wb = a.split(), b.split()
    return _covered(wa, wb) or _covered(wb, wa)


class _GroupIndex:
    """Comparison keys of open groups, so grouping never scans the table."""

    def __init__(self, threshold: float, keys: dict[int, str] | None = None) -> None:
        self.threshold = threshold
        self._keys: dict[int, str] = dict(keys or {})

    def copy(self) -> _GroupIndex:
        return _GroupIndex(self.threshold, self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, group_id: object) -> bool:
        return group_id in self._keys

    def add(self, group_id: int, key: str) -> None:
        self._keys[group_id] = key

    def discard(self, group_id: int) -> None:
        self._keys.pop(group_id, None)

    def match(self, key: str) -> int | None:
        """Best open group for ``key`` scoring at least the threshold, if any."""
        if not self._keys:
            return None
        candidates = process.extract(
            key,
            self._keys,
            scorer=fuzz.token_sort_ratio,  # word order varies between askers
            processor=None,  # keys are already processed
            score_cutoff=self.threshold,
            limit=_MATCH_CANDIDATES,
        )
        for _choice, _score, group_id in candidates:
            if _same_question(key, self._keys[group_id]):
                return int(group_id)
        return None


@dataclass(frozen=True, slots=True)
class _QuestionRow:
    """A validated QuestionRecord, already converted to SQL values."""

    key: str
    asked_at: str
    chat_type: str
    user_id: int | None
    chat_id: int | None
    message_id: int | None
    text: str
    normalized: str
    decision: str
    entry_id: str | None
    score: float
    latency_ms: float

    @classmethod
    def from_record(cls, rec: QuestionRecord) -> _QuestionRow:
        if not isinstance(rec.key, str) or not 0 < len(rec.key) <= MAX_KEY_LEN:
            raise ValueError("key must be a non-empty short string")
        if rec.chat_type not in CHAT_TYPES:
            raise ValueError(f"unknown chat_type {rec.chat_type!r}")
        if rec.decision not in DECISIONS:
            raise ValueError(f"unknown decision {rec.decision!r}")
        if rec.entry_id is not None and not isinstance(rec.entry_id, str):
            raise ValueError("entry_id must be str or None")
        return cls(
            key=rec.key,
            asked_at=_utc_iso(rec.asked_at),
            chat_type=rec.chat_type,
            user_id=_opt_int("user_id", rec.user_id),
            chat_id=_opt_int("chat_id", rec.chat_id),
            message_id=_opt_int("message_id", rec.message_id),
            text=_clean_text(str(rec.text)),
            normalized=_clean_text(str(rec.normalized)),
            decision=rec.decision,
            entry_id=rec.entry_id,
            score=_finite(rec.score),
            latency_ms=_finite(rec.latency_ms),
        )


@dataclass(frozen=True, slots=True)
class _FeedbackRow:
    question_key: str
    entry_id: str
    value: int
    user_id: int | None
    created_at: str


_Item = _QuestionRow | _FeedbackRow

# SQLite primary result codes after which retrying later can succeed.
_TRANSIENT_CODES: Final = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_INTERRUPT,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOTADB,
    }
)
# ... and those after which the connection itself may be stale (file made writable again,
# remounted, replaced): the next attempt reopens it.
_REOPEN_CODES: Final = frozenset(
    {
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_NOTADB,
    }
)


def _primary_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def _is_row_error(exc: BaseException) -> bool:
    """Errors caused by one row's values: retrying the same row can never succeed."""
    return isinstance(
        exc,
        sqlite3.IntegrityError
        | sqlite3.DataError
        | sqlite3.InterfaceError
        | OverflowError
        | UnicodeError
        | TypeError,
    )


def _is_unavailable(exc: BaseException) -> bool:
    """Errors meaning the database (or our connection to it) is not usable right now."""
    if isinstance(exc, ValueError | sqlite3.ProgrammingError):
        return "closed" in str(exc).lower() or "no active connection" in str(exc).lower()
    if _primary_code(exc) in _TRANSIENT_CODES:
        return True
    # Anything else from SQLite that is not about a row's values: keep rows, retry later.
    return isinstance(exc, sqlite3.Error) and not _is_row_error(exc)


def _needs_reopen(exc: BaseException) -> bool:
    if isinstance(exc, ValueError | sqlite3.ProgrammingError):
        return _is_unavailable(exc)  # our connection object was closed under us
    return _primary_code(exc) in _REOPEN_CODES


async def _fetchall(db: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> list[Any]:
    async with db.execute(sql, tuple(params)) as cur:
        return list(await cur.fetchall())


async def _fetchone(db: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> Any:
    async with db.execute(sql, tuple(params)) as cur:
        return await cur.fetchone()


async def _run(db: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> tuple[int, int]:
    """Execute a write; return (rowcount, lastrowid)."""
    async with db.execute(sql, tuple(params)) as cur:
        return cur.rowcount, cur.lastrowid or 0


async def _rollback_quietly(db: aiosqlite.Connection) -> None:
    # Unconditional: SQLite may already have rolled back (e.g. on SQLITE_FULL), in which
    # case this fails harmlessly.
    with contextlib.suppress(Exception):
        await db.execute("ROLLBACK")


@contextlib.asynccontextmanager
async def _transaction(db: aiosqlite.Connection) -> AsyncIterator[aiosqlite.Connection]:
    # IMMEDIATE takes the write lock up front, so "locked" surfaces here (after busy_timeout)
    # instead of midway through a batch.
    await db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        await db.execute("COMMIT")
    except BaseException:
        # Also on cancellation: a transaction left open would make every later BEGIN fail.
        await _rollback_quietly(db)
        raise


async def _user_version(db: aiosqlite.Connection) -> int:
    row = await _fetchone(db, "PRAGMA user_version")
    return int(row[0])


async def _migrate(db: aiosqlite.Connection) -> None:
    version = await _user_version(db)
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"database schema v{version} is newer than this code (v{SCHEMA_VERSION})"
        )
    while version < SCHEMA_VERSION:
        async with _transaction(db):
            # Re-read under the write lock: another process may have migrated meanwhile.
            version = await _user_version(db)
            if version >= SCHEMA_VERSION:
                break
            migration = MIGRATIONS[version]
            for statement in migration.statements:
                await db.execute(statement)
            # PRAGMA takes no parameters; the value is our own int, never user input.
            await db.execute(f"PRAGMA user_version = {int(migration.version)}")
        logger.info("schema migrated to v%d (%s)", migration.version, migration.description)
        version = migration.version


async def _connect(path: Path, busy_timeout_ms: int, *, reader: bool) -> aiosqlite.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, so batches are explicit.
    db = await aiosqlite.connect(path, isolation_level=None, timeout=busy_timeout_ms / 1000)
    try:
        db.row_factory = sqlite3.Row
        await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if not reader:
            row = await _fetchone(db, "PRAGMA journal_mode = WAL")
            if str(row[0]).lower() != "wal":
                logger.warning("journal_mode is %s, not WAL; readers may block writes", row[0])
        await db.execute("PRAGMA synchronous = NORMAL")
        if reader:
            await db.execute("PRAGMA query_only = ON")  # the reader must never write
    except BaseException:
        await db.close()
        raise
    return db


async def _load_group_index(db: aiosqlite.Connection, threshold: float) -> _GroupIndex:
    rows = await _fetchall(db, "SELECT id, normalized FROM unanswered_groups WHERE status = 'open'")
    return _GroupIndex(threshold, {int(r["id"]): _group_key(r["normalized"]) for r in rows})


def _row_to_group(row: Mapping[str, Any]) -> Group:
    return Group(
        id=int(row["id"]),
        status=row["status"],
        example=row["example"],
        normalized=row["normalized"],
        count=int(row["count"]),
        first_seen=datetime.fromisoformat(row["first_seen"]),
        last_seen=datetime.fromisoformat(row["last_seen"]),
        answered_at=_parse_ts(row["answered_at"]),
        answer_text=row["answer_text"],
        entry_id=row["entry_id"],
    )


T = TypeVar("T")

# --------------------------------------------------------------------------- batch writer
# A batch is written in two steps:
#
# 1. ``_plan_batch``, on the event loop: the Python work - fuzzy matching of fallback
#    questions against the group index, counting, building the rows - with a yield every
#    few matches so handlers keep running.
# 2. ``_apply_plan``, ONE call on the writer connection's own thread (``_on_db_thread``):
#    a few executemany calls and the commit, in one transaction.
#
# Why so: that thread shares the GIL with the event loop. A thread waiting for the GIL only
# asks for it after a whole switch interval (5 ms) in which nobody else got it, but a busy
# loop lets go of the GIL and takes it straight back at every iteration (select), which
# counts as a switch; so a thread that has to wait for the GIL - when it wakes up for a
# call, after a long statement step, or after holding the GIL long enough to be made to
# hand it over - may wait until the loop next goes idle. Measured in the in-process
# benchmark (a loop saturated with updates): batches stuck for 3-9 s each, the writer
# ever further behind, rows dropped.
# Hence: the thread gets only short sqlite3 steps (cached statements, executemany, no
# query over the whole batch: rowcounts tell whether the plan still holds), and while it
# works the loop briefly blocks on its completion so it can have the GIL (see _on_db_thread).

_INSERT_QUESTION: Final = """INSERT INTO questions (key, asked_at, chat_type, user_id, chat_id,
        message_id, text, normalized, decision, entry_id, score, latency_ms, group_id)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (key) DO NOTHING"""
_TOUCH_CHAT: Final = """INSERT INTO chats (chat_id, last_active) VALUES (?, ?)
    ON CONFLICT (chat_id) DO UPDATE SET
        last_active = max(coalesce(last_active, ''), excluded.last_active),
        inactive_since = CASE WHEN inactive_since < excluded.last_active
                              THEN NULL ELSE inactive_since END"""
_NEW_GROUP: Final = """INSERT INTO unanswered_groups (id, status, example, normalized, count,
        first_seen, last_seen)
    VALUES (?, 'open', ?, ?, ?, ?, ?)"""
_BUMP_GROUP: Final = """UPDATE unanswered_groups
    SET count = count + ?2, last_seen = max(last_seen, ?3)
    WHERE id = ?1 AND status = 'open'"""
_UPSERT_FEEDBACK: Final = """INSERT INTO feedback (question_key, entry_id, value, user_id,
        created_at)
    VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (question_key, user_id) DO UPDATE SET
        value = excluded.value, entry_id = excluded.entry_id"""

_MATCHES_PER_YIELD: Final = 32  # fuzzy matches between two yields to the event loop
_GIL_HANDOFF_SLICE: Final = 0.0005  # seconds the loop blocks at a time for the db thread,
_GIL_HANDOFF_EAGER: Final = 0.005  # at every iteration for so long into a call,
_GIL_HANDOFF_PERIOD: Final = 0.01  # then once per this many seconds until it is done


def _aiosqlite_supported() -> bool:
    """Whether aiosqlite still has the two internals _on_db_thread relies on."""
    return callable(getattr(aiosqlite.Connection, "_execute", None)) and isinstance(
        getattr(aiosqlite.Connection, "_conn", None), property
    )


async def _on_db_thread(db: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(con, *args)`` on ``db``'s worker thread, ``con`` being its sqlite3 connection.

    aiosqlite offers no public way to do this, but every public method of its Connection
    (execute, executemany, commit, backup...) is a one-line wrapper around
    ``Connection._execute(fn, *args)``: it queues ``fn`` on the connection's dedicated thread,
    in FIFO order with all other calls on that connection, and awaits the result. ``_conn``
    is the sqlite3 connection, usable only on that thread - which is where ``call`` runs.
    Both have existed unchanged since long before aiosqlite 0.20 (our lower bound);
    Storage.open refuses to start if they disappear (see _aiosqlite_supported).

    Why not a separate sqlite3 connection in asyncio.to_thread: it would be a second writer
    on the file within this process (with its own PRAGMA state, staleness and reopening),
    and the default executor is shared with other work (knowledge reloads) a batch would
    queue behind. The aiosqlite thread is ours alone and already serialises the connection.

    While ``fn`` runs, the loop hands the GIL over (see "batch writer" for why): it blocks
    on ``fn``'s completion for a slice of _GIL_HANDOFF_SLICE at every iteration during the
    first _GIL_HANDOFF_EAGER of the call, then once per _GIL_HANDOFF_PERIOD (5% of the
    loop's time) until the call is done. On an idle loop the first wait ends as soon as
    ``fn`` does. Measured in the benchmark: the loop blocks ~55 us per row written, and
    the writer keeps up instead of falling seconds behind.

    If the awaiting task is cancelled once ``fn`` was queued, it still runs to completion.
    """
    finished = threading.Event()

    def call() -> T:
        try:
            return fn(db._conn, *args)
        finally:
            finished.set()

    result = asyncio.ensure_future(db._execute(call))
    try:
        await asyncio.sleep(0)  # let ``result`` queue the call
        eager_until = time.monotonic() + _GIL_HANDOFF_EAGER
        while not finished.wait(_GIL_HANDOFF_SLICE) and not result.done():
            # Long calls (lock waits, checkpoints) mostly do I/O: then offer a slice less often.
            await asyncio.sleep(0 if time.monotonic() < eager_until else _GIL_HANDOFF_PERIOD)
        return await result
    finally:
        result.cancel()  # no-op once done; else stops waiting (the thread finishes anyway)


@dataclass(slots=True)
class _Plan:
    """One batch, ready to write. New groups carry provisional ids -1, -2, ... until the
    database thread knows the real ones (see ``_apply_plan``)."""

    questions: list[tuple[Any, ...]]  # _INSERT_QUESTION values; group_id may be provisional
    new_groups: list[tuple[Any, ...]]  # (example, normalized, count, first_seen, last_seen)
    new_group_keys: list[str]  # index key of each new group, same order
    bumps: list[tuple[int, int, str]]  # (existing group id, questions added, latest asked_at)
    chats: list[tuple[int, str]]  # (chat_id, latest asked_at)
    votes: list[tuple[Any, ...]]  # _UPSERT_FEEDBACK values, in logging order
    index: _GroupIndex  # the group index with this batch's changes (provisional new ids)


@dataclass(frozen=True, slots=True)
class _Conflict:
    """The database changed under the plan (it was rolled back): plan again without these."""

    stored_keys: frozenset[str]  # questions already stored (a batch committed before)
    not_open: frozenset[int]  # groups another process closed since the index was loaded


async def _plan_batch(
    items: list[_Item], groups: _GroupIndex, skip: set[str], not_open: set[int]
) -> _Plan:
    """Turn ``items`` into rows; group fallback questions as if each were committed alone.

    ``groups`` (the live index) is only read, and copied before any change. Questions
    in ``skip`` are left out, as are repeats of a key within the batch (the first wins);
    groups in ``not_open`` are dropped from the copy before matching.
    """
    plan = _Plan([], [], [], [], [], [], groups)
    seen = set(skip)
    bumps: dict[int, list[Any]] = {}  # existing group id -> [count, latest]
    created: dict[int, list[Any]] = {}  # provisional id -> new group row
    last_active: dict[int, str] = {}  # per chat, only the latest time matters
    matches = 0
    for item in items:
        if isinstance(item, _FeedbackRow):
            f = item
            plan.votes.append((f.question_key, f.entry_id, f.value, f.user_id, f.created_at))
            continue
        q = item
        if q.key in seen:
            continue
        seen.add(q.key)
        group_id = None
        if q.decision == "fallback":
            # The normaliser may strip everything (e.g. only slang fillers): use the text.
            representative = q.normalized if _group_key(q.normalized) else q.text
            key = _group_key(representative)
        else:
            key = ""
        if key:  # else emoji or punctuation only: nothing an admin could answer
            if plan.index is groups:  # first change: copy on write
                plan.index = groups.copy()
                for stale in not_open:  # closed by another process; the index was stale
                    plan.index.discard(stale)
            group_id = plan.index.match(key)
            if group_id is None:
                group_id = -1 - len(created)
                plan.index.add(group_id, key)
                plan.new_group_keys.append(key)
                created[group_id] = [q.text, representative, 1, q.asked_at, q.asked_at]
            elif group_id in created:
                row = created[group_id]
                row[2] += 1
                row[4] = max(row[4], q.asked_at)
            else:
                row = bumps.setdefault(group_id, [0, q.asked_at])
                row[0] += 1
                row[1] = max(row[1], q.asked_at)
            matches += 1
            if matches % _MATCHES_PER_YIELD == 0:
                await asyncio.sleep(0)  # matching is the costly part: let handlers run
        plan.questions.append(
            (
                q.key,
                q.asked_at,
                q.chat_type,
                q.user_id,
                q.chat_id,
                q.message_id,
                q.text,
                q.normalized,
                q.decision,
                q.entry_id,
                q.score,
                q.latency_ms,
                group_id,
            )
        )
        if q.chat_id is not None and q.asked_at > last_active.get(q.chat_id, ""):
            last_active[q.chat_id] = q.asked_at
    plan.new_groups = [tuple(row) for row in created.values()]
    plan.bumps = [(group_id, n, latest) for group_id, (n, latest) in bumps.items()]
    plan.chats = list(last_active.items())
    return plan


def _final_index(plan: _Plan, first_new_id: int) -> _GroupIndex:
    """The plan's index with the new groups under the ids the database gave them."""
    for k, key in enumerate(plan.new_group_keys):
        plan.index.discard(-1 - k)
        plan.index.add(first_new_id + k, key)
    return plan.index


def _apply_plan(con: sqlite3.Connection, plan: _Plan) -> int | _Conflict:
    """Write a planned batch in one IMMEDIATE transaction, on the database thread.

    Returns the id of the first new group (the others follow it), or, after rolling
    back, a _Conflict when the database held what the plan could not know about.
    """
    # IMMEDIATE takes the write lock up front, so "locked" surfaces here (after busy_timeout)
    # instead of midway through a batch. From here on nobody else writes.
    con.execute("BEGIN IMMEDIATE")
    try:
        if con.executemany(_BUMP_GROUP, plan.bumps).rowcount < len(plan.bumps):
            closed = frozenset(
                group_id
                for group_id, _n, _latest in plan.bumps
                if not con.execute(
                    "SELECT 1 FROM unanswered_groups WHERE id = ? AND status = 'open'",
                    (group_id,),
                ).fetchone()
            )
            con.execute("ROLLBACK")
            return _Conflict(frozenset(), closed)
        questions = plan.questions
        first_new_id = 0
        if plan.new_groups:
            # The ids SQLite would choose itself, one after another.
            [(top,)] = con.execute("SELECT coalesce(max(id), 0) FROM unanswered_groups")
            first_new_id = int(top) + 1
            con.executemany(
                _NEW_GROUP, [(first_new_id + k, *row) for k, row in enumerate(plan.new_groups)]
            )
            questions = [
                row if row[-1] is None or row[-1] > 0 else (*row[:-1], first_new_id - 1 - row[-1])
                for row in questions
            ]
        if con.executemany(_INSERT_QUESTION, questions).rowcount < len(questions):
            con.execute("ROLLBACK")  # keys stored before this batch stay; ours are gone
            stored = frozenset(
                row[0]
                for row in questions
                if con.execute("SELECT 1 FROM questions WHERE key = ?", (row[0],)).fetchone()
            )
            return _Conflict(stored, frozenset())
        con.executemany(_TOUCH_CHAT, plan.chats)
        con.executemany(_UPSERT_FEEDBACK, plan.votes)
        con.execute("COMMIT")
    except BaseException:
        # Unconditional: SQLite may already have rolled back (e.g. on SQLITE_FULL), in which
        # case this fails harmlessly. A transaction left open would make every BEGIN fail.
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        raise
    return first_new_id


# --------------------------------------------------------------------------- storage


class Storage:
    """Async SQLite storage. Create with ``await Storage.open(path)``."""

    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        groups: _GroupIndex,
        *,
        buffer_limit: int,
        batch_size: int,
        busy_timeout_ms: int,
        max_retry_delay: float,
    ) -> None:
        self._path = path
        self._writer: aiosqlite.Connection | None = writer
        self._reader: aiosqlite.Connection | None = reader
        self._writer_stale = False
        self._reader_stale = False
        self._groups = groups
        self._buffer_limit = buffer_limit
        self._batch_size = batch_size
        self._busy_timeout_ms = busy_timeout_ms
        self._max_retry_delay = max_retry_delay

        self._buffer: deque[tuple[int, _Item]] = deque()
        self._inflight: deque[tuple[int, _Item]] = deque()  # taken by the writer, not committed
        self._seq = 0  # sequence number of the last buffered item
        self._write_lock = asyncio.Lock()
        self._data_ready = asyncio.Event()
        self._kick = asyncio.Event()  # flush/close: retry now instead of finishing the backoff
        self._progress = asyncio.Event()  # replaced after every write attempt

        self._attempts = 0
        self._last_error: BaseException | None = None
        self._failures = 0  # consecutive failed attempts
        self._last_failure_log = 0.0
        self._dropped = 0  # overflowed the buffer
        self._dropped_in_outage = 0
        self._rejected = 0  # invalid input or rows SQLite refused

        self._closed = False
        self._writer_task = asyncio.create_task(self._writer_loop(), name="storage-writer")

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        group_similarity: float = 88.0,
        buffer_limit: int = 10_000,
        batch_size: int = _BATCH_SIZE,
        busy_timeout_ms: int = 5_000,
        max_retry_delay: float = 10.0,
    ) -> Storage:
        """Open (creating folder and file if needed), migrate and start the writer task."""
        if str(path) == ":memory:":
            raise ValueError("Storage needs a file: the writer and reader share it")
        if not 0 < group_similarity <= 100:
            raise ValueError("group_similarity must be in (0, 100]")
        if buffer_limit < 1 or batch_size < 1 or busy_timeout_ms < 0 or max_retry_delay <= 0:
            raise ValueError("buffer_limit, batch_size, max_retry_delay must be positive")
        if not _aiosqlite_supported():
            raise StorageError(
                f"aiosqlite {aiosqlite.__version__} lacks Connection._execute/_conn, "
                "which the log writer uses to commit a batch in one call"
            )
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = reader = None
        try:
            writer = await _connect(path, busy_timeout_ms, reader=False)
            await _migrate(writer)
            groups = await _load_group_index(writer, group_similarity)
            reader = await _connect(path, busy_timeout_ms, reader=True)
        except BaseException as exc:
            for db in (reader, writer):
                if db is not None:
                    with contextlib.suppress(Exception):
                        await db.close()
            if isinstance(exc, sqlite3.Error):
                raise StorageUnavailable(f"cannot open {path}: {exc}") from exc
            raise
        logger.info(
            "storage opened: %s (schema v%d, %d open groups)", path, SCHEMA_VERSION, len(groups)
        )
        return cls(
            path,
            writer,
            reader,
            groups,
            buffer_limit=buffer_limit,
            batch_size=batch_size,
            busy_timeout_ms=busy_timeout_ms,
            max_retry_delay=max_retry_delay,
        )

    async def __aenter__(self) -> Storage:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self, timeout: float = 10.0) -> None:
        """Flush what can be flushed within ``timeout`` seconds, then close. Idempotent."""
        if self._closed:
            return
        try:
            async with asyncio.timeout(timeout):
                while self.pending_count and not self._writer_task.done():
                    try:
                        await self.flush()
                    except StorageUnavailable:
                        await asyncio.sleep(min(0.2, self._max_retry_delay))
        except TimeoutError:
            pass
        if self.pending_count:
            logger.error("storage closing with %d unwritten rows (lost)", self.pending_count)
        self._closed = True
        self._writer_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._writer_task
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer.execute("PRAGMA optimize")  # cheap; keeps planner stats fresh
        for db in (self._writer, self._reader):
            if db is not None:
                with contextlib.suppress(Exception):
                    await db.close()
        self._writer = self._reader = None
        logger.info("storage closed: %s", self._path)

    # ------------------------------------------------------------------ health

    @property
    def path(self) -> Path:
        return self._path

    @property
    def pending_count(self) -> int:
        """Rows accepted but not yet committed."""
        return len(self._buffer) + len(self._inflight)

    @property
    def dropped_count(self) -> int:
        """Rows discarded because the buffer overflowed while the database was unavailable."""
        return self._dropped

    @property
    def rejected_count(self) -> int:
        """Rows discarded as invalid (bad input, or values SQLite refused)."""
        return self._rejected

    @property
    def healthy(self) -> bool:
        """False while the last write attempt failed."""
        return self._last_error is None and not self._closed

    # ------------------------------------------------------------------ buffered writes

    def log_question(self, rec: QuestionRecord) -> None:
        """Queue a question for the writer. Never raises, never blocks."""
        try:
            row = _QuestionRow.from_record(rec)
        except Exception as exc:  # a caller bug must not break the reply path
            self._reject(f"question {getattr(rec, 'key', '?')!r}", exc)
            return
        self._enqueue(row)

    def log_feedback(
        self,
        question_key: str,
        entry_id: str,
        user_id: int | None,
        value: int,
        *,
        created_at: datetime | None = None,
    ) -> None:
        """Queue a vote (+1/-1); a later vote by the same user on the same question replaces it."""
        try:
            if not isinstance(question_key, str) or not 0 < len(question_key) <= MAX_KEY_LEN:
                raise ValueError("question_key must be a non-empty short string")
            if not isinstance(entry_id, str) or not entry_id:
                raise ValueError("entry_id must be a non-empty string")
            if isinstance(value, bool) or value not in (1, -1):
                raise ValueError("value must be +1 or -1")
            row = _FeedbackRow(
                question_key=question_key,
                entry_id=entry_id,
                value=int(value),
                user_id=_opt_int("user_id", user_id),
                created_at=_utc_iso(created_at or _now()),
            )
        except Exception as exc:
            self._reject(f"feedback for {question_key!r}", exc)
            return
        self._enqueue(row)

    def _reject(self, what: str, exc: BaseException) -> None:
        self._rejected += 1
        logger.error("storage: rejected %s: %s", what, exc)

    def _enqueue(self, item: _Item) -> None:
        if self._closed:
            self._dropped += 1
            logger.warning("storage: closed, dropping a %s row", type(item).__name__)
            return
        if len(self._buffer) >= self._buffer_limit:
            self._buffer.popleft()
            self._count_drop(1)
        self._seq += 1
        self._buffer.append((self._seq, item))
        self._data_ready.set()

    def _count_drop(self, n: int) -> None:
        before = self._dropped_in_outage
        self._dropped += n
        self._dropped_in_outage += n
        if before == 0 or before // _DROP_LOG_EVERY != self._dropped_in_outage // _DROP_LOG_EVERY:
            logger.warning(
                "storage buffer full (%d rows): dropped %d oldest rows so far in this outage",
                self._buffer_limit,
                self._dropped_in_outage,
            )

    async def flush(self) -> None:
        """Wait until everything buffered before this call is committed.

        Raises StorageUnavailable if a write attempt made meanwhile fails; the rows stay
        buffered and the writer keeps retrying in the background.
        """
        target = self._seq
        start = self._attempts
        self._kick.set()
        self._data_ready.set()
        while self._oldest_pending_seq() <= target:
            if self._closed or self._writer_task.done():
                raise StorageUnavailable("storage writer is not running")
            if self._attempts > start and self._last_error is not None:
                raise StorageUnavailable(
                    f"database unavailable: {self._last_error}"
                ) from self._last_error
            await self._progress.wait()

    def _oldest_pending_seq(self) -> float:
        if self._inflight:
            return self._inflight[0][0]
        if self._buffer:
            return self._buffer[0][0]
        return math.inf

    def _signal_progress(self) -> None:
        self._progress.set()
        self._progress = asyncio.Event()

    # ------------------------------------------------------------------ writer task

    async def _writer_loop(self) -> None:
        delay = 0.0
        try:
            while True:
                if not self._buffer:
                    self._data_ready.clear()
                    await self._data_ready.wait()
                    continue
                self._kick.clear()
                try:
                    ok = await self._write_batch()
                except Exception as exc:  # a bug here must not strand the buffer forever
                    logger.exception("storage writer: unexpected error")
                    self._requeue_inflight()
                    self._record_attempt(exc)
                    ok = False
                self._signal_progress()
                if ok:
                    delay = 0.0
                    continue
                delay = min(self._max_retry_delay, max(_MIN_RETRY_DELAY, delay * 2))
                with contextlib.suppress(TimeoutError):
                    # Jitter avoids lock-step retries with another process on the same file.
                    async with asyncio.timeout(delay * random.uniform(0.8, 1.2)):
                        await self._kick.wait()
        finally:
            self._signal_progress()  # wake flush() waiters so they notice the writer is gone

    def _take_batch(self) -> list[_Item]:
        for _ in range(min(self._batch_size, len(self._buffer))):
            self._inflight.append(self._buffer.popleft())
        return [item for _seq, item in self._inflight]

    def _requeue_inflight(self) -> None:
        """Put uncommitted rows back in front, then trim the oldest beyond the limit."""
        self._buffer.extendleft(reversed(self._inflight))
        self._inflight.clear()
        overflow = len(self._buffer) - self._buffer_limit
        if overflow > 0:
            for _ in range(overflow):
                self._buffer.popleft()
            self._count_drop(overflow)

    async def _write_batch(self) -> bool:
        """One write attempt. True when the batch left the buffer (committed or rejected)."""
        batch = self._take_batch()
        async with self._write_lock:
            try:
                db = await self._writer_conn()
                groups = await self._commit(db, batch)
            except Exception as exc:
                if _is_row_error(exc):
                    # Some row is unstorable: isolate it so the others still get written.
                    return await self._write_one_by_one()
                self._requeue_inflight()
                self._record_attempt(exc)
                return False
            self._groups = groups
            self._inflight.clear()
        self._record_attempt(None)
        return True

    async def _write_one_by_one(self) -> bool:
        while self._inflight:
            _seq, item = self._inflight[0]
            try:
                db = await self._writer_conn()
                self._groups = await self._commit(db, [item])
            except Exception as exc:
                if not _is_row_error(exc):
                    self._requeue_inflight()
                    self._record_attempt(exc)
                    return False
                self._reject(f"{type(item).__name__} (SQLite refused it)", exc)
            self._inflight.popleft()
        self._record_attempt(None)
        return True

    def _record_attempt(self, exc: BaseException | None) -> None:
        self._attempts += 1
        self._last_error = exc
        if exc is None:
            if self._failures:
                logger.warning(
                    "storage writes recovered after %d failed attempts (%d rows dropped)",
                    self._failures,
                    self._dropped_in_outage,
                )
            self._failures = 0
            self._dropped_in_outage = 0
            return
        self._failures += 1
        if _needs_reopen(exc):
            self._writer_stale = True
        now = time.monotonic()
        if self._failures == 1 or now - self._last_failure_log >= _FAILURE_LOG_INTERVAL:
            self._last_failure_log = now
            logger.warning(
                "storage write failed (%d in a row, %d rows buffered): %s",
                self._failures,
                self.pending_count,
                exc,
            )
        else:
            logger.debug("storage write failed again: %s", exc)

    async def _writer_conn(self) -> aiosqlite.Connection:
        """The writer connection, reopened (and the group index reloaded) if it went stale."""
        if self._closed:
            raise StorageUnavailable("storage is closed")
        if self._writer is not None and not self._writer_stale:
            return self._writer
        old, self._writer = self._writer, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()
        db = await _connect(self._path, self._busy_timeout_ms, reader=False)
        try:
            await _migrate(db)  # the file may have been replaced by a fresh one
            self._groups = await _load_group_index(db, self._groups.threshold)
        except BaseException:
            await db.close()
            raise
        self._writer, self._writer_stale = db, False
        logger.info("storage writer connection reopened")
        return db

    async def _commit(self, db: aiosqlite.Connection, items: list[_Item]) -> _GroupIndex:
        """Write ``items`` in one transaction; return the group index as of the commit.

        Planned on the event loop, then ONE call on the database thread (see "batch
        writer"). Group changes are staged on a copy, so a rolled-back batch leaves the live
        index untouched; the caller installs the copy only once the commit succeeded (the
        write lock keeps the live index from changing meanwhile).
        """
        skip: set[str] = set()
        not_open: set[int] = set()
        while True:  # a conflict is rare, and each one excludes at least one more row/group
            plan = await _plan_batch(items, self._groups, skip, not_open)
            outcome = await _on_db_thread(db, _apply_plan, plan)
            if not isinstance(outcome, _Conflict):
                return _final_index(plan, outcome)
            if outcome.stored_keys <= skip and outcome.not_open <= not_open:
                # Cannot happen (the thread checks inside its transaction); never spin on it:
                # the batch goes back to the buffer and is retried after a backoff.
                raise StorageError("storage: a batch conflict did not resolve")
            if outcome.stored_keys:
                logger.debug("storage: %d questions already stored", len(outcome.stored_keys))
            skip |= outcome.stored_keys
            not_open |= outcome.not_open

    # ------------------------------------------------------------------ direct writes

    async def _write(
        self,
        op: Callable[[aiosqlite.Connection], Awaitable[T]],
        on_commit: Callable[[T], None] | None = None,
    ) -> T:
        """Run ``op`` in its own transaction on the writer connection, now.

        ``on_commit`` runs under the write lock after a successful commit: the place to
        update in-memory state (the group index) that the writer task also uses.
        """
        self._require_open()
        async with self._write_lock:
            try:
                db = await self._writer_conn()
                async with _transaction(db):
                    result = await op(db)
            except StorageError:
                raise
            except Exception as exc:
                if not _is_unavailable(exc):
                    raise
                if _needs_reopen(exc):
                    self._writer_stale = True
                raise StorageUnavailable(f"database unavailable: {exc}") from exc
            if on_commit is not None:
                on_commit(result)
            return result

    async def set_group_status(
        self,
        group_id: int,
        status: str,
        *,
        answer_text: str | None = None,
        entry_id: str | None = None,
    ) -> bool:
        """Change a group's status; False if no such group. Only "answered" takes an answer."""
        if status not in GROUP_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        if status != "answered" and (answer_text is not None or entry_id is not None):
            raise ValueError("answer_text/entry_id only go with status 'answered'")
        answer = None if answer_text is None else _clean_text(answer_text)

        async def op(db: aiosqlite.Connection) -> str | None:
            if status == "answered":
                sql = """UPDATE unanswered_groups
                         SET status = ?, answered_at = ?, answer_text = ?, entry_id = ?
                         WHERE id = ?"""
                params: tuple[Any, ...] = (status, _utc_iso(_now()), answer, entry_id, group_id)
            else:
                sql = "UPDATE unanswered_groups SET status = ?, answered_at = NULL WHERE id = ?"
                params = (status, group_id)
            changed, _ = await _run(db, sql, params)
            if not changed:
                return None
            row = await _fetchone(
                db, "SELECT normalized FROM unanswered_groups WHERE id = ?", (group_id,)
            )
            return str(row["normalized"])

        def sync_index(normalized: str | None) -> None:
            if normalized is None:
                return
            if status == "open":
                self._groups.add(group_id, _group_key(normalized))
            else:  # answered/ignored groups must not absorb new questions
                self._groups.discard(group_id)

        return await self._write(op, sync_index) is not None

    async def mark_chat_inactive(self, chat_id: int) -> None:
        """Remember that Telegram refused delivery (user blocked the bot, bot was removed)."""
        if _opt_int("chat_id", chat_id) is None:
            raise ValueError("chat_id is required")

        async def op(db: aiosqlite.Connection) -> None:
            await _run(
                db,
                """INSERT INTO chats (chat_id, inactive_since) VALUES (?, ?)
                   ON CONFLICT (chat_id) DO UPDATE SET
                       inactive_since = coalesce(inactive_since, excluded.inactive_since)""",
                (chat_id, _utc_iso(_now())),
            )

        await self._write(op)

    async def purge_personal_ids(self, older_than_days: int) -> int:
        """Forget who asked/voted on rows older than the cutoff; return rows changed."""
        if older_than_days < 0:
            raise ValueError("older_than_days must be >= 0")
        cutoff = _utc_iso(_now() - timedelta(days=older_than_days))

        async def op(db: aiosqlite.Connection) -> int:
            questions, _ = await _run(
                db,
                """UPDATE questions SET user_id = NULL, chat_id = NULL, message_id = NULL
                   WHERE asked_at < ? AND (user_id IS NOT NULL OR chat_id IS NOT NULL
                                           OR message_id IS NOT NULL)""",
                (cutoff,),
            )
            votes, _ = await _run(
                db,
                "UPDATE feedback SET user_id = NULL WHERE created_at < ? AND user_id IS NOT NULL",
                (cutoff,),
            )
            # A chat silent since the cutoff has no stored question left that names it.
            chats, _ = await _run(
                db,
                "DELETE FROM chats WHERE coalesce(last_active, inactive_since) < ?",
                (cutoff,),
            )
            return questions + votes + chats

        changed = await self._write(op)
        logger.info(
            "storage: purged personal ids older than %d days (%d rows)", older_than_days, changed
        )
        return changed

    # ------------------------------------------------------------------ reads

    def _require_open(self) -> None:
        if self._closed:
            raise StorageError("storage is closed")

    async def _read(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        self._require_open()
        try:
            if self._reader is None or self._reader_stale:
                await self._reopen_reader()
            assert self._reader is not None
            return await _fetchall(self._reader, sql, params)
        except Exception as exc:
            if not _is_unavailable(exc):
                raise
            if _needs_reopen(exc):
                self._reader_stale = True
            raise StorageUnavailable(f"database unavailable: {exc}") from exc

    async def _reopen_reader(self) -> None:
        old, self._reader = self._reader, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()
        self._reader = await _connect(self._path, self._busy_timeout_ms, reader=True)
        self._reader_stale = False

    async def open_groups(self, limit: int = 10, offset: int = 0) -> list[Group]:
        """Open groups, most asked first, then most recently asked."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must be >= 0")
        rows = await self._read(
            f"""SELECT {_GROUP_COLUMNS} FROM unanswered_groups WHERE status = 'open'
                ORDER BY count DESC, last_seen DESC, id DESC LIMIT ? OFFSET ?""",
            (limit, offset),
        )
        return [_row_to_group(r) for r in rows]

    async def count_open_groups(self) -> int:
        rows = await self._read("SELECT COUNT(*) FROM unanswered_groups WHERE status = 'open'")
        return int(rows[0][0])

    async def get_group(self, group_id: int) -> Group | None:
        rows = await self._read(
            f"SELECT {_GROUP_COLUMNS} FROM unanswered_groups WHERE id = ?", (group_id,)
        )
        return _row_to_group(rows[0]) if rows else None

    async def group_questions(self, group_id: int) -> list[str]:
        """Distinct raw texts of a group's questions, oldest first (to replay them)."""
        rows = await self._read(
            """SELECT text FROM questions WHERE group_id = ?
               GROUP BY text ORDER BY MIN(asked_at), MIN(rowid)""",
            (group_id,),
        )
        return [r["text"] for r in rows]

    async def group_recipients(self, group_id: int) -> list[tuple[int, int | None]]:
        """(chat_id, message_id) to notify once a group is answered: one per chat.

        Uses each chat's latest question (preferring one with a message id to reply to),
        skips purged rows and chats marked inactive.
        """
        rows = await self._read(
            """SELECT chat_id, message_id FROM (
                   SELECT q.chat_id, q.message_id, q.asked_at,
                          ROW_NUMBER() OVER (
                              PARTITION BY q.chat_id
                              ORDER BY q.message_id IS NULL, q.asked_at DESC, q.rowid DESC
                          ) AS rn
                   FROM questions q LEFT JOIN chats c ON c.chat_id = q.chat_id
                   WHERE q.group_id = ? AND q.chat_id IS NOT NULL AND c.inactive_since IS NULL
               ) WHERE rn = 1 ORDER BY asked_at, chat_id""",
            (group_id,),
        )
        return [(int(r["chat_id"]), r["message_id"]) for r in rows]

    async def groups_since(self, since: datetime, status: str | None = "open") -> list[Group]:
        """Groups asked about at or after ``since`` (new or recurring); any status if None."""
        if status is not None and status not in GROUP_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        rows = await self._read(
            f"""SELECT {_GROUP_COLUMNS} FROM unanswered_groups
                WHERE last_seen >= ? AND (? IS NULL OR status = ?)
                ORDER BY count DESC, last_seen DESC, id DESC""",
            (_utc_iso(since), status, status),
        )
        return [_row_to_group(r) for r in rows]

    async def export_rows(self, days: int | None = None) -> list[dict[str, Any]]:
        """Question log for CSV export (keys = EXPORT_COLUMNS), oldest first, no personal ids."""
        if days is not None and days < 0:
            raise ValueError("days must be >= 0")
        since = None if days is None else _utc_iso(_now() - timedelta(days=days))
        rows = await self._read(
            """SELECT q.key, q.asked_at, q.chat_type, q.text, q.normalized, q.decision,
                      q.entry_id, q.score, q.latency_ms, q.group_id,
                      (SELECT COUNT(*) FROM feedback f
                       WHERE f.question_key = q.key AND f.value > 0) AS feedback_up,
                      (SELECT COUNT(*) FROM feedback f
                       WHERE f.question_key = q.key AND f.value < 0) AS feedback_down
               FROM questions q
               WHERE (? IS NULL OR q.asked_at >= ?)
               ORDER BY q.asked_at, q.key""",
            (since, since),
        )
        return [{col: r[col] for col in EXPORT_COLUMNS} for r in rows]

    async def stats(self, days: int = 7, *, tz: tzinfo = UTC, top: int = 10) -> Stats:
        """Dashboard numbers for today and the ``days - 1`` days before it, in ``tz``."""
        if days < 1:
            raise ValueError("days must be >= 1")
        now_local = _now().astimezone(tz)
        first_day = now_local.date() - timedelta(days=days - 1)
        since_dt = datetime.combine(first_day, datetime.min.time(), tzinfo=tz).astimezone(UTC)
        since = _utc_iso(since_dt)
        offset = now_local.utcoffset() or timedelta(0)
        # Fixed offset for the whole window: fine for WIB/WITA/WIT, which have no DST.
        shift = f"{int(offset.total_seconds() // 60):+d} minutes"

        totals = (
            await self._read(
                """SELECT COUNT(*) AS n, COUNT(DISTINCT user_id) AS users, AVG(latency_ms) AS lat
               FROM questions WHERE asked_at >= ?""",
                (since,),
            )
        )[0]
        by_day = await self._read(
            """SELECT date(asked_at, ?) AS day, COUNT(*) AS n FROM questions
               WHERE asked_at >= ? GROUP BY day""",
            (shift, since),
        )
        by_decision = await self._read(
            "SELECT decision, COUNT(*) AS n FROM questions WHERE asked_at >= ? GROUP BY decision",
            (since,),
        )
        entries = await self._read(
            """SELECT entry_id, COUNT(*) AS n FROM questions
               WHERE asked_at >= ? AND decision = 'answer' AND entry_id IS NOT NULL
               GROUP BY entry_id ORDER BY n DESC, entry_id LIMIT ?""",
            (since, top),
        )
        groups = await self._read(
            f"""SELECT {_GROUP_COLUMNS} FROM unanswered_groups
                WHERE status = 'open' AND last_seen >= ?
                ORDER BY count DESC, last_seen DESC, id DESC LIMIT ?""",
            (since, top),
        )
        votes = await self._read(
            """SELECT entry_id, SUM(value > 0) AS up, SUM(value < 0) AS down FROM feedback
               WHERE created_at >= ? GROUP BY entry_id ORDER BY down DESC, up DESC, entry_id""",
            (since,),
        )
        day_counts = {r["day"]: int(r["n"]) for r in by_day}
        decisions = dict.fromkeys(sorted(DECISIONS), 0)
        decisions.update({r["decision"]: int(r["n"]) for r in by_decision})
        return Stats(
            since=since_dt,
            days=days,
            total=int(totals["n"]),
            unique_users=int(totals["users"]),
            per_day=tuple(
                (d, day_counts.get(d.isoformat(), 0))
                for d in (first_day + timedelta(days=i) for i in range(days))
            ),
            decisions=decisions,
            top_entries=tuple((r["entry_id"], int(r["n"])) for r in entries),
            top_open_groups=tuple(_row_to_group(r) for r in groups),
            feedback=tuple(
                EntryFeedback(r["entry_id"], int(r["up"]), int(r["down"])) for r in votes
            ),
            open_groups=await self.count_open_groups(),
            avg_latency_ms=None if totals["lat"] is None else float(totals["lat"]),
        )

    async def integrity_ok(self) -> bool:
        """Run SQLite's integrity check; False on any problem (details are logged)."""
        try:
            rows = await self._read("PRAGMA integrity_check")
        except StorageError as exc:
            logger.error("storage integrity check could not run: %s", exc)
            return False
        except sqlite3.DatabaseError as exc:
            logger.error("storage integrity check failed: %s", exc)
            return False
        problems = [r[0] for r in rows if r[0] != "ok"]
        if problems:
            logger.error("storage integrity problems: %s", "; ".join(problems[:10]))
        return not problems and bool(rows)
