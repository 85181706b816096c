"""Load: 1,000 text updates from 200 users, all at once, through the real Application.

Real handlers, real engine, real SQLite in ``tmp_path``, the default flood limit (20 per
user per minute). Ten users send 30 messages each, so each of them must get 20 answers,
exactly one "slow down" notice, then silence; everyone else is answered every time.
Every loggable question must be in the database exactly once; throttled ones never.
The flood window's clock is frozen, so how fast this machine is changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import Counter, defaultdict
from itertools import count
from types import SimpleNamespace
from typing import Any

import pytest
from telegram import Update

from bot.matcher import DecisionKind
from bot.telegram import services as services_module
from tests.support import make_command_update, make_text_update
from tests.support.harness import OUT_OF_SCOPE, UHC_QUESTION, VAGUE, Harness, pick

USERS = 200
HEAVY = 10  # users 0..9 send 30 messages each: 10 over the limit
HEAVY_MESSAGES = 30
LIGHT_FOUR = 130  # of the 190 others, 130 send 4 messages and 60 send 3
FIRST_USER = 20_000


def build_traffic(bot: Harness) -> list[tuple[int, dict[str, Any], bool]]:
    """(user, update, loggable) in arrival order: users interleaved, each in order."""
    answers = [UHC_QUESTION, "embung aji raden udh jadi?", "puskesmas baru dmn aja"]
    vague = pick(bot.engine, VAGUE, DecisionKind.CHOICES)[:2]
    fallback = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[:3]
    smalltalk = pick(bot.engine, ["halo", "makasih", "terima kasih banyak"], DecisionKind.SMALLTALK)
    pool = answers + vague + fallback + smalltalk
    message_ids = count(1)

    per_user: list[list[tuple[int, dict[str, Any], bool]]] = []
    for n in range(USERS):
        user = FIRST_USER + n
        if n < HEAVY:
            sizes, commands = HEAVY_MESSAGES, 0
        else:
            sizes, commands = (4 if n < HEAVY + LIGHT_FOUR else 3), 1
        items = []
        for i in range(sizes):
            mid = next(message_ids)
            if i < commands:  # /start or /bantuan: answered, never logged
                name = "start" if n % 2 else "bantuan"
                items.append((user, make_command_update(name, user_id=user, message_id=mid), False))
            else:
                text = pool[(n + i) % len(pool)]
                items.append((user, make_text_update(text, user_id=user, message_id=mid), True))
        per_user.append(items)
    traffic = []
    for round_ in range(HEAVY_MESSAGES):  # round robin: everyone at once
        traffic += [items[round_] for items in per_user if round_ < len(items)]
    return traffic


async def test_1000_updates_from_200_users(
    make_bot: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(services_module, "time", SimpleNamespace(monotonic=lambda: 1_000.0))
    bot: Harness = await make_bot()  # default flood limit
    assert bot.settings.flood_limit == 20
    traffic = build_traffic(bot)
    assert len(traffic) == 1_000 and len({u for u, _, _ in traffic}) == USERS

    updates = [Update.de_json(update, bot.app.bot) for _, update, _ in traffic]
    await asyncio.gather(*(bot.app.process_update(u) for u in updates))  # as fast as possible
    await bot.storage.flush()

    notice = bot.t("flood.notice")
    replies: dict[int, list[str]] = defaultdict(list)
    for call in bot.req.calls("sendMessage"):
        assert call.ok
        replies[call["chat_id"]].append(call["text"])

    sent_by: dict[int, list[tuple[dict[str, Any], bool]]] = defaultdict(list)
    for user, update, loggable in traffic:
        sent_by[user].append((update, loggable))

    expected_logged: set[tuple[int, int]] = set()
    answered = throttled = notices = 0
    for user, items in sent_by.items():
        got = replies[user]
        limit = bot.settings.flood_limit
        if len(items) > limit:  # over the limit: 20 answers, one notice, then silence
            assert len(got) == limit + 1, (user, got)
            assert got[-1] == notice and notice not in got[:-1]
            kept, dropped = items[:limit], items[limit:]
            notices += 1
        else:
            assert len(got) == len(items) and notice not in got, (user, got)
            kept, dropped = items, []
        answered += len(kept)
        throttled += len(dropped)
        expected_logged |= {(user, u["message"]["message_id"]) for u, log in kept if log}

    with sqlite3.connect(bot.settings.db_path) as db:
        rows = db.execute(
            "SELECT chat_id, message_id, decision, group_id, text FROM questions"
        ).fetchall()
        group_counts = db.execute("SELECT SUM(count) FROM unanswered_groups").fetchone()[0]
    logged = Counter((r[0], r[1]) for r in rows)
    duplicates = [k for k, n in logged.items() if n > 1]
    lost = expected_logged - set(logged)
    unexpected = set(logged) - expected_logged  # e.g. a throttled message that got logged
    decisions = Counter(r[2] for r in rows)

    print(
        f"\n1,000 updates / {USERS} users: {answered + throttled} handled, {answered} answered, "
        f"{throttled} throttled with {notices} notices, {len(rows)} rows logged "
        f"({dict(decisions)}), {len(duplicates)} duplicates, {len(lost)} lost"
    )
    assert answered + throttled == 1_000
    assert (answered, throttled, notices) == (900, 100, HEAVY)
    assert duplicates == [] and lost == set() and unexpected == set()
    assert len(rows) == len(expected_logged) == 710
    # Smalltalk is logged but never grouped; every fallback is in exactly one group.
    assert decisions["smalltalk"] > 0 and decisions["fallback"] > 0
    assert all(r[3] is None for r in rows if r[2] != "fallback")
    assert all(r[3] is not None for r in rows if r[2] == "fallback")
    assert group_counts == decisions["fallback"]
    assert bot.storage.pending_count == 0 and bot.storage.dropped_count == 0
    assert bot.storage.rejected_count == 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
