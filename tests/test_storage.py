"""Tests for bot.storage against real SQLite files."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import string
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.storage import (
    EXPORT_COLUMNS,
    SCHEMA_VERSION,
    Group,
    QuestionRecord,
    Storage,
    StorageError,
    StorageUnavailable,
    new_key,
)
from bot.storage.connection import Connection

WITA = timezone(timedelta(hours=8))
_keys = itertools.count(1)


def q(
    text: str,
    decision: str = "fallback",
    *,
    key: str | None = None,
    asked_at: datetime | None = None,
    user_id: int | None = 7,
    chat_id: int | None = 700,
    message_id: int | None = 1,
    normalized: str | None = None,
    entry_id: str | None = None,
    chat_type: str = "private",
    score: float = 0.5,
    latency_ms: float = 12.5,
) -> QuestionRecord:
    return QuestionRecord(
        key=f"k{next(_keys)}" if key is None else key,
        asked_at=asked_at or datetime.now(UTC),
        chat_type=chat_type,
        user_id=user_id,
        chat_id=chat_id,
        message_id=message_id,
        text=text,
        normalized=text.lower() if normalized is None else normalized,
        decision=decision,
        entry_id=entry_id,
        score=score,
        latency_ms=latency_ms,
    )


def raw(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Query the file with a separate plain sqlite3 connection (what another process sees)."""
    con = sqlite3.connect(path)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


async def flushed(store: Storage) -> None:
    await asyncio.wait_for(store.flush(), timeout=10)


async def open_store(path: Path, **kwargs: Any) -> Storage:
    kwargs.setdefault("busy_timeout_ms", 100)
    kwargs.setdefault("max_retry_delay", 0.1)
    return await Storage.open(path, **kwargs)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "nested" / "bot.sqlite3"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Storage]:
    s = await open_store(db_path)
    yield s
    await s.close()


# --------------------------------------------------------------------------- basics


def test_new_key_is_short_url_safe_and_unique() -> None:
    keys = {new_key() for _ in range(2000)}
    assert len(keys) == 2000
    allowed = set(string.ascii_letters + string.digits + "-_")
    assert all(0 < len(k) <= 12 and set(k) <= allowed for k in keys)


async def test_open_creates_folder_wal_schema(store: Storage, db_path: Path) -> None:
    assert db_path.exists()
    assert raw(db_path, "PRAGMA journal_mode") == [("wal",)]
    assert raw(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    tables = {r[0] for r in raw(db_path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"questions", "feedback", "unanswered_groups", "chats"} <= tables
    assert await store.integrity_ok()


async def test_memory_database_is_refused() -> None:
    with pytest.raises(ValueError):
        await Storage.open(":memory:")


async def test_log_question_round_trip(store: Storage, db_path: Path) -> None:
    asked = datetime(2025, 3, 1, 9, 30, tzinfo=WITA)
    store.log_question(
        q("Jam buka MPP?", "answer", key="abc", asked_at=asked, entry_id="mpp", score=0.93)
    )
    assert store.pending_count == 1
    await flushed(store)
    assert store.pending_count == 0

    rows = raw(
        db_path,
        "SELECT key, asked_at, chat_type, user_id, chat_id, message_id, text, normalized,"
        " decision, entry_id, score, latency_ms, group_id FROM questions",
    )
    assert rows == [
        (
            "abc",
            "2025-03-01T01:30:00.000000+00:00",  # stored as UTC
            "private",
            7,
            700,
            1,
            "Jam buka MPP?",
            "jam buka mpp?",
            "answer",
            "mpp",
            0.93,
            12.5,
            None,
        )
    ]
    assert await store.count_open_groups() == 0


async def test_long_text_is_truncated(store: Storage, db_path: Path) -> None:
    store.log_question(q("x" * 5000, "answer", key="long"))
    await flushed(store)
    assert raw(db_path, "SELECT length(text), length(normalized) FROM questions") == [(4096, 4096)]


async def test_invalid_records_are_rejected_without_raising(store: Storage, db_path: Path) -> None:
    store.log_question(q("a", chat_type="whatsapp"))
    store.log_question(q("b", decision="maybe"))
    store.log_question(q("c", key=""))
    store.log_question(q("d", user_id="7"))  # type: ignore[arg-type]
    store.log_feedback("k", "entry", 1, 5)
    store.log_question(q("valid", "answer", key="ok"))
    await flushed(store)
    assert store.rejected_count == 5
    assert raw(db_path, "SELECT key FROM questions") == [("ok",)]
    assert raw(db_path, "SELECT COUNT(*) FROM feedback") == [(0,)]


async def test_duplicate_key_is_stored_once(store: Storage, db_path: Path) -> None:
    store.log_question(q("jadwal vaksin rabies", key="dup"))
    store.log_question(q("jadwal vaksin rabies", key="dup"))
    await flushed(store)
    assert raw(db_path, "SELECT COUNT(*) FROM questions") == [(1,)]
    [group] = await store.open_groups()
    assert group.count == 1
    assert store.rejected_count == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(st.text(max_size=5000), min_size=1, max_size=5))
def test_any_text_is_stored_as_valid_bounded_utf8(texts: list[str]) -> None:
    async def scenario(path: Path) -> dict[str, str]:
        s = await open_store(path)
        try:
            for i, text in enumerate(texts):
                s.log_question(q(text, "answer", key=f"h{i}"))
            await flushed(s)
            assert s.rejected_count == 0
            return {r["key"]: r["text"] for r in await s.export_rows()}
        finally:
            await s.close()

    with tempfile.TemporaryDirectory() as tmp:
        stored = asyncio.run(scenario(Path(tmp) / "h.sqlite3"))
    assert len(stored) == len(texts)
    for i, text in enumerate(texts):
        got = stored[f"h{i}"]
        assert len(got) <= 4096
        got.encode("utf-8")  # never raises: lone surrogates were replaced
        if len(text) <= 4096 and _is_utf8(text):
            assert got == text


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --------------------------------------------------------------------------- grouping


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("jadwal vaksin rabies gratis", "jadwal vaksin rabies gratis dmn", True),
        ("jadwal vaksin rabies gratis", "rabies vaksin jadwal gratis", True),
        ("cara daftar bpjs gratis", "cara daftar bpjs gratiss", True),
        ("Dimana kantor Disdukcapil?", "kantor disdukcapil dimana", True),
        ("jadwal vaksin rabies gratis", "jadwal vaksin covid", False),
        ("jadwal vaksin rabies gratis", "vaksin", False),
        ("syarat buat ktp baru", "syarat buat kk baru", False),
        ("realisasi apbd 2024", "realisasi apbd 2025", False),
        ("lowongan kerja pemkot", "lowongan kerja pertamina", False),
    ],
)
async def test_near_duplicates_group_and_different_questions_do_not(
    store: Storage, first: str, second: str, same: bool
) -> None:
    store.log_question(q(first))
    store.log_question(q(second))
    await flushed(store)
    groups = await store.open_groups()
    assert len(groups) == (1 if same else 2)
    assert sum(g.count for g in groups) == 2


