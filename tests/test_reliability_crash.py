"""The real ``python -m bot run`` process under a crash and a database outage.

* SIGKILL in the middle of a burst: only rows not yet committed may be lost; the
  database opens cleanly afterwards (integrity check, Storage.open) with every row that
  was visible as committed before the kill.
* SQLite locked by another process while residents ask, then SIGTERM while it is still
  locked: every question is answered at once, and the buffered rows are written during
  shutdown as soon as the lock goes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from pathlib import Path

from bot.storage import Storage
from tests.support import BotApiStub, make_text_update
from tests.support.bot_process import START_TIMEOUT, STOP_TIMEOUT, start_bot
from tests.support.harness import UHC_QUESTION

BURST = 3_000
KILL_AFTER_ROWS = 100
DEADLINE = 60.0
QUESTIONS = (UHC_QUESTION, "halo", "embung aji raden udh jadi?", "resep nasi goreng")


def committed(db_path: Path) -> set[int]:
    """Message ids of the rows another process can see: committed ones only."""
    if not db_path.exists():
        return set()
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1) as db:
            return {r[0] for r in db.execute("SELECT message_id FROM questions")}
    except sqlite3.OperationalError:  # not created or migrated yet
        return set()


def test_sigkill_during_a_burst_loses_only_uncommitted_rows(
    stub: BotApiStub,
    tmp_path: Path,
    knowledge_dir: Path,
) -> None:
    bot = start_bot(stub, tmp_path, knowledge_dir, BOT_FLOOD_LIMIT="10000", LOG_LEVEL="WARNING")
    try:
        stub.wait_for("getUpdates", timeout=START_TIMEOUT)
        stub.push_updates(
            *(
                make_text_update(
                    QUESTIONS[i % len(QUESTIONS)], user_id=30_000 + i, message_id=100_000 + i
                )
                for i in range(BURST)
            )
        )
        deadline = time.monotonic() + DEADLINE
        before: set[int] = set()
        while len(before) < KILL_AFTER_ROWS:
            assert time.monotonic() < deadline, f"only {len(before)} rows\n{bot.stderr}"
            assert bot.proc.poll() is None, bot.stderr
            time.sleep(0.01)
            before = committed(bot.db_path)
        os.kill(bot.proc.pid, signal.SIGKILL)
        assert bot.proc.wait(timeout=STOP_TIMEOUT) == -signal.SIGKILL
        answered = len(stub.calls("sendMessage"))
    finally:
        bot.kill()

    with sqlite3.connect(bot.db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        ids = [r[0] for r in db.execute("SELECT message_id FROM questions")]

    async def reopen() -> bool:
        storage = await Storage.open(bot.db_path)
        try:
            return await storage.integrity_ok() and await storage.count_open_groups() >= 0
        finally:
            await storage.close()

    assert asyncio.run(reopen())
    after = set(ids)
    print(
        f"\nSIGKILL mid-burst ({BURST} pushed, {answered} replies sent): {len(before)} rows seen "
        f"committed before the kill, {len(after)} rows after, integrity ok"
    )
    assert len(ids) == len(after)  # no duplicates
    assert before <= after  # nothing committed was lost
    assert 0 < len(after) <= BURST
    assert len(after) < BURST, "the kill came after the burst; raise BURST"
    assert after <= set(range(100_000, 100_000 + BURST))


def test_database_locked_through_sigterm_answers_everyone_and_loses_nothing(
    stub: BotApiStub,
    tmp_path: Path,
    knowledge_dir: Path,
) -> None:
    bot = start_bot(stub, tmp_path, knowledge_dir)
    lock: sqlite3.Connection | None = None
    try:
        stub.wait_for("getUpdates", timeout=START_TIMEOUT)  # database created and migrated
        lock = sqlite3.connect(bot.db_path, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        mark = stub.mark()
        stub.push_updates(*(make_text_update(UHC_QUESTION, user_id=40_000 + i) for i in range(20)))
        deadline = time.monotonic() + DEADLINE
        while len([c for c in stub.calls()[mark:] if c.method == "sendMessage"]) < 20:
            assert time.monotonic() < deadline, stub.dump()
            time.sleep(0.05)
        assert lock.execute("SELECT COUNT(*) FROM questions").fetchone() == (0,)

        bot.proc.send_signal(signal.SIGTERM)  # shut down while the rows are still buffered
        time.sleep(1.0)
        assert bot.proc.poll() is None  # waiting to flush, not gone
        lock.execute("ROLLBACK")
        lock.close()
        lock = None
        assert bot.proc.wait(timeout=STOP_TIMEOUT) == 0, bot.stderr
    finally:
        if lock is not None:
            lock.close()
        bot.kill()

    assert "unwritten rows" not in bot.stderr and "Traceback" not in bot.stderr, bot.stderr
    with sqlite3.connect(bot.db_path) as db:
        users = {r[0] for r in db.execute("SELECT user_id FROM questions")}
    assert users == set(range(40_000, 40_020))
    replies = [c for c in stub.calls()[mark:] if c.method == "sendMessage"]
    assert all(c["text"].startswith("<b>Cakupan") for c in replies)
