"""Faults around the bot: Telegram API errors on the way out, SQLite trouble on the way in.

The real Application with the production rate limiter (``RetryingRateLimiter``) runs on
the in-memory transport, which fails requests on demand; the database is a real SQLite
file that another connection locks, or whose writer connection is made read-only or
full, as tests/test_storage.py does at the storage level.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import pytest
from telegram.error import NetworkError, TimedOut

from bot.matcher import DecisionKind
from bot.storage import StorageUnavailable
from bot.telegram import ratelimit
from bot.telegram.ratelimit import RetryingRateLimiter, is_transient
from tests.support import make_text_update
from tests.support.harness import (
    OUT_OF_SCOPE,
    STAFF_ID,
    UHC_ID,
    UHC_QUESTION,
    Harness,
    pick,
    sent,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning"
)


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Network retries back off 10 ms instead of 250 ms: same behaviour, faster tests."""
    monkeypatch.setattr(ratelimit, "NETWORK_BACKOFF", 0.01)


def errors_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def statuses(calls: list[Any], method: str = "sendMessage") -> list[int | None]:
    return [c.status if not c.ok else 200 for c in calls if c.method == method]


def db_count(bot: Harness, sql: str = "SELECT COUNT(*) FROM questions") -> int:
    with sqlite3.connect(bot.settings.db_path) as db:
        return int(db.execute(sql).fetchone()[0])


# --- Telegram API faults -----------------------------------------------------------------


async def test_the_app_uses_the_retrying_rate_limiter(make_bot: Any) -> None:
    bot: Harness = await make_bot(rate_limit=True)
    limiter = bot.app.bot.rate_limiter
    assert isinstance(limiter, RetryingRateLimiter)
    assert limiter.network_retries == ratelimit.NETWORK_RETRIES >= 1