async def test_group_fields_and_question_link(store: Storage, db_path: Path) -> None:
    t0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
    store.log_question(q("Jadwal vaksin rabies gratis?", key="g1", asked_at=t0))
    store.log_question(
        q("jadwal vaksin rabies gratis dmn", key="g2", asked_at=t0 + timedelta(hours=2))
    )
    await flushed(store)
    [group] = await store.open_groups()
    assert group.status == "open"
    assert group.example == "Jadwal vaksin rabies gratis?"  # the first asker's raw text
    assert group.normalized == "jadwal vaksin rabies gratis?"
    assert group.count == 2
    assert group.first_seen == t0
    assert group.last_seen == t0 + timedelta(hours=2)
    assert await store.get_group(group.id) == group
    assert raw(db_path, "SELECT key, group_id FROM questions ORDER BY key") == [
        ("g1", group.id),
        ("g2", group.id),
    ]


async def test_answered_decisions_never_create_groups(store: Storage, db_path: Path) -> None:
    for decision in ("answer", "choices", "smalltalk"):
        store.log_question(q("jadwal vaksin rabies gratis", decision))
    await flushed(store)
    assert await store.count_open_groups() == 0
    assert raw(db_path, "SELECT COUNT(*) FROM questions WHERE group_id IS NOT NULL") == [(0,)]


async def test_empty_normalized_falls_back_to_text_and_emoji_makes_no_group(
    store: Storage,
) -> None:
    store.log_question(q("🙏🙏", normalized=""))
    store.log_question(q("Banjir di Sepinggan", normalized=""))
    await flushed(store)
    [group] = await store.open_groups()
    assert group.normalized == "Banjir di Sepinggan"
    assert await store.count_open_groups() == 1


async def test_similarity_threshold_is_configurable(db_path: Path) -> None:
    s = await open_store(db_path, group_similarity=99)
    try:
        s.log_question(q("jadwal vaksin rabies gratis"))
        s.log_question(q("jadwal vaksin rabies gratis dmn"))  # token_sort_ratio 93
        await flushed(s)
        assert await s.count_open_groups() == 2
    finally:
        await s.close()


async def test_closed_groups_do_not_absorb_new_questions(store: Storage) -> None:
    store.log_question(q("jadwal vaksin rabies gratis"))
    store.log_question(q("lokasi posyandu terdekat"))
    await flushed(store)
    by_example = {g.example: g for g in await store.open_groups()}
    rabies = by_example["jadwal vaksin rabies gratis"]
    posyandu = by_example["lokasi posyandu terdekat"]

    assert await store.set_group_status(
        rabies.id, "answered", answer_text="Lihat entri vaksin", entry_id="vaksin-rabies"
    )
    assert await store.set_group_status(posyandu.id, "ignored")
    assert await store.count_open_groups() == 0
    store.log_question(q("jadwal vaksin rabies gratis dmn"))
    store.log_question(q("lokasi posyandu terdekat"))
    await flushed(store)

    answered = await store.get_group(rabies.id)
    assert answered is not None
    assert (answered.status, answered.count) == ("answered", 1)
    assert answered.answer_text == "Lihat entri vaksin"
    assert answered.entry_id == "vaksin-rabies"
    assert answered.answered_at is not None
    ignored = await store.get_group(posyandu.id)
    assert ignored is not None
    assert (ignored.status, ignored.count) == ("ignored", 1)
    fresh = await store.open_groups()
    assert sorted(g.example for g in fresh) == [
        "jadwal vaksin rabies gratis dmn",
        "lokasi posyandu terdekat",
    ]
    assert {g.id for g in fresh}.isdisjoint({rabies.id, posyandu.id})


async def test_reopened_group_absorbs_again(store: Storage) -> None:
    store.log_question(q("lokasi posyandu terdekat"))
    await flushed(store)
    [group] = await store.open_groups()
    assert await store.set_group_status(group.id, "answered", answer_text="x")
    assert await store.set_group_status(group.id, "open")
    store.log_question(q("lokasi posyandu terdekat dmn"))
    await flushed(store)
    reopened = await store.get_group(group.id)
    assert reopened is not None
    assert (reopened.status, reopened.count, reopened.answered_at) == ("open", 2, None)
    assert await store.count_open_groups() == 1


async def test_set_group_status_validation(store: Storage) -> None:
    assert await store.set_group_status(12345, "ignored") is False
    with pytest.raises(ValueError):
        await store.set_group_status(1, "closed")
    with pytest.raises(ValueError):
        await store.set_group_status(1, "ignored", answer_text="x")


