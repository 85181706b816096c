"""The buffered log writer: the one owner of the writer connection.

``log_question`` / ``log_feedback`` are synchronous and never raise: they validate, append
to a bounded deque and wake the writer task. The task commits the buffer in batches, one
transaction per batch (see ``batch``), so a crash loses at most what was not yet
committed. When SQLite is unavailable (locked, disk full, read-only, I/O error) rows stay
buffered and the writer retries with exponential backoff; when the buffer is full the
OLDEST rows are dropped and counted. A batch stages its group changes on a copy of the
group index that replaces the live one only after the commit, so a failed (rolled back,
later retried) batch never leaves a trace in it.

The few awaited admin writes (``write``) share the connection, serialised with the batches
by one asyncio lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Final, TypeVar

from bot.storage.batch import Conflict, Item, apply_plan, final_index, plan_batch
from bot.storage.connection import (
    Connection,
    connect,
    is_row_error,
    is_unavailable,
    needs_reopen,
    transaction,
)
from bot.storage.grouping import GroupIndex, load_group_index
from bot.storage.records import (
    MAX_KEY_LEN,
    FeedbackRow,
    QuestionRecord,
    StorageError,
    StorageUnavailable,
    opt_int,
    utc_iso,
    utc_now,
    validated_question,
)
from bot.storage.schema import migrate

logger = logging.getLogger("bot.storage")

T = TypeVar("T")

BATCH_SIZE: Final = 500
_MIN_RETRY_DELAY: Final = 0.05
_FAILURE_LOG_INTERVAL: Final = 60.0  # seconds between repeated "still failing" warnings
_DROP_LOG_EVERY: Final = 1000


async def open_writer(
    path: Path, busy_timeout_ms: int, group_similarity: float
) -> tuple[Connection, GroupIndex]:
    """The writer connection, the schema migrated, and the index of the open groups."""
    db = await connect(path, busy_timeout_ms, reader=False)
    try:
        await db.run(migrate)  # the file may have been replaced by a fresh one
        groups = await db.run(load_group_index, group_similarity)
    except BaseException:
        with contextlib.suppress(Exception):
            await db.close()
        raise
    return db, groups


class LogWriter:
    """The buffer of log rows and the task that commits it. Must be created on the event
    loop that uses it, with an open writer connection (``open_writer``)."""

    def __init__(
        self,
        path: Path,
        db: Connection,
        groups: GroupIndex,
        *,
        buffer_limit: int,
        batch_size: int,
        busy_timeout_ms: int,
        max_retry_delay: float,
    ) -> None:
        self._path = path
        self.db: Connection | None = db
        self._stale = False
        self.groups = groups  # open groups as of the last commit
        self._buffer_limit = buffer_limit
        self._batch_size = batch_size
        self._busy_timeout_ms = busy_timeout_ms
        self._max_retry_delay = max_retry_delay

        self._buffer: deque[tuple[int, Item]] = deque()
        self._inflight: deque[tuple[int, Item]] = deque()  # taken by the writer, not committed
        self._seq = 0  # sequence number of the last buffered item
        self._write_lock = asyncio.Lock()
        self._data_ready = asyncio.Event()
        self._kick = asyncio.Event()  # flush/close: retry now instead of finishing the backoff
        self._progress = asyncio.Event()  # replaced after every write attempt

        self._attempts = 0
        self.last_error: BaseException | None = None
        self._failures = 0  # consecutive failed attempts
        self._last_failure_log = 0.0
        self.dropped = 0  # overflowed the buffer
        self._dropped_in_outage = 0
        self.rejected = 0  # invalid input or rows SQLite refused

        self.closed = False
        self._task = asyncio.create_task(self._writer_loop(), name="storage-writer")

    @property
    def pending_count(self) -> int:
        """Rows accepted but not yet committed."""
        return len(self._buffer) + len(self._inflight)

    async def close(self, timeout: float) -> None:
        """Flush what can be flushed within ``timeout`` seconds, then close."""
        try:
            async with asyncio.timeout(timeout):
                while self.pending_count and not self._task.done():
                    try:
                        await self.flush()
                    except StorageUnavailable:
                        await asyncio.sleep(min(0.2, self._max_retry_delay))
        except TimeoutError:
            pass
        if self.pending_count:
            logger.error("storage closing with %d unwritten rows (lost)", self.pending_count)
        self.closed = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        if self.db is not None:
            with contextlib.suppress(Exception):
                await self.db.execute("PRAGMA optimize")  # cheap; keeps planner stats fresh
            with contextlib.suppress(Exception):
                await self.db.close()
        self.db = None

    # ------------------------------------------------------------------ buffered writes

    def log_question(self, rec: QuestionRecord) -> None:
        """Queue a question for the writer. Never raises, never blocks."""
        try:
            row = validated_question(rec)
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
            row = FeedbackRow(
                question_key=question_key,
                entry_id=entry_id,
                value=int(value),
                user_id=opt_int("user_id", user_id),
                created_at=utc_iso(created_at or utc_now()),
            )
        except Exception as exc:
            self._reject(f"feedback for {question_key!r}", exc)
            return
        self._enqueue(row)

    def _reject(self, what: str, exc: BaseException) -> None:
        self.rejected += 1
        logger.error("storage: rejected %s: %s", what, exc)

    def _enqueue(self, item: Item) -> None:
        if self.closed:
            self.dropped += 1
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
        self.dropped += n
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
            if self.closed or self._task.done():
                raise StorageUnavailable("storage writer is not running")
            if self._attempts > start and self.last_error is not None:
                raise StorageUnavailable(
                    f"database unavailable: {self.last_error}"
                ) from self.last_error
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

    def _take_batch(self) -> list[Item]:
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
                db = await self._connection()
                groups = await self._commit(db, batch)
            except Exception as exc:
                if is_row_error(exc):
                    # Some row is unstorable: isolate it so the others still get written.
                    return await self._write_one_by_one()
                self._requeue_inflight()
                self._record_attempt(exc)
                return False
            self.groups = groups
            self._inflight.clear()
        self._record_attempt(None)
        return True

    async def _write_one_by_one(self) -> bool:
        while self._inflight:
            _seq, item = self._inflight[0]
            try:
                db = await self._connection()
                self.groups = await self._commit(db, [item])
            except Exception as exc:
                if not is_row_error(exc):
                    self._requeue_inflight()
                    self._record_attempt(exc)
                    return False
                self._reject(f"{type(item).__name__} (SQLite refused it)", exc)
            self._inflight.popleft()
        self._record_attempt(None)
        return True

    def _record_attempt(self, exc: BaseException | None) -> None:
        self._attempts += 1
        self.last_error = exc
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
        if needs_reopen(exc):
            self._stale = True
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

    async def _connection(self) -> Connection:
        """The writer connection, reopened (and the group index reloaded) if it went stale."""
        if self.closed:
            raise StorageUnavailable("storage is closed")
        if self.db is not None and not self._stale:
            return self.db
        old, self.db = self.db, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()
        self.db, self.groups = await open_writer(
            self._path, self._busy_timeout_ms, self.groups.threshold
        )
        self._stale = False
        logger.info("storage writer connection reopened")
        return self.db

    async def _commit(self, db: Connection, items: list[Item]) -> GroupIndex:
        """Write ``items`` in one transaction; return the group index as of the commit.

        Planned on the event loop, then ONE call on the database thread (see ``batch``).
        Group changes are staged on a copy, so a rolled-back batch leaves the live index
        untouched; the caller installs the copy only once the commit succeeded (the write
        lock keeps the live index from changing meanwhile).
        """
        skip: set[str] = set()
        not_open: set[int] = set()
        while True:  # a conflict is rare, and each one excludes at least one more row/group
            plan = await plan_batch(items, self.groups, skip, not_open)
            outcome = await db.call(apply_plan, plan)
            if not isinstance(outcome, Conflict):
                return final_index(plan, outcome)
            if outcome.stored_keys <= skip and outcome.not_open <= not_open:
                # Cannot happen (the thread checks inside its transaction); never spin on it:
                # the batch goes back to the buffer and is retried after a backoff.
                raise StorageError("storage: a batch conflict did not resolve")
            if outcome.stored_keys:
                logger.debug("storage: %d questions already stored", len(outcome.stored_keys))
            skip |= outcome.stored_keys
            not_open |= outcome.not_open

    # ------------------------------------------------------------------ direct writes

    async def write(
        self,
        op: Callable[[sqlite3.Connection], T],
        on_commit: Callable[[T], None] | None = None,
    ) -> T:
        """Run ``op(con)`` in its own transaction on the writer connection's thread, now.

        ``on_commit`` runs under the write lock after a successful commit: the place to
        update in-memory state (the group index) that the writer task also uses.
        """
        async with self._write_lock:
            try:
                db = await self._connection()
                result = await db.run(_in_transaction, op)
            except StorageError:
                raise
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                if needs_reopen(exc):
                    self._stale = True
                raise StorageUnavailable(f"database unavailable: {exc}") from exc
            if on_commit is not None:
                on_commit(result)
            return result


def _in_transaction(con: sqlite3.Connection, op: Callable[[sqlite3.Connection], T]) -> T:
    with transaction(con):
        return op(con)
