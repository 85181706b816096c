"""The Storage facade: opening and closing, the admin writes, and every query.

Two connections to one SQLite file in WAL mode: the *writer* (owned by the log writer,
see ``writer``) and a read-only *reader*, so slow dashboard queries never queue behind a
batch commit. All calls must come from the event-loop thread that opened the storage.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, TypeVar

from bot.storage.connection import Connection, connect, is_unavailable, needs_reopen
from bot.storage.grouping import group_key
from bot.storage.records import (
    DECISIONS,
    EXPORT_COLUMNS,
    GROUP_COLUMNS,
    GROUP_STATUSES,
    EntryFeedback,
    Group,
    QuestionRecord,
    Stats,
    StorageError,
    StorageUnavailable,
    clean_text,
    opt_int,
    row_to_group,
    utc_iso,
    utc_now,
)
from bot.storage.schema import SCHEMA_VERSION
from bot.storage.writer import BATCH_SIZE, LogWriter, open_writer

logger = logging.getLogger("bot.storage")

T = TypeVar("T")


class Storage:
    """Async SQLite storage. Create with ``await Storage.open(path)``."""

    def __init__(
        self, path: Path, log: LogWriter, reader: Connection, busy_timeout_ms: int
    ) -> None:
        self._path = path
        self._log = log
        self._reader: Connection | None = reader
        self._reader_stale = False
        self._busy_timeout_ms = busy_timeout_ms

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        group_similarity: float = 88.0,
        buffer_limit: int = 10_000,
        batch_size: int = BATCH_SIZE,
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
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = reader = None
        try:
            writer, groups = await open_writer(path, busy_timeout_ms, group_similarity)
            reader = await connect(path, busy_timeout_ms, reader=True)
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
        log = LogWriter(
            path,
            writer,
            groups,
            buffer_limit=buffer_limit,
            batch_size=batch_size,
            busy_timeout_ms=busy_timeout_ms,
            max_retry_delay=max_retry_delay,
        )
        return cls(path, log, reader, busy_timeout_ms)

    async def __aenter__(self) -> Storage:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self, timeout: float = 10.0) -> None:
        """Flush what can be flushed within ``timeout`` seconds, then close. Idempotent."""
        if self._log.closed:
            return
        await self._log.close(timeout)
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader.close()
        self._reader = None
        logger.info("storage closed: %s", self._path)

    # ------------------------------------------------------------------ health

    @property
    def path(self) -> Path:
        return self._path

    @property
    def pending_count(self) -> int:
        """Rows accepted but not yet committed."""
        return self._log.pending_count

    @property
    def dropped_count(self) -> int:
        """Rows discarded because the buffer overflowed while the database was unavailable."""
        return self._log.dropped

    @property
    def rejected_count(self) -> int:
        """Rows discarded as invalid (bad input, or values SQLite refused)."""
        return self._log.rejected

    @property
    def healthy(self) -> bool:
        """False while the last write attempt failed."""
        return self._log.last_error is None and not self._log.closed

    @property
    def _writer(self) -> Connection | None:
        """Test hook: the writer connection (to make it fail as a disk or file would)."""
        return self._log.db

    # ------------------------------------------------------------------ buffered writes

    def log_question(self, rec: QuestionRecord) -> None:
        """Queue a question for the writer. Never raises, never blocks."""
        self._log.log_question(rec)

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
        self._log.log_feedback(question_key, entry_id, user_id, value, created_at=created_at)

    async def flush(self) -> None:
        """Wait until everything buffered before this call is committed.

        Raises StorageUnavailable if a write attempt made meanwhile fails; the rows stay
        buffered and the writer keeps retrying in the background.
        """
        await self._log.flush()

    # ------------------------------------------------------------------ direct writes

    async def _write(
        self,
        op: Callable[[sqlite3.Connection], T],
        on_commit: Callable[[T], None] | None = None,
    ) -> T:
        """``op(con)`` in its own transaction on the writer connection, now (see
        LogWriter.write)."""
        self._require_open()
        return await self._log.write(op, on_commit)

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
        answer = None if answer_text is None else clean_text(answer_text)
        if status == "answered":
            sql = """UPDATE unanswered_groups
                     SET status = ?, answered_at = ?, answer_text = ?, entry_id = ?
                     WHERE id = ?"""
            params: tuple[Any, ...] = (status, utc_iso(utc_now()), answer, entry_id, group_id)
        else:
            sql = "UPDATE unanswered_groups SET status = ?, answered_at = NULL WHERE id = ?"
            params = (status, group_id)

        def op(con: sqlite3.Connection) -> str | None:
            if not con.execute(sql, params).rowcount:
                return None
            row = con.execute(
                "SELECT normalized FROM unanswered_groups WHERE id = ?", (group_id,)
            ).fetchone()
            return str(row["normalized"])

        def sync_index(normalized: str | None) -> None:
            if normalized is None:
                return
            if status == "open":
                self._log.groups.add(group_id, group_key(normalized))
            else:  # answered/ignored groups must not absorb new questions
                self._log.groups.discard(group_id)

        return await self._write(op, sync_index) is not None

    async def mark_chat_inactive(self, chat_id: int) -> None:
        """Remember that Telegram refused delivery (user blocked the bot, bot was removed)."""
        if opt_int("chat_id", chat_id) is None:
            raise ValueError("chat_id is required")
        since = utc_iso(utc_now())

        def op(con: sqlite3.Connection) -> None:
            con.execute(
                """INSERT INTO chats (chat_id, inactive_since) VALUES (?, ?)
                   ON CONFLICT (chat_id) DO UPDATE SET
                       inactive_since = coalesce(inactive_since, excluded.inactive_since)""",
                (chat_id, since),
            )

        await self._write(op)

    async def purge_personal_ids(self, older_than_days: int) -> int:
        """Forget who asked/voted on rows older than the cutoff; return rows changed."""
        if older_than_days < 0:
            raise ValueError("older_than_days must be >= 0")
        cutoff = utc_iso(utc_now() - timedelta(days=older_than_days))

        def op(con: sqlite3.Connection) -> int:
            questions = con.execute(
                """UPDATE questions SET user_id = NULL, chat_id = NULL, message_id = NULL
                   WHERE asked_at < ? AND (user_id IS NOT NULL OR chat_id IS NOT NULL
                                           OR message_id IS NOT NULL)""",
                (cutoff,),
            ).rowcount
            votes = con.execute(
                "UPDATE feedback SET user_id = NULL WHERE created_at < ? AND user_id IS NOT NULL",
                (cutoff,),
            ).rowcount
            # A chat silent since the cutoff has no stored question left that names it.
            chats = con.execute(
                "DELETE FROM chats WHERE coalesce(last_active, inactive_since) < ?", (cutoff,)
            ).rowcount
            return questions + votes + chats

        changed = await self._write(op)
        logger.info(
            "storage: purged personal ids older than %d days (%d rows)", older_than_days, changed
        )
        return changed

    # ------------------------------------------------------------------ reads

    def _require_open(self) -> None:
        if self._log.closed:
            raise StorageError("storage is closed")

    async def _read(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        self._require_open()
        try:
            if self._reader is None or self._reader_stale:
                await self._reopen_reader()
            assert self._reader is not None
            return (await self._reader.execute(sql, params)).rows
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            if needs_reopen(exc):
                self._reader_stale = True
            raise StorageUnavailable(f"database unavailable: {exc}") from exc

    async def _reopen_reader(self) -> None:
        old, self._reader = self._reader, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()
        self._reader = await connect(self._path, self._busy_timeout_ms, reader=True)
        self._reader_stale = False

    async def open_groups(self, limit: int = 10, offset: int = 0) -> list[Group]:
        """Open groups, most asked first, then most recently asked."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must be >= 0")
        rows = await self._read(
            f"""SELECT {GROUP_COLUMNS} FROM unanswered_groups WHERE status = 'open'
                ORDER BY count DESC, last_seen DESC, id DESC LIMIT ? OFFSET ?""",
            (limit, offset),
        )
        return [row_to_group(r) for r in rows]

    async def count_open_groups(self) -> int:
        rows = await self._read("SELECT COUNT(*) FROM unanswered_groups WHERE status = 'open'")
        return int(rows[0][0])

    async def get_group(self, group_id: int) -> Group | None:
        rows = await self._read(
            f"SELECT {GROUP_COLUMNS} FROM unanswered_groups WHERE id = ?", (group_id,)
        )
        return row_to_group(rows[0]) if rows else None

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
            f"""SELECT {GROUP_COLUMNS} FROM unanswered_groups
                WHERE last_seen >= ? AND (? IS NULL OR status = ?)
                ORDER BY count DESC, last_seen DESC, id DESC""",
            (utc_iso(since), status, status),
        )
        return [row_to_group(r) for r in rows]

    async def export_rows(self, days: int | None = None) -> list[dict[str, Any]]:
        """Question log for CSV export (keys = EXPORT_COLUMNS), oldest first, no personal ids."""
        if days is not None and days < 0:
            raise ValueError("days must be >= 0")
        since = None if days is None else utc_iso(utc_now() - timedelta(days=days))
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
        now_local = utc_now().astimezone(tz)
        first_day = now_local.date() - timedelta(days=days - 1)
        since_dt = datetime.combine(first_day, datetime.min.time(), tzinfo=tz).astimezone(UTC)
        since = utc_iso(since_dt)
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
            f"""SELECT {GROUP_COLUMNS} FROM unanswered_groups
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
            top_open_groups=tuple(row_to_group(r) for r in groups),
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