async def test_open_groups_ordering_and_paging(store: Storage) -> None:
    base = datetime(2025, 6, 1, tzinfo=UTC)
    texts = {
        "harga tiket kebun raya": 3,
        "jam buka perpustakaan kota": 1,
        "cara lapor jalan rusak": 2,
        "info beasiswa kuliah": 1,
    }
    minute = 0
    for text, n in texts.items():
        for _ in range(n):
            minute += 1
            store.log_question(q(text, asked_at=base + timedelta(minutes=minute)))
    await flushed(store)
    assert await store.count_open_groups() == 4
    ordered = [g.example for g in await store.open_groups(limit=10)]
    # count desc, then most recent first among equal counts
    assert ordered == [
        "harga tiket kebun raya",
        "cara lapor jalan rusak",
        "info beasiswa kuliah",
        "jam buka perpustakaan kota",
    ]
    page2 = await store.open_groups(limit=2, offset=2)
    assert [g.example for g in page2] == ordered[2:]
    assert await store.open_groups(limit=2, offset=4) == []


async def test_groups_since(store: Storage) -> None:
    now = datetime.now(UTC)
    store.log_question(q("info pasar murah", asked_at=now - timedelta(days=3)))
    store.log_question(q("jadwal car free day", asked_at=now - timedelta(hours=1)))
    store.log_question(q("lokasi samsat keliling", asked_at=now - timedelta(hours=2)))
    await flushed(store)
    recent = await store.groups_since(now - timedelta(days=1))
    assert {g.example for g in recent} == {"jadwal car free day", "lokasi samsat keliling"}
    assert all(isinstance(g, Group) and g.status == "open" for g in recent)
    await store.set_group_status(recent[0].id, "ignored")
    assert len(await store.groups_since(now - timedelta(days=1))) == 1
    assert len(await store.groups_since(now - timedelta(days=1), status=None)) == 2
    assert len(await store.groups_since(now - timedelta(days=5))) == 2


async def test_group_questions_and_recipients(store: Storage) -> None:
    t = datetime(2025, 7, 1, tzinfo=UTC)
    asks = [
        ("jadwal vaksin rabies gratis", 100, 11),
        ("Jadwal vaksin rabies gratis dmn", 200, 21),
        ("jadwal vaksin rabies gratis", 100, 12),  # same chat again: reply to the latest
        ("jadwal vaksin rabies gratis", 300, 31),  # this chat blocks the bot below
        ("jadwal vaksin rabies gratis", None, None),  # inline/cli: nobody to notify
    ]
    for i, (text, chat, msg) in enumerate(asks):
        store.log_question(q(text, asked_at=t + timedelta(minutes=i), chat_id=chat, message_id=msg))
    await flushed(store)
    [group] = await store.open_groups()
    assert group.count == 5
    assert await store.group_questions(group.id) == [
        "jadwal vaksin rabies gratis",
        "Jadwal vaksin rabies gratis dmn",
    ]
    assert await store.group_recipients(group.id) == [(200, 21), (100, 12), (300, 31)]

    await store.mark_chat_inactive(300)
    assert await store.group_recipients(group.id) == [(200, 21), (100, 12)]
    assert await store.group_recipients(999) == []
    assert await store.group_questions(999) == []


async def test_chat_that_asks_again_after_blocking_is_reachable(store: Storage) -> None:
    store.log_question(q("info lowongan kerja", chat_id=55, message_id=1))
    await flushed(store)
    await store.mark_chat_inactive(55)
    [group] = await store.open_groups()
    assert await store.group_recipients(group.id) == []
    store.log_question(
        q(
            "info lowongan kerja",
            chat_id=55,
            message_id=2,
            asked_at=datetime.now(UTC) + timedelta(seconds=1),
        )
    )
    await flushed(store)
    assert await store.group_recipients(group.id) == [(55, 2)]


# --------------------------------------------------------------------------- migration


V1_SCHEMA = """
CREATE TABLE questions (
    key TEXT PRIMARY KEY, asked_at TEXT NOT NULL, chat_type TEXT NOT NULL,
    user_id INTEGER, chat_id INTEGER, message_id INTEGER, text TEXT NOT NULL,
    normalized TEXT NOT NULL, decision TEXT NOT NULL, entry_id TEXT,
    score REAL NOT NULL DEFAULT 0, latency_ms REAL NOT NULL DEFAULT 0, group_id INTEGER
);
CREATE TABLE feedback (
    id INTEGER PRIMARY KEY, question_key TEXT NOT NULL, entry_id TEXT NOT NULL,
    value INTEGER NOT NULL, user_id INTEGER, created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX feedback_one_vote ON feedback (question_key, user_id);
CREATE TABLE unanswered_groups (
    id INTEGER PRIMARY KEY, status TEXT NOT NULL DEFAULT 'open', example TEXT NOT NULL,
    normalized TEXT NOT NULL, count INTEGER NOT NULL DEFAULT 1, first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL, answered_at TEXT, answer_text TEXT, entry_id TEXT
);
CREATE TABLE chats (chat_id INTEGER PRIMARY KEY, inactive_since TEXT);
PRAGMA user_version = 1;
"""


def make_v1_database(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(V1_SCHEMA)
    ts = "2025-01-10T03:00:00.000000+00:00"
    ts2 = "2025-01-11T03:00:00.000000+00:00"
    con.executemany(
        "INSERT INTO questions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                "old1",
                ts,
                "private",
                1,
                10,
                100,
                "Jam buka MPP",
                "jam buka mpp",
                "answer",
                "mpp",
                0.9,
                20.0,
                None,
            ),
            (
                "old2",
                ts,
                "group",
                2,
                -20,
                200,
                "Jadwal vaksin rabies gratis",
                "jadwal vaksin rabies gratis",
                "fallback",
                None,
                0.1,
                30.0,
                1,
            ),
            (
                "old3",
                ts2,
                "private",
                3,
                30,
                300,
                "jadwal vaksin rabies gratis",
                "jadwal vaksin rabies gratis",
                "fallback",
                None,
                0.1,
                30.0,
                1,
            ),
        ],
    )
    con.execute(
        "INSERT INTO unanswered_groups (id, status, example, normalized, count, first_seen,"
        " last_seen) VALUES (1, 'open', 'Jadwal vaksin rabies gratis',"
        " 'jadwal vaksin rabies gratis', 2, ?, ?)",
        (ts, ts2),
    )
    con.execute(
        "INSERT INTO feedback (question_key, entry_id, value, user_id, created_at)"
        " VALUES ('old1', 'mpp', 1, 1, ?)",
        (ts,),
    )
    con.execute("INSERT INTO chats (chat_id, inactive_since) VALUES (30, ?)", (ts2,))
    con.commit()
    con.close()