async def test_flood_wait_429_is_waited_out_and_the_answer_delivered(
    make_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bot: Harness = await make_bot(rate_limit=True)
    bot.req.fail_next("sendMessage", retry_after=1)
    calls = await bot.send(make_text_update(UHC_QUESTION))
    assert statuses(calls) == [429, 200]
    assert sent(calls)[0]["text"] == bot.answer_html(bot.knowledge.entry(UHC_ID))
    assert errors_in(caplog) == []


@pytest.mark.parametrize(
    "fault",
    [
        {"exc": TimedOut()},
        {"exc": TimedOut(), "times": 3},  # three retries: the fourth attempt gets through
        {"exc": NetworkError("httpx.ConnectError: connection reset")},
        {"status": 502},  # Bad Gateway from Telegram
        {"status": 500, "times": 2},
    ],
    ids=["timeout", "timeout-x3", "network-error", "bad-gateway", "server-error-x2"],
)
async def test_timeouts_and_network_errors_are_retried_until_delivered(
    make_bot: Any, caplog: pytest.LogCaptureFixture, fault: dict[str, Any]
) -> None:
    bot: Harness = await make_bot(rate_limit=True)
    times = fault.pop("times", 1)
    bot.req.fail_next("sendMessage", times=times, **fault)
    calls = await bot.send(make_text_update(UHC_QUESTION))
    assert statuses(calls)[-1] == 200 and len(statuses(calls)) == times + 1
    assert sent(calls)[0]["text"] == bot.answer_html(bot.knowledge.entry(UHC_ID))
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == times and all(r.levelno == logging.WARNING for r in retries)
    assert errors_in(caplog) == []


@pytest.mark.parametrize(
    ("status", "description"),
    [
        (400, "Bad Request: can't parse entities"),
        (403, "Forbidden: bot was blocked by the user"),
        (401, "Unauthorized"),
        (409, "Conflict: terminated by other getUpdates request"),
    ],
    ids=["bad-request", "forbidden", "invalid-token", "conflict"],
)
async def test_errors_that_cannot_heal_are_never_retried(
    make_bot: Any, status: int, description: str
) -> None:
    bot: Harness = await make_bot(rate_limit=True)
    bot.req.fail_next("sendMessage", status=status, description=description)
    calls = await bot.send(make_text_update(UHC_QUESTION, user_id=321))
    assert statuses(calls)[0] == status
    # One attempt at the answer; at most the apology follows (only after a BadRequest).
    assert len([c for c in calls if c.method == "sendMessage" and not c.ok]) == 1
    if status == 403:
        assert statuses(calls) == [403]
        await bot.storage.flush()
        sql = "SELECT COUNT(*) FROM chats WHERE chat_id = 321 AND inactive_since IS NOT NULL"
        assert db_count(bot, sql) == 1


def test_retry_classification_follows_ptbs_error_hierarchy() -> None:
    from telegram.error import (
        BadRequest,
        ChatMigrated,
        Conflict,
        Forbidden,
        InvalidToken,
        RetryAfter,
    )

    assert is_transient(TimedOut()) and is_transient(NetworkError("reset"))
    for error in (
        BadRequest("x"),  # a NetworkError subclass, but never healed by retrying
        Forbidden("x"),
        InvalidToken(),
        Conflict("x"),
        ChatMigrated(-1001),
        RetryAfter(1),
    ):
        assert not is_transient(error), error


async def test_a_send_that_keeps_failing_still_leaves_the_question_logged(
    make_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bot: Harness = await make_bot(rate_limit=True)
    question = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[0]
    bot.req.fail_next("sendMessage", exc=TimedOut(), times=100)
    calls = await bot.send(make_text_update(question, user_id=322, message_id=9001))
    attempts = statuses(calls)
    assert attempts == [0] * (ratelimit.NETWORK_RETRIES + 1)  # bounded, then gives up
    assert any("network problem" in r.getMessage() for r in caplog.records)
    assert errors_in(caplog) == []

    await bot.storage.flush()
    with sqlite3.connect(bot.settings.db_path) as db:
        row = db.execute(
            "SELECT text, decision, group_id FROM questions WHERE message_id = 9001"
        ).fetchone()
    assert row[0] == question and row[1] == "fallback" and row[2] is not None

    bot.req.clear()  # Telegram is back: the next question is answered normally
    assert sent(await bot.send(make_text_update(UHC_QUESTION, user_id=322)))


async def test_staff_answer_retries_a_resident_whose_delivery_timed_out(make_bot: Any) -> None:
    bot: Harness = await make_bot(rate_limit=True)
    question = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[0]
    for user in (201, 202):
        await bot.send(make_text_update(question, user_id=user))
    await bot.storage.flush()
    [group] = await bot.storage.open_groups()
    bot.req.fail_next("sendMessage", exc=TimedOut())
    calls = await bot.send(make_text_update(f"/jawab {group.id} Sudah.", user_id=STAFF_ID))
    delivered = [c["chat_id"] for c in sent(calls)]
    assert sorted(delivered[:2]) == [201, 202]
    assert sent(calls)[-1]["text"] == bot.t("staff.reply_done", id=group.id, sent=2, failed=0)


# --- database faults at the bot level -------------------------------------------------------


class Locked:
    """Another process holds SQLite's write lock (BEGIN EXCLUSIVE) until released."""

    def __init__(self, bot: Harness) -> None:
        self.db = sqlite3.connect(bot.settings.db_path, isolation_level=None)
        self.db.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        if self.db is not None:
            self.db.execute("ROLLBACK")
            self.db.close()
            self.db = None


async def settle(bot: Harness, attempts: int = 200) -> None:
    """Flush, retrying while the writer is still recovering (bounded)."""
    for _ in range(attempts):
        try:
            await bot.storage.flush()
            return
        except StorageUnavailable:
            continue
    raise AssertionError(f"storage never recovered: {bot.storage.pending_count} pending")


def questions_from(users: range, bot: Harness) -> list[dict[str, Any]]:
    fallback = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[0]
    texts = [UHC_QUESTION, "halo", fallback]
    return [
        make_text_update(texts[i % len(texts)], user_id=user, message_id=7000 + i)
        for i, user in enumerate(u for u in users for _ in range(3))
    ]


async def test_a_locked_database_never_stops_the_answers(
    make_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bot: Harness = await make_bot(storage={"busy_timeout_ms": 100})
    updates = questions_from(range(1100, 1110), bot)
    lock = Locked(bot)
    try:
        for update in updates:
            replies = sent(await bot.send(update))
            assert len(replies) == 1 and replies[0]["text"] != bot.t("error.generic")
        assert bot.storage.pending_count == len(updates) == 30
        with pytest.raises(StorageUnavailable):
            await bot.storage.flush()
        assert not bot.storage.healthy
        assert db_count(bot) == 0
        # Staff can still read the queue: WAL readers never wait for the writer.
        listing = sent(await bot.send(make_text_update("/belumterjawab", user_id=STAFF_ID)))
        assert listing[0]["text"] == bot.t("staff.none_open")
    finally:
        lock.release()
    await settle(bot)
    assert db_count(bot) == 30 and bot.storage.dropped_count == 0
    assert db_count(bot, "SELECT COUNT(DISTINCT message_id) FROM questions") == 30
    [group] = await bot.storage.open_groups()
    assert group.count == 10
    assert errors_in(caplog) == []


async def test_staff_answer_with_a_locked_database_sends_nothing_and_can_be_retried(
    make_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bot: Harness = await make_bot(storage={"busy_timeout_ms": 100})
    question = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[0]
    await bot.send(make_text_update(question, user_id=203))
    await bot.storage.flush()
    [group] = await bot.storage.open_groups()
    lock = Locked(bot)
    try:
        calls = await bot.send(make_text_update(f"/jawab {group.id} Jawaban.", user_id=STAFF_ID))
    finally:
        lock.release()
    assert [c["chat_id"] for c in sent(calls)] == [STAFF_ID]  # no resident got it yet
    assert sent(calls)[0]["text"] == bot.t("error.storage")
    assert (await bot.storage.get_group(group.id)).status == "open"
    assert errors_in(caplog) == []

    calls = await bot.send(make_text_update(f"/jawab {group.id} Jawaban.", user_id=STAFF_ID))
    assert [c["chat_id"] for c in sent(calls)] == [203, STAFF_ID]  # delivered exactly once
    assert (await bot.storage.get_group(group.id)).status == "answered"


async def test_a_read_only_database_never_stops_the_answers(make_bot: Any) -> None:
    bot: Harness = await make_bot()
    writer = bot.storage._writer  # test hook, as in test_storage: the file turns read-only
    assert writer is not None
    await writer.execute("PRAGMA query_only = ON")
    updates = questions_from(range(1200, 1205), bot)
    for update in updates:
        assert len(sent(await bot.send(update))) == 1
    with pytest.raises(StorageUnavailable, match="readonly"):
        await bot.storage.flush()
    await settle(bot)  # the writer reopens its connection and writes the buffer
    assert db_count(bot) == len(updates) == 15


async def test_a_full_disk_never_stops_the_answers(make_bot: Any) -> None:
    bot: Harness = await make_bot()
    writer = bot.storage._writer  # test hook, as in test_storage: no room for new pages
    assert writer is not None
    pages = (await (await writer.execute("PRAGMA page_count")).fetchone())[0]
    await writer.execute(f"PRAGMA max_page_count = {pages}")
    long_question = UHC_QUESTION + " " + "x" * 3000  # rows that cannot fit
    for i in range(12):
        update = make_text_update(long_question, user_id=1300 + i)
        assert len(sent(await bot.send(update))) == 1
    with pytest.raises(StorageUnavailable, match="full"):
        await bot.storage.flush()
    assert bot.storage.pending_count == 12
    await writer.execute("PRAGMA max_page_count = 1073741823")  # space is back
    await settle(bot)
    assert db_count(bot) == 12


async def test_the_log_buffer_is_bounded_during_a_long_outage(make_bot: Any) -> None:
    bot: Harness = await make_bot(storage={"buffer_limit": 10, "busy_timeout_ms": 50})
    lock = Locked(bot)
    try:
        for i in range(25):
            update = make_text_update(UHC_QUESTION, user_id=1400 + i, message_id=8000 + i)
            assert len(sent(await bot.send(update))) == 1  # every one answered
        assert bot.storage.pending_count == 10 and bot.storage.dropped_count == 15
    finally:
        lock.release()
    await settle(bot)
    with sqlite3.connect(bot.settings.db_path) as db:
        kept = [r[0] for r in db.execute("SELECT message_id FROM questions ORDER BY message_id")]
    assert kept == list(range(8015, 8025))  # the newest rows survive


async def test_shutdown_flushes_the_buffer(make_bot: Any) -> None:
    bot: Harness = await make_bot(storage={"busy_timeout_ms": 50, "max_retry_delay": 30.0})
    lock = Locked(bot)
    try:
        for i in range(20):
            await bot.send(make_text_update(UHC_QUESTION, user_id=1500 + i))
        with pytest.raises(StorageUnavailable):
            await bot.storage.flush()
    finally:
        lock.release()
    assert bot.storage.pending_count == 20  # nothing could be written while locked
    await bot.app.shutdown()  # what run_polling does on SIGTERM ...
    await bot.app.post_shutdown(bot.app)  # ... and then post_shutdown closes storage
    assert db_count(bot) == 20


async def test_the_bot_starts_while_another_process_holds_the_write_lock(
    make_bot: Any, tmp_path: Any
) -> None:
    """An already migrated database opens under a write lock (WAL readers never wait)."""
    first: Harness = await make_bot(db_path=tmp_path / "shared.db")
    await first.app.shutdown()
    await first.app.post_shutdown(first.app)
    other = sqlite3.connect(tmp_path / "shared.db", isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        bot: Harness = await make_bot(
            db_path=tmp_path / "shared.db", storage={"busy_timeout_ms": 50}
        )
        assert len(sent(await bot.send(make_text_update(UHC_QUESTION)))) == 1
    finally:
        other.execute("ROLLBACK")
        other.close()
    await settle(bot)
    assert db_count(bot) == 1


# --- late answers and moved groups ------------------------------------------------------------

TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


async def test_a_button_or_inline_answer_that_comes_too_late_is_only_a_warning(
    make_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Under load, or after a flood wait, Telegram refuses answers after ~10 s."""
    from tests.support import make_callback_update, make_inline_update

    bot: Harness = await make_bot(rate_limit=True)
    bot.req.fail_next("answerInlineQuery", status=400, description=TOO_OLD)
    calls = await bot.send(make_inline_update(UHC_QUESTION))
    assert statuses(calls, "answerInlineQuery") == [400]
    bot.req.fail_next("answerCallbackQuery", status=400, description=TOO_OLD)
    calls = await bot.send(make_callback_update("tl"))
    assert statuses(calls, "answerCallbackQuery") == [400]
    assert sent(calls) == []  # no apology for a press the resident has long forgotten
    assert errors_in(caplog) == []
    assert any("answered too late" in r.getMessage() for r in caplog.records)


async def test_staff_answer_follows_a_group_that_became_a_supergroup(make_bot: Any) -> None:
    bot: Harness = await make_bot()
    question = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[0]
    old_id, new_id = -4000001, -1004000001
    await bot.send(make_text_update(f"/tanya {question}", chat_id=old_id, chat_type="group"))
    await bot.storage.flush()
    [group] = await bot.storage.open_groups()
    bot.req.fail_next("sendMessage", status=400, migrate_to_chat_id=new_id)
    calls = await bot.send(make_text_update(f"/jawab {group.id} Sudah.", user_id=STAFF_ID))
    assert [c["chat_id"] for c in sent(calls)] == [new_id, STAFF_ID]
    assert sent(calls)[-1]["text"] == bot.t("staff.reply_done", id=group.id, sent=1, failed=0)


# --- staff see what was asked a moment ago --------------------------------------------------


async def test_staff_views_include_questions_still_in_the_write_buffer(make_bot: Any) -> None:
    """Log rows are committed in the background; a staff command right after a question
    must still see it (the export used to miss rows not yet committed)."""
    import csv
    import io

    bot: Harness = await make_bot()
    question = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[0]
    await bot.send(make_text_update(question, user_id=1600))
    assert bot.storage.pending_count == 1  # not committed yet
    [doc] = sent(await bot.send(make_text_update("/ekspor", user_id=STAFF_ID)), "sendDocument")
    table = list(csv.DictReader(io.StringIO(doc["document"].content.decode("utf-8-sig"))))
    assert [r["text"] for r in table] == [question]

    await bot.send(make_text_update(question, user_id=1601))
    [listing] = sent(await bot.send(make_text_update("/belumterjawab", user_id=STAFF_ID)))
    assert "· 2×" in listing["text"]


async def test_staff_views_do_not_wait_long_for_a_locked_database(make_bot: Any) -> None:
    bot: Harness = await make_bot(storage={"busy_timeout_ms": 100})
    await bot.send(make_text_update(UHC_QUESTION, user_id=1602))
    await bot.storage.flush()
    lock = Locked(bot)
    try:
        await bot.send(make_text_update(UHC_QUESTION, user_id=1603))
        calls = await bot.send(make_text_update("/ekspor", user_id=STAFF_ID))
    finally:
        lock.release()
    [doc] = sent(calls, "sendDocument")  # what is stored, without the buffered row
    assert doc["caption"] == bot.t("staff.export_caption", rows=1)
