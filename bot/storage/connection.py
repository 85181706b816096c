"""One sqlite3 connection on a thread of its own, the one transaction helper, and what
SQLite's errors mean for the caller.

Every call on a :class:`Connection` runs on its dedicated thread, in the order made (a
FIFO queue, as with aiosqlite), so the connection is only ever used where it was opened.
A call that was queued runs to completion even if the task awaiting it is cancelled.
:meth:`Connection.call` hands a whole function (``fn(con, ...)``) to that thread: the
batch writer writes a batch in ONE such call (see ``writer``).

Why not the default executor: it is shared with other work (knowledge reloads) a batch
would queue behind; this thread is the connection's alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, TypeVar

logger = logging.getLogger("bot.storage")

T = TypeVar("T")

_GIL_HANDOFF_SLICE: Final = 0.0005  # seconds the loop blocks at a time for the db thread,
_GIL_HANDOFF_EAGER: Final = 0.005  # at every iteration for so long into a call,
_GIL_HANDOFF_PERIOD: Final = 0.01  # then once per this many seconds until it is done


class Result:
    """What one statement gave: its rows (all fetched on the thread), rowcount, lastrowid.

    ``fetchone``/``fetchall`` are awaitable, like an aiosqlite cursor's."""

    __slots__ = ("lastrowid", "rowcount", "rows")

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.rows: list[Any] = cursor.fetchall()
        self.rowcount: int = cursor.rowcount
        self.lastrowid: int = cursor.lastrowid or 0

    async def fetchone(self) -> Any:
        return self.rows[0] if self.rows else None

    async def fetchall(self) -> list[Any]:
        return list(self.rows)


class Connection:
    """A sqlite3 connection that lives on its own thread. Open with ``await Connection.open``."""

    def __init__(self, con: sqlite3.Connection, thread: ThreadPoolExecutor) -> None:
        self._con = con
        self._thread = thread
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        timeout: float,
        factory: type[sqlite3.Connection] = sqlite3.Connection,
    ) -> Connection:
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")

        def connect() -> sqlite3.Connection:
            # isolation_level=None: transactions are explicit (see ``transaction``).
            con = sqlite3.connect(path, timeout=timeout, isolation_level=None, factory=factory)
            con.row_factory = sqlite3.Row
            return con

        try:
            con = await _await(thread.submit(connect))
        except BaseException:
            thread.shutdown(wait=False)
            raise
        return cls(con, thread)

    def _submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        if self._closed:
            raise ValueError("Connection closed")
        return self._thread.submit(fn, self._con, *args)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(con, *args)`` on the connection's thread, ``con`` being the sqlite3 connection."""
        return await _await(self._submit(fn, *args))

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Like :meth:`run`, for a long ``fn`` on a busy event loop: the loop hands the GIL
        over while ``fn`` runs.

        Why: the thread shares the GIL with the event loop. A thread waiting for the GIL
        only asks for it after a whole switch interval (5 ms) in which nobody else got it,
        but a busy loop lets go of the GIL and takes it straight back at every iteration
        (select), which counts as a switch; so a thread that has to wait for the GIL may
        wait until the loop next goes idle (measured in the in-process benchmark: batches
        stuck for 3-9 s each, the writer ever further behind, rows dropped). Hence the loop
        blocks on ``fn``'s completion for a slice of _GIL_HANDOFF_SLICE at every iteration
        during the first _GIL_HANDOFF_EAGER of the call, then once per _GIL_HANDOFF_PERIOD
        (5% of the loop's time) until the call is done. On an idle loop the first wait ends
        as soon as ``fn`` does. Measured in the benchmark: the loop blocks ~55 us per row
        written, and the writer keeps up instead of falling seconds behind.
        """
        finished = threading.Event()

        def call(con: sqlite3.Connection, *args: Any) -> T:
            try:
                return fn(con, *args)
            finally:
                finished.set()

        result = asyncio.ensure_future(self.run(call, *args))
        try:
            await asyncio.sleep(0)  # let ``result`` queue the call
            eager_until = time.monotonic() + _GIL_HANDOFF_EAGER
            while not finished.wait(_GIL_HANDOFF_SLICE) and not result.done():
                # Long calls (lock waits, checkpoints) mostly do I/O: offer a slice less often.
                await asyncio.sleep(0 if time.monotonic() < eager_until else _GIL_HANDOFF_PERIOD)
            return await result
        finally:
            result.cancel()  # no-op once done; else stops waiting (the thread finishes anyway)

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> Result:
        return await self.run(_execute, sql, tuple(params))

    async def close(self) -> None:
        """Close the connection on its thread, then end the thread. Idempotent."""
        if self._closed:
            return
        try:
            await self.run(sqlite3.Connection.close)
        finally:
            self._closed = True
            self._thread.shutdown(wait=False)


def _execute(con: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> Result:
    return Result(con.execute(sql, params))


async def _await(future: Future[T]) -> T:
    """The result of a call made on a connection's thread. Cancelling the awaiting task
    stops the waiting, never the call (it may hold a transaction that must finish)."""
    wrapped = asyncio.wrap_future(future)
    wrapped.add_done_callback(_retrieve)
    return await asyncio.shield(wrapped)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # nobody may be waiting any more: never "never retrieved"


@contextlib.contextmanager
def transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """The one way to write: BEGIN IMMEDIATE ... COMMIT, rolled back on any exception.

    Runs on the connection's thread (inside a :meth:`Connection.run` or ``call``).
    IMMEDIATE takes the write lock up front, so "locked" surfaces here (after
    busy_timeout) instead of midway through a batch. From here on nobody else writes.
    """
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        # Unconditional: SQLite may already have rolled back (e.g. on SQLITE_FULL), in which
        # case this fails harmlessly. A transaction left open would make every BEGIN fail.
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        raise


async def connect(path: Path, busy_timeout_ms: int, *, reader: bool) -> Connection:
    """The writer (WAL) or the read-only reader connection to ``path``."""
    db = await Connection.open(path, timeout=busy_timeout_ms / 1000)
    try:
        await db.run(_set_pragmas, busy_timeout_ms, reader)
    except BaseException:
        await db.close()
        raise
    return db


def _set_pragmas(con: sqlite3.Connection, busy_timeout_ms: int, reader: bool) -> None:
    con.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    if not reader:
        [mode] = con.execute("PRAGMA journal_mode = WAL").fetchone()
        if str(mode).lower() != "wal":
            logger.warning("journal_mode is %s, not WAL; readers may block writes", mode)
    con.execute("PRAGMA synchronous = NORMAL")
    if reader:
        con.execute("PRAGMA query_only = ON")  # the reader must never write


# --------------------------------------------------------------------------- errors

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


def is_row_error(exc: BaseException) -> bool:
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


def is_unavailable(exc: BaseException) -> bool:
    """Errors meaning the database (or our connection to it) is not usable right now."""
    if isinstance(exc, ValueError | sqlite3.ProgrammingError):
        return "closed" in str(exc).lower() or "no active connection" in str(exc).lower()
    if _primary_code(exc) in _TRANSIENT_CODES:
        return True
    # Anything else from SQLite that is not about a row's values: keep rows, retry later.
    return isinstance(exc, sqlite3.Error) and not is_row_error(exc)


def needs_reopen(exc: BaseException) -> bool:
    if isinstance(exc, ValueError | sqlite3.ProgrammingError):
        return is_unavailable(exc)  # our connection object was closed under us
    return _primary_code(exc) in _REOPEN_CODES