async def test_migrates_version_1_database_with_data_intact(db_path: Path) -> None:
    make_v1_database(db_path)
    assert raw(db_path, "PRAGMA user_version") == [(1,)]

    s = await open_store(db_path)
    try:
        assert raw(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
        assert raw(db_path, "SELECT key, text, group_id FROM questions ORDER BY key") == [
            ("old1", "Jam buka MPP", None),
            ("old2", "Jadwal vaksin rabies gratis", 1),
            ("old3", "jadwal vaksin rabies gratis", 1),
        ]
        assert raw(db_path, "SELECT question_key, value FROM feedback") == [("old1", 1)]
        # migration 2 backfilled chat activity from the question log
        assert raw(
            db_path,
            "SELECT chat_id, inactive_since IS NOT NULL, last_active FROM chats ORDER BY chat_id",
        ) == [
            (-20, 0, "2025-01-10T03:00:00.000000+00:00"),
            (10, 0, "2025-01-10T03:00:00.000000+00:00"),
            (30, 1, "2025-01-11T03:00:00.000000+00:00"),
        ]
        indexes = {
            r[0] for r in raw(db_path, "SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        assert {"questions_asked_at", "questions_group", "feedback_created_at"} <= indexes

        group = await s.get_group(1)
        assert group is not None and group.count == 2
        assert await s.group_recipients(1) == [(-20, 200)]  # chat 30 is inactive

        # the open-group index was loaded from the old data
        s.log_question(q("jadwal vaksin rabies gratis dmn"))
        await flushed(s)
        assert await s.count_open_groups() == 1
        group = await s.get_group(1)
        assert group is not None and group.count == 3
        assert await s.integrity_ok()
    finally:
        await s.close()


async def test_refuses_database_from_newer_code(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    con = sqlite3.connect(db_path)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(StorageError, match="newer"):
        await open_store(db_path)


# --------------------------------------------------------------------------- concurrency


async def test_200_concurrent_log_calls_lose_nothing(store: Storage, db_path: Path) -> None:
    async def ask(i: int) -> None:
        await asyncio.sleep(0)
        if i % 2:
            store.log_question(q(f"pertanyaan nomor {i}", "answer", key=f"c{i}"))
        else:
            store.log_question(q("jadwal vaksin rabies gratis", key=f"c{i}", user_id=i))
        await asyncio.sleep(0)
        store.log_feedback(f"c{i}", "entry", i, 1 if i % 3 else -1)

    await asyncio.gather(*(asyncio.create_task(ask(i)) for i in range(200)))
    await flushed(store)
    assert raw(db_path, "SELECT COUNT(*) FROM questions") == [(200,)]
    assert raw(db_path, "SELECT COUNT(*) FROM feedback") == [(200,)]
    [group] = await store.open_groups()
    assert group.count == 100  # grouping inside the single writer: no lost updates
    assert store.dropped_count == 0 and store.pending_count == 0


async def test_logging_while_a_flush_is_in_progress(store: Storage, db_path: Path) -> None:
    async def producer() -> None:
        for i in range(300):
            store.log_question(q(f"tanya {i}", "answer", key=f"p{i}"))
            if i % 10 == 0:
                await asyncio.sleep(0)

    async def flusher() -> None:
        for _ in range(5):
            await flushed(store)

    await asyncio.gather(producer(), flusher())
    await flushed(store)
    assert raw(db_path, "SELECT COUNT(*) FROM questions") == [(300,)]


# --------------------------------------------------------------------------- restart


async def test_restart_keeps_data_and_rebuilds_group_index(db_path: Path) -> None:
    s = await open_store(db_path)
    s.log_question(q("jadwal vaksin rabies gratis", key="r1"))
    s.log_question(q("Jam buka MPP", "answer", key="r2", entry_id="mpp"))
    s.log_feedback("r2", "mpp", 7, 1)
    await s.close()  # close flushes: no explicit flush here
    await s.close()  # idempotent

    s2 = await open_store(db_path)
    try:
        assert {r["key"] for r in await s2.export_rows()} == {"r1", "r2"}
        [group] = await s2.open_groups()
        assert group.count == 1
        s2.log_question(q("jadwal vaksin rabies gratis dmn", key="r3"))
        await flushed(s2)
        assert [g.count for g in await s2.open_groups()] == [2]  # joined, no new group
    finally:
        await s2.close()


async def test_closed_storage_drops_logs_quietly_and_refuses_reads(db_path: Path) -> None:
    s = await open_store(db_path)
    await s.close()
    s.log_question(q("after close"))  # must not raise
    assert s.dropped_count == 1
    with pytest.raises(StorageError):
        await s.open_groups()


# --------------------------------------------------------------------------- retention


async def test_purge_personal_ids(store: Storage, db_path: Path) -> None:
    now = datetime.now(UTC)
    old, new = now - timedelta(days=40), now - timedelta(days=1)
    store.log_question(q("jadwal vaksin rabies gratis", key="old", asked_at=old))
    store.log_question(q("jadwal vaksin rabies gratis", key="new", asked_at=new, chat_id=701))
    store.log_feedback("old", "e", 7, -1, created_at=old)
    store.log_feedback("new", "e", 7, 1, created_at=new)
    await flushed(store)

    changed = await store.purge_personal_ids(30)
    # 1 question row + 1 vote + chat 700 (silent since before the cutoff)
    assert changed == 3
    assert raw(
        db_path, "SELECT key, user_id, chat_id, message_id, text FROM questions ORDER BY key"
    ) == [
        ("new", 7, 701, 1, "jadwal vaksin rabies gratis"),
        ("old", None, None, None, "jadwal vaksin rabies gratis"),
    ]
    assert raw(db_path, "SELECT question_key, user_id FROM feedback ORDER BY 1") == [
        ("new", 7),
        ("old", None),
    ]
    assert raw(db_path, "SELECT chat_id FROM chats") == [(701,)]
    [group] = await store.open_groups()
    assert await store.group_recipients(group.id) == [(701, 1)]
    assert await store.purge_personal_ids(30) == 0
    with pytest.raises(ValueError):
        await store.purge_personal_ids(-1)


# --------------------------------------------------------------------------- feedback


async def test_feedback_one_vote_per_user_updates(store: Storage, db_path: Path) -> None:
    store.log_question(q("Jam buka MPP", "answer", key="fq", entry_id="mpp"))
    store.log_feedback("fq", "mpp", 1, 1)
    store.log_feedback("fq", "mpp", 2, 1)
    await flushed(store)
    store.log_feedback("fq", "mpp", 1, -1)  # user 1 changes their mind
    store.log_feedback("fq", "mpp", None, 1)  # anonymous votes never collide
    store.log_feedback("fq", "mpp", None, -1)
    await flushed(store)
    assert raw(
        db_path, "SELECT user_id, value FROM feedback ORDER BY user_id IS NULL, user_id, value"
    ) == [(1, -1), (2, 1), (None, -1), (None, 1)]
    [row] = await store.export_rows()
    assert (row["feedback_up"], row["feedback_down"]) == (2, 2)


# --------------------------------------------------------------------------- stats/export


async def test_stats_numbers(store: Storage) -> None:
    now = datetime.now(UTC)
    today = now - timedelta(minutes=1)
    two_days = now - timedelta(days=2)
    store.log_question(q("a1", "answer", entry_id="mpp", asked_at=today, user_id=1, latency_ms=10))
    store.log_question(q("a2", "answer", entry_id="mpp", asked_at=today, user_id=2, latency_ms=20))
    store.log_question(
        q("a3", "answer", entry_id="uhc", asked_at=two_days, user_id=1, latency_ms=30)
    )
    store.log_question(q("c1", "choices", asked_at=today, user_id=3, latency_ms=40))
    store.log_question(q("jadwal vaksin rabies gratis", asked_at=today, user_id=4, latency_ms=50))
    store.log_question(
        q("jadwal vaksin rabies gratis dmn", asked_at=two_days, user_id=4, latency_ms=60)
    )
    store.log_question(q("sapaan", "smalltalk", asked_at=today, user_id=5, latency_ms=70))
    store.log_question(
        q("too old", "answer", entry_id="old", asked_at=now - timedelta(days=30), user_id=9)
    )
    for user, value in ((1, 1), (2, 1), (3, -1)):
        store.log_feedback("x", "mpp", user, value)
    store.log_feedback("y", "uhc", 1, -1)
    store.log_feedback("z", "old", 1, -1, created_at=now - timedelta(days=30))
    await flushed(store)

    st_ = await store.stats(days=7, tz=UTC)
    assert st_.days == 7
    assert st_.total == 7
    assert st_.unique_users == 5
    assert st_.decisions == {"answer": 3, "choices": 1, "fallback": 2, "smalltalk": 1}
    assert st_.decision_rates["answer"] == pytest.approx(3 / 7)
    assert sum(st_.decision_rates.values()) == pytest.approx(1.0)
    assert st_.avg_latency_ms == pytest.approx(40.0)
    assert len(st_.per_day) == 7
    per_day = dict(st_.per_day)
    assert per_day[today.date()] == 5
    assert per_day[two_days.date()] == 2
    assert sum(per_day.values()) == 7
    assert [d for d, _ in st_.per_day] == sorted(per_day)
    assert st_.top_entries == (("mpp", 2), ("uhc", 1))
    assert [(g.example, g.count) for g in st_.top_open_groups] == [
        ("jadwal vaksin rabies gratis", 2)
    ]
    assert st_.open_groups == 1
    assert [(f.entry_id, f.up, f.down) for f in st_.feedback] == [
        ("mpp", 2, 1),
        ("uhc", 0, 1),
    ]
    assert st_.since <= today


async def test_stats_days_follow_the_requested_timezone(store: Storage) -> None:
    now = datetime.now(UTC)
    # Most recent 20:00 UTC: already the next calendar day in WITA (04:00).
    at = now.replace(hour=20, minute=0, second=0, microsecond=0)
    if at > now:
        at -= timedelta(days=1)
    store.log_question(q("malam", "answer", entry_id="e", asked_at=at))
    await flushed(store)
    wita_day = at.astimezone(WITA).date()
    assert wita_day != at.date()
    assert dict((await store.stats(days=3, tz=WITA)).per_day)[wita_day] == 1
    assert dict((await store.stats(days=3, tz=UTC)).per_day)[at.date()] == 1


async def test_stats_on_empty_database(store: Storage) -> None:
    st_ = await store.stats(days=1)
    assert (st_.total, st_.unique_users, st_.avg_latency_ms) == (0, 0, None)
    assert st_.decision_rates == {d: 0.0 for d in st_.decisions}
    assert len(st_.per_day) == 1 and st_.per_day[0][1] == 0
    with pytest.raises(ValueError):
        await store.stats(days=0)


async def test_export_rows(store: Storage) -> None:
    now = datetime.now(UTC)
    store.log_question(
        q("lama", "answer", key="e1", entry_id="x", asked_at=now - timedelta(days=10))
    )
    store.log_question(q("jadwal vaksin rabies gratis", key="e2", asked_at=now))
    store.log_feedback("e1", "x", 5, 1)
    await flushed(store)

    rows = await store.export_rows()
    assert [r["key"] for r in rows] == ["e1", "e2"]  # oldest first
    assert all(tuple(r) == EXPORT_COLUMNS for r in rows)
    assert not {"user_id", "chat_id", "message_id"} & set(rows[0])
    assert rows[0]["feedback_up"] == 1 and rows[0]["feedback_down"] == 0
    assert rows[1]["decision"] == "fallback" and rows[1]["group_id"] is not None
    assert datetime.fromisoformat(rows[1]["asked_at"]).tzinfo is not None
    assert [r["key"] for r in await store.export_rows(days=7)] == ["e2"]


# --------------------------------------------------------------------------- resilience


async def test_locked_database_buffers_then_writes_everything(
    store: Storage, db_path: Path
) -> None:
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        started = time.perf_counter()
        for i in range(50):
            store.log_question(q("jadwal vaksin rabies gratis", key=f"l{i}"))
        assert time.perf_counter() - started < 0.5  # logging never waits for SQLite
        with pytest.raises(StorageUnavailable):
            await store.flush()
        assert not store.healthy
        assert store.pending_count == 50
        assert other.execute("SELECT COUNT(*) FROM questions").fetchone() == (0,)
        # reads keep working under WAL while the write lock is held
        assert await store.count_open_groups() == 0
        await asyncio.sleep(0.3)  # let the writer retry (and fail) a few more times
        assert store.pending_count == 50
    finally:
        other.execute("ROLLBACK")
        other.close()

    await flushed(store)
    assert store.healthy
    assert raw(db_path, "SELECT COUNT(*) FROM questions") == [(50,)]
    [group] = await store.open_groups()
    assert group.count == 50
    assert store.dropped_count == 0


async def test_writer_recovers_by_itself_without_flush(store: Storage, db_path: Path) -> None:
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    store.log_question(q("hello", "answer", key="self"))
    await asyncio.sleep(0.3)
    other.execute("COMMIT")
    other.close()
    for _ in range(100):
        if store.pending_count == 0:
            break
        await asyncio.sleep(0.05)
    assert raw(db_path, "SELECT key FROM questions") == [("self",)]


async def test_full_buffer_drops_oldest(db_path: Path) -> None:
    s = await open_store(db_path, buffer_limit=10)
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        for i in range(25):
            s.log_question(q(f"pertanyaan {i}", "answer", key=f"b{i:02d}"))
        assert s.dropped_count == 15
        assert s.pending_count == 10
        with pytest.raises(StorageUnavailable):
            await s.flush()
        other.execute("ROLLBACK")
        await flushed(s)
        assert raw(db_path, "SELECT key FROM questions ORDER BY key") == [
            (f"b{i:02d}",) for i in range(15, 25)
        ]
    finally:
        other.close()
        await s.close()


async def test_disk_full_keeps_rows_until_space_returns(store: Storage, db_path: Path) -> None:
    writer = store._writer  # test hook: simulate a full disk on the writer connection
    assert writer is not None
    pages = (await (await writer.execute("PRAGMA page_count")).fetchone())[0]
    await writer.execute(f"PRAGMA max_page_count = {pages}")
    for i in range(20):
        store.log_question(q("x" * 4000, "answer", key=f"f{i}"))
    with pytest.raises(StorageUnavailable, match="full"):
        await store.flush()
    assert store.pending_count == 20
    await writer.execute("PRAGMA max_page_count = 1073741823")
    await flushed(store)
    assert raw(db_path, "SELECT COUNT(*) FROM questions") == [(20,)]


async def test_read_only_database_is_retried_on_a_fresh_connection(
    store: Storage, db_path: Path
) -> None:
    writer = store._writer  # test hook: make the writer's connection read-only
    assert writer is not None
    await writer.execute("PRAGMA query_only = ON")
    store.log_question(q("jadwal vaksin rabies gratis", key="ro1"))
    with pytest.raises(StorageUnavailable, match="readonly"):
        await store.flush()
    assert store.pending_count == 1
    await flushed(store)  # the writer reopened its connection
    assert store._writer is not writer
    assert raw(db_path, "SELECT key FROM questions") == [("ro1",)]
    assert await store.count_open_groups() == 1


async def test_admin_writes_report_unavailable_database(store: Storage, db_path: Path) -> None:
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StorageUnavailable):
            await store.mark_chat_inactive(1)
        with pytest.raises(StorageUnavailable):
            await store.purge_personal_ids(30)
    finally:
        other.execute("ROLLBACK")
        other.close()
    await store.mark_chat_inactive(1)
    assert raw(db_path, "SELECT chat_id FROM chats WHERE inactive_since IS NOT NULL") == [(1,)]


async def test_unstorable_row_is_isolated_from_its_batch(store: Storage, db_path: Path) -> None:
    con = sqlite3.connect(db_path)
    con.execute(
        "CREATE TRIGGER poison BEFORE INSERT ON questions WHEN NEW.text = 'poison'"
        " BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
    )
    con.commit()
    con.close()
    for text in ("sebelum", "poison", "sesudah"):
        store.log_question(q(text, "answer", key=text))
    await flushed(store)
    assert raw(db_path, "SELECT key FROM questions ORDER BY key") == [
        ("sebelum",),
        ("sesudah",),
    ]
    assert store.rejected_count == 1
    assert store.healthy


async def test_close_is_bounded_when_database_stays_locked(db_path: Path) -> None:
    s = await open_store(db_path)
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        s.log_question(q("never written", "answer", key="lost"))
        started = time.perf_counter()
        await s.close(timeout=0.5)
        assert time.perf_counter() - started < 3
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert raw(db_path, "SELECT COUNT(*) FROM questions") == [(0,)]


async def test_integrity_ok_detects_corruption(db_path: Path) -> None:
    s = await open_store(db_path)
    for i in range(300):
        s.log_question(q(f"pertanyaan {i} " + "x" * 500, "answer", key=f"i{i}"))
    await s.close()
    size = db_path.stat().st_size
    with db_path.open("r+b") as fh:  # scribble over the middle of the table's pages
        fh.seek(size // 2)
        fh.write(b"\xff" * 8192)
    s2 = await open_store(db_path)  # header and schema pages are intact, so it opens
    try:
        assert await s2.integrity_ok() is False
    finally:
        await s2.close()


# --------------------------------------------------------------------------- batch writer

_FALLBACK_TEXTS = tuple(
    f"{subject} di kelurahan {place}"
    for subject in ("jadwal posyandu", "lampu jalan mati", "banjir", "sampah menumpuk")
    for place in ("klandasan", "gunung sari", "baru ulu", "manggar", "sepinggan")
)


def _assert_groups_match_questions(db_path: Path, store: Storage) -> None:
    """Every group counts exactly its linked questions; the live index knows every open one."""
    counts = dict(raw(db_path, "SELECT id, count FROM unanswered_groups"))
    linked = dict(
        raw(
            db_path,
            "SELECT group_id, COUNT(*) FROM questions WHERE group_id IS NOT NULL GROUP BY group_id",
        )
    )
    assert counts == linked
    open_ids = [r[0] for r in raw(db_path, "SELECT id FROM unanswered_groups WHERE status='open'")]
    groups = store._log.groups  # test hook: the in-memory group index
    assert len(groups) == len(open_ids)
    assert all(group_id in groups for group_id in open_ids)


async def test_writer_commits_progressively_while_the_event_loop_is_busy(db_path: Path) -> None:
    """Handlers keep the loop busy: the writer must keep up, not wait for the final flush.

    Each loop turn gives the writer at most one step, and the loop keeps the GIL busy: a
    writer needing several awaited database calls per row, or whose database thread cannot
    get the GIL, falls thousands of rows behind here and overflows the buffer.
    """
    s = await open_store(db_path, buffer_limit=2_000)
    total = 5_000
    stop = asyncio.Event()

    async def busy_loop() -> None:  # other handlers: short CPU bursts between awaits
        while not stop.is_set():
            sum(i * i for i in range(2_000))
            await asyncio.sleep(0)

    def committed() -> int:
        return raw(db_path, "SELECT COUNT(*) FROM questions")[0][0]

    busy = asyncio.create_task(busy_loop())
    polls: list[int] = []
    fallbacks = 0
    try:
        for i in range(total):
            if i % 3 == 0:
                fallbacks += 1
                text = _FALLBACK_TEXTS[i % len(_FALLBACK_TEXTS)]
                s.log_question(q(text, key=f"u{i}", chat_id=i % 50, user_id=i))
            else:
                s.log_question(q(f"pertanyaan {i}", "answer", key=f"u{i}", entry_id="e1"))
            if i % 10 == 0:
                s.log_feedback(f"u{i}", "e1", i, 1)
            if i % 25 == 24:
                sum(i * i for i in range(2_000))  # this handler's own work
                await asyncio.sleep(0)
                polls.append(committed())
        before_flush = committed()
    finally:
        stop.set()
        await busy
    try:
        assert s.dropped_count == 0  # never more than the buffer behind
        # Committed while the load ran, in many steps, not in one go at the end.
        assert before_flush >= total // 2
        assert len(set(polls)) >= 10
        await flushed(s)
    finally:
        await s.close()
    assert raw(db_path, "SELECT COUNT(*), COUNT(DISTINCT key) FROM questions") == [(total, total)]
    assert raw(db_path, "SELECT COUNT(*) FROM feedback") == [(total // 10,)]
    # Each fallback counted once, in the group its text belongs to.
    assert raw(db_path, "SELECT SUM(count), COUNT(*) FROM unanswered_groups") == [
        (fallbacks, len(_FALLBACK_TEXTS))
    ]
    s2 = await open_store(db_path)
    try:
        _assert_groups_match_questions(db_path, s2)
    finally:
        await s2.close()
    assert s.rejected_count == 0


async def swap_writer(store: Storage, db_path: Path, factory: type[sqlite3.Connection]) -> None:
    """Test hook: give the storage a writer connection of a custom sqlite3 class."""
    writer = await Connection.open(db_path, timeout=0.1, factory=factory)
    old, store._log.db = store._log.db, writer
    assert old is not None
    await old.close()


async def test_batch_failing_at_commit_is_retried_whole_without_double_counting(
    db_path: Path,
) -> None:
    """The whole batch (inserts, group counts, new groups, votes) is written, then the
    COMMIT finds the database locked: nothing may survive the rollback - in the file or in
    the in-memory group index - and the retry must count every question exactly once."""
    failing = False
    failed_commits = 0

    class LockedOnCommit(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
            nonlocal failed_commits
            if failing and sql.strip().upper() == "COMMIT":
                failed_commits += 1
                exc = sqlite3.OperationalError("database is locked")
                exc.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
                raise exc
            return super().execute(sql, *args)

    store = await open_store(db_path)
    await swap_writer(store, db_path, LockedOnCommit)
    try:
        rabies = "jadwal vaksin rabies gratis"
        store.log_question(q(rabies, key="a1"))
        store.log_question(q(rabies + " dmn", key="a2"))
        store.log_question(q("syarat buat ktp baru", key="a3"))
        await flushed(store)
        before = raw(db_path, "SELECT id, count FROM unanswered_groups ORDER BY id")
        assert [c for _, c in before] == [2, 1]
        rabies_id = before[0][0]

        failing = True
        batch = [
            q(rabies, key="b1"),
            q("jadwal vaksin rabies gratis kak", key="b2"),
            q("lampu jalan mati di gang mawar", key="b3"),
            q("lampu jalan mati gang mawar", key="b4"),
            q("kapan posyandu buka", "answer", key="b5", entry_id="e1"),
            q(rabies, key="b1"),  # the same key twice in one batch is stored once
        ]
        for rec in batch:
            store.log_question(rec)
        store.log_feedback("b5", "e1", 9, -1)
        with pytest.raises(StorageUnavailable, match="locked"):
            await store.flush()
        await asyncio.sleep(0.3)  # the writer retries (and fails) a few more times
        assert failed_commits >= 2
        assert store.pending_count == len(batch) + 1
        assert not store.healthy
        # Rolled back: neither the file nor the group index kept any of it.
        assert raw(db_path, "SELECT id, count FROM unanswered_groups ORDER BY id") == before
        assert raw(db_path, "SELECT COUNT(*) FROM questions") == [(3,)]
        assert raw(db_path, "SELECT COUNT(*) FROM feedback") == [(0,)]
        _assert_groups_match_questions(db_path, store)

        failing = False
        await flushed(store)
        assert store.healthy and store.pending_count == 0
        groups = raw(db_path, "SELECT id, count FROM unanswered_groups ORDER BY id")
        assert [c for _, c in groups] == [4, 1, 2]  # rabies 2 + 2, ktp 1, lampu 2
        assert raw(db_path, "SELECT COUNT(*) FROM questions") == [(8,)]
        assert raw(db_path, "SELECT value FROM feedback") == [(-1,)]
        _assert_groups_match_questions(db_path, store)

        store.log_question(q(rabies, key="c1"))  # the live index still points at the group
        await flushed(store)
        assert raw(db_path, "SELECT count FROM unanswered_groups WHERE id = ?", (rabies_id,)) == [
            (5,)
        ]
        _assert_groups_match_questions(db_path, store)
        assert store.dropped_count == 0 and store.rejected_count == 0
    finally:
        failing = False
        await store.close()


async def test_group_closed_by_another_process_is_not_counted(
    store: Storage, db_path: Path
) -> None:
    """The index still lists a group another process answered: a batch must notice, open a
    fresh group for the questions that matched it, and keep counting the open ones."""
    store.log_question(q("jadwal vaksin rabies gratis", key="s1"))
    store.log_question(q("lokasi posyandu terdekat", key="s2"))
    await flushed(store)
    ids = dict(raw(db_path, "SELECT example, id FROM unanswered_groups"))
    con = sqlite3.connect(db_path)
    con.execute(
        "UPDATE unanswered_groups SET status = 'answered' WHERE id = ?",
        (ids["jadwal vaksin rabies gratis"],),
    )
    con.commit()
    con.close()
    for i, text in enumerate(
        [
            "jadwal vaksin rabies gratis dmn",
            "lokasi posyandu terdekat",
            "jadwal vaksin rabies gratis",
        ]
    ):
        store.log_question(q(text, key=f"t{i}"))
    await flushed(store)
    assert raw(db_path, "SELECT example, status, count FROM unanswered_groups ORDER BY id") == [
        ("jadwal vaksin rabies gratis", "answered", 1),
        ("lokasi posyandu terdekat", "open", 2),
        ("jadwal vaksin rabies gratis dmn", "open", 2),
    ]
    _assert_groups_match_questions(db_path, store)


async def test_a_later_vote_in_the_same_batch_replaces_the_earlier(
    store: Storage, db_path: Path
) -> None:
    store.log_question(q("Jam buka MPP", "answer", key="v1", entry_id="mpp"))
    for value, entry in ((1, "mpp"), (-1, "mpp"), (1, "mpp-2")):
        store.log_feedback("v1", entry, 5, value)
    store.log_feedback("v1", "mpp", 6, -1)
    await flushed(store)
    assert raw(db_path, "SELECT user_id, entry_id, value FROM feedback ORDER BY user_id") == [
        (5, "mpp-2", 1),
        (6, "mpp", -1),
    ]


async def test_question_already_stored_is_not_grouped_again(store: Storage, db_path: Path) -> None:
    """A batch can meet keys the database already has (its commit happened although it was
    reported failed): those rows are left out, the rest of the batch is written."""
    rabies = "jadwal vaksin rabies gratis"
    store.log_question(q(rabies, key="x1"))
    await flushed(store)
    store.log_question(q(rabies, key="x1"))  # again: must not count twice
    store.log_question(q(rabies + " dmn", key="x2"))
    store.log_question(q("lampu jalan mati di gang mawar", key="x3"))
    store.log_question(q("kapan posyandu buka", "answer", key="x4", entry_id="e1"))
    store.log_feedback("x4", "e1", 3, 1)
    await flushed(store)
    assert raw(db_path, "SELECT example, count FROM unanswered_groups ORDER BY id") == [
        (rabies, 2),
        ("lampu jalan mati di gang mawar", 1),
    ]
    assert raw(db_path, "SELECT COUNT(*) FROM questions") == [(4,)]
    assert raw(db_path, "SELECT COUNT(*) FROM feedback") == [(1,)]
    _assert_groups_match_questions(db_path, store)
    assert store.rejected_count == 0 and store.healthy


async def test_writer_connection_closed_under_the_storage_is_reopened(
    store: Storage, db_path: Path
) -> None:
    writer = store._writer  # test hook: the connection dies between two batches
    assert writer is not None
    await writer.close()
    store.log_question(q("jadwal vaksin rabies gratis", key="cl1"))
    with pytest.raises(StorageUnavailable, match="closed"):
        await flushed(store)
    await flushed(store)
    assert store._writer is not writer
    assert raw(db_path, "SELECT key FROM questions") == [("cl1",)]
    assert await store.count_open_groups() == 1
