"""Hostile text everywhere a resident or staff member can type: SQL only ever goes
through parameters, so tables stay intact and the text is stored exactly as sent."""

from __future__ import annotations

import csv
import html
import io
import sqlite3
from typing import Any

from bot.matcher import DecisionKind
from bot.reports import FORMULA_STARTS
from bot.storage import EXPORT_COLUMNS
from tests.support import make_command_update, make_inline_update, make_text_update
from tests.support.harness import OUT_OF_SCOPE, STAFF_ID, Harness, pick, sent

PAYLOADS = (
    "'); DROP TABLE questions;--",
    '"; DROP TABLE unanswered_groups; --',
    "Robert'); DELETE FROM feedback WHERE ('1'='1",
    "1 OR 1=1; UPDATE questions SET text='x'",
    "x' UNION SELECT key, text FROM questions --",
    "ATTACH DATABASE '/tmp/pwn.db' AS pwn; --",
    "PRAGMA writable_schema = 1; --",
    "%s %d %(key)s {0} {text!r} {{}}",
    "<b>tebal</b> &amp; <script>alert(1)</script>",
    '=HYPERLINK("http://contoh.invalid","klik")',
    "nul\x00byte dan 'kutip' \\ garis miring",
    "🙂'; --",
)


def schema(bot: Harness) -> list[tuple[str, str]]:
    with sqlite3.connect(bot.settings.db_path) as db:
        return db.execute("SELECT type, name FROM sqlite_master ORDER BY type, name").fetchall()


def stored_texts(bot: Harness) -> list[str]:
    with sqlite3.connect(bot.settings.db_path) as db:
        return [r[0] for r in db.execute("SELECT text FROM questions ORDER BY rowid")]


async def test_hostile_questions_are_stored_verbatim_and_break_nothing(make_bot: Any) -> None:
    bot: Harness = await make_bot()
    before = schema(bot)
    assert ("table", "questions") in before
    for i, payload in enumerate(PAYLOADS):
        replies = sent(await bot.send(make_text_update(payload, user_id=900 + i)))
        assert len(replies) == 1 and replies[0]["text"] != bot.t("error.generic")
        assert "<script>" not in replies[0]["text"]  # never echoed back unescaped
    # ... also through /tanya in a group and inline mode (answered, not logged).
    await bot.send(make_text_update(f"/tanya {PAYLOADS[0]}", chat_type="supergroup"))
    calls = await bot.send(make_inline_update(PAYLOADS[0]))
    assert [c.method for c in calls] == ["answerInlineQuery"]
    await bot.storage.flush()

    assert schema(bot) == before
    assert stored_texts(bot) == [*PAYLOADS, PAYLOADS[0]]
    assert await bot.storage.integrity_ok()


async def test_hostile_staff_answer_is_stored_verbatim_and_delivered_escaped(
    make_bot: Any,
) -> None:
    bot: Harness = await make_bot()
    question = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[0]
    await bot.send(make_text_update(question, user_id=950))
    await bot.storage.flush()
    [group] = await bot.storage.open_groups()
    before = schema(bot)
    for payload in PAYLOADS[:9]:  # Telegram commands carry no NUL; the rest as typed
        await bot.storage.set_group_status(group.id, "open")
        calls = await bot.send(make_text_update(f"/jawab {group.id} {payload}", user_id=STAFF_ID))
        [delivered] = [c for c in sent(calls) if c["chat_id"] == 950]
        assert html.escape(payload.strip()) in delivered["text"]
        stored = await bot.storage.get_group(group.id)
        assert stored.status == "answered" and stored.answer_text == payload.strip()
    assert schema(bot) == before


async def test_hostile_staff_arguments_are_refused_or_harmless(make_bot: Any) -> None:
    bot: Harness = await make_bot()
    await bot.send(make_text_update(PAYLOADS[0], user_id=951))
    await bot.storage.flush()
    before = schema(bot)
    for command, args, expected in (
        ("abaikan", "1; DROP TABLE questions", bot.t("staff.ignore_usage")),
        ("jawab", "1;DROP TABLE questions halo", bot.t("staff.reply_usage")),
        ("jawab", "'1' halo", bot.t("staff.reply_usage")),
    ):
        calls = await bot.send(make_command_update(command, args, user_id=STAFF_ID))
        assert [c["text"] for c in sent(calls)] == [expected]
    for args in ("1) OR (1=1", "-1", "99999999999999999999"):
        calls = await bot.send(make_command_update("ekspor", args, user_id=STAFF_ID))
        assert len(sent(calls, "sendDocument")) == 1
    assert schema(bot) == before and stored_texts(bot) == [PAYLOADS[0]]


async def test_export_holds_hostile_text_verbatim_and_no_ids(make_bot: Any) -> None:
    bot: Harness = await make_bot()
    users = range(960, 960 + len(PAYLOADS))
    for user, payload in zip(users, PAYLOADS, strict=True):
        await bot.send(make_text_update(payload, user_id=user))
    await bot.storage.flush()
    [doc] = sent(await bot.send(make_command_update("ekspor", user_id=STAFF_ID)), "sendDocument")
    content = doc["document"].content.decode("utf-8-sig")
    table = list(csv.DictReader(io.StringIO(content, newline="")))
    assert tuple(table[0]) == EXPORT_COLUMNS
    # Verbatim, except the documented guard against spreadsheet formulas (SECURITY.md).
    expected = [("'" + p if p[:1] in FORMULA_STARTS else p) for p in PAYLOADS]
    assert [r["text"] for r in table] == expected
    ids = {str(u) for u in users}
    assert not any(v in ids for r in table for k, v in r.items() if k != "text")
