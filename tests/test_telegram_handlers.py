"""The Telegram adapter, driven end to end in-process.

Every test builds the REAL Application with :func:`bot.telegram.app.build_application`
(the real bundled knowledge and engine, a real SQLite :class:`Storage` in ``tmp_path``)
on an in-memory :class:`RecordingRequest`, feeds raw updates through
``Application.process_update`` and asserts on the Bot API calls the bot made and on
what ended up in the database. Nothing here opens a socket.
"""

from __future__ import annotations

import csv
import html
import io
import logging
import re
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from telegram.ext import CallbackContext

from bot.locale import Locale
from bot.matcher import DecisionKind, Engine
from bot.paths import KNOWLEDGE_DIR
from bot.storage import EXPORT_COLUMNS, new_key
from bot.telegram import callbacks, keyboards, staff
from bot.telegram.app import RESIDENT_COMMANDS, STAFF_COMMANDS, on_error
from bot.telegram.callbacks import Feedback, OpenEntry, TopicPage, decode, encode
from bot.telegram.messages import MAX_MESSAGE_CHARS, split_text, units
from bot.telegram.services import FloodGuard
from tests.conftest import write_knowledge
from tests.support import (
    BOT_USER,
    Call,
    RecordingRequest,
    UploadedFile,
    make_command_update,
    make_document_update,
    make_edited_message_update,
    make_inline_update,
    make_location_update,
    make_message,
    make_photo_update,
    make_sticker_update,
    make_text_update,
    make_voice_update,
)
from tests.support.harness import (
    ALL_STAFF_COMMANDS,
    BOT_NAME,
    OUT_OF_SCOPE,
    RESIDENT,
    STAFF_CHAT,
    STAFF_ID,
    UHC_ID,
    UHC_QUESTION,
    VAGUE,
    Harness,
    assert_no_handler_errors,
    buttons,
    callback_data,
    chat_record,
    only_message,
    pick,
    press,
    rows_of,
    sent,
)
from tests.support.updates import DEFAULT_GROUP_ID, next_update_id

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning"
)

# --- harness ----------------------------------------------------------------------------

UHC_TITLE = "<b>Cakupan kepesertaan JKN / BPJS Kesehatan (UHC) Balikpapan</b>"


Factory = Callable[..., Awaitable[Harness]]


@pytest_asyncio.fixture
async def bot(make_bot: Factory) -> Harness:
    return await make_bot()


# --- /start, /bantuan, /topik ------------------------------------------------------------


async def test_start_welcomes_and_offers_every_topic(bot: Harness) -> None:
    message = only_message(await bot.send(make_command_update("start")))
    assert message["chat_id"] == RESIDENT
    assert message["parse_mode"] == "HTML"
    assert "<b>Tanya Balikpapan</b>" in message["text"]
    counts = f"{len(bot.knowledge.entries)} jawaban dalam {len(bot.knowledge.topics)} topik"
    assert counts in message["text"]
    topics = [t for t in bot.knowledge.topics.values() if bot.knowledge.in_topic(t.id)]
    labels = [b["text"] for b in buttons(message)]
    assert len(labels) == len(topics)
    for topic, label in zip(topics, labels, strict=True):
        assert topic.title in label
        assert f"({len(bot.knowledge.in_topic(topic.id))})" in label
    assert callback_data(message) == [encode(TopicPage(t.id, 0)) for t in topics]
    assert all(len(row) <= 2 for row in rows_of(message))


@pytest.mark.parametrize("command", ["bantuan", "help"])
async def test_help_in_both_languages(bot: Harness, command: str) -> None:
    message = only_message(await bot.send(make_command_update(command)))
    assert message["text"] == bot.t("help.text")
    assert "/tanya" in message["text"] and "/topik" in message["text"]


async def test_unknown_command_in_private_points_to_help(bot: Harness) -> None:
    message = only_message(await bot.send(make_command_update("resep")))
    assert message["text"] == bot.t("help.unknown_command")


async def test_ask_without_question_explains_usage(bot: Harness) -> None:
    message = only_message(await bot.send(make_command_update("tanya")))
    assert message["text"] == bot.t("ask.usage")
    assert await bot.rows() == []


async def test_topics_browse_from_list_to_answer(bot: Harness) -> None:
    listing = only_message(await bot.send(make_command_update("topik")))
    assert listing["text"] == bot.t("topics.intro")
    topic = bot.knowledge.topics["kesehatan"]
    assert encode(TopicPage(topic.id, 0)) in callback_data(listing)

    calls = await bot.send(press(encode(TopicPage(topic.id, 0))))
    assert sent(calls, "answerCallbackQuery")
    page = sent(calls, "editMessageText")[0]
    assert page["text"] == bot.t("topics.page", emoji=topic.emoji, title=topic.title)
    entries = bot.knowledge.in_topic(topic.id)
    opened = [decode(d) for d in callback_data(page)]
    assert [o.entry_id for o in opened if isinstance(o, OpenEntry)] == [
        e.id for e in entries[: keyboards.PAGE_SIZE]
    ]
    assert "tl" in callback_data(page)  # back to the topic list

    entry = entries[0]
    calls = await bot.send(press(encode(OpenEntry(entry.id))))
    answer = only_message(calls)
    assert answer["text"] == bot.answer_html(entry)
    # Opened from a menu there is no question to rate, but sharing works.
    assert not any(d.startswith("f:") for d in callback_data(answer))
    assert any(b.get("switch_inline_query") == entry.title for b in buttons(answer))

    back = sent(await bot.send(press("tl")), "editMessageText")[0]
    assert back["text"] == bot.t("topics.intro")


async def test_topic_pages_cover_every_entry_once(bot: Harness) -> None:
    for topic in bot.knowledge.topics.values():
        entries = bot.knowledge.in_topic(topic.id)
        seen: list[str] = []
        page = 0
        while True:
            markup = keyboards.topic_page_keyboard(bot.knowledge, topic.id, page, bot.locale)
            data = [b.callback_data for row in markup.inline_keyboard for b in row]
            seen += [d.entry_id for d in map(decode, data) if isinstance(d, OpenEntry)]
            following = [d for d in map(decode, data) if isinstance(d, TopicPage)]
            if not any(p.page == page + 1 for p in following):
                break
            page += 1
        assert seen == [e.id for e in entries]
    # A page number past the end (an old menu) shows the last page rather than nothing.
    big = max(bot.knowledge.topics, key=lambda t: len(bot.knowledge.in_topic(t)))
    calls = await bot.send(press(encode(TopicPage(big, 999))))
    page = sent(calls, "editMessageText")[0]
    assert any(isinstance(decode(d), OpenEntry) for d in callback_data(page))


# --- questions ---------------------------------------------------------------------------


async def test_question_gets_a_full_answer_with_buttons(bot: Harness) -> None:
    entry = bot.knowledge.entry(UHC_ID)
    assert entry is not None
    message = only_message(await bot.send(make_text_update(UHC_QUESTION)))
    text = message["text"]
    assert message["parse_mode"] == "HTML"
    assert text == bot.answer_html(entry)
    assert text.startswith(f"<b>{entry.title}</b>")
    assert "98,76 persen" in text
    assert "Sumber:" in text and "Data per" in text
    assert f"@{BOT_NAME}" in text.splitlines()[-1]

    rows = rows_of(message)
    first = rows[0]
    assert [b["text"] for b in first] == [
        bot.t("buttons.helpful"),
        bot.t("buttons.not_helpful"),
        bot.t("buttons.share"),
    ]
    up, down = decode(first[0]["callback_data"]), decode(first[1]["callback_data"])
    assert isinstance(up, Feedback) and isinstance(down, Feedback)
    assert (up.value, down.value) == (1, -1)
    assert up.entry_id == down.entry_id == entry.id
    assert first[2]["switch_inline_query"] == entry.title
    related = [decode(row[0]["callback_data"]) for row in rows[1:]]
    assert related == [OpenEntry(r) for r in entry.related[:3]]
    assert 1 <= len(related) <= 3

    [row] = await bot.rows()
    assert row["decision"] == "answer" and row["entry_id"] == entry.id
    assert row["key"] == up.question_key
    assert row["text"] == UHC_QUESTION and row["chat_type"] == "private"


async def test_vague_question_offers_choices_that_open_answers(bot: Harness) -> None:
    question = pick(bot.engine, VAGUE, DecisionKind.CHOICES)[0]
    decision = bot.engine.decide(question)
    message = only_message(await bot.send(make_text_update(question)))
    assert message["text"] == bot.t("choices.intro")
    assert "Maksud Anda" in message["text"]
    options = [decode(d) for d in callback_data(message)]
    key = options[0].question_key  # the question's log row: 👍/👎 on what it opens rate it
    assert key and options == [OpenEntry(m.entry.id, key) for m in decision.matches]
    assert 2 <= len(options) <= 3
    assert [b["text"] for b in buttons(message)] == [
        bot.t("buttons.open", title=m.entry.title) for m in decision.matches
    ]

    chosen = decision.matches[-1].entry
    calls = await bot.send(press(callback_data(message)[-1]))
    assert sent(calls, "answerCallbackQuery")
    answer = only_message(calls)
    assert answer["text"] == bot.answer_html(chosen)
    assert answer["chat_id"] == RESIDENT
    [row] = await bot.rows()
    assert row["decision"] == "choices" and row["group_id"] is None and row["key"] == key


async def test_unknown_question_is_passed_to_staff_and_grouped(bot: Harness) -> None:
    question = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[0]
    message = only_message(await bot.send(make_text_update(question)))
    assert message["text"].startswith(bot.t("fallback.logged"))
    assert "teruskan ke petugas" in message["text"]
    assert "tl" in callback_data(message)
    for data in callback_data(message):
        assert decode(data) is not None

    # The same question from two more residents joins the same group.
    await bot.send(make_text_update(question, user_id=201))
    await bot.send(make_text_update(question.capitalize() + "?", user_id=202))
    rows = await bot.rows()
    assert [r["decision"] for r in rows] == ["fallback"] * 3
    assert len({r["group_id"] for r in rows}) == 1 and rows[0]["group_id"] is not None
    assert await bot.storage.count_open_groups() == 1
    [group] = await bot.storage.open_groups()
    assert group.count == 3 and group.example == question


async def test_smalltalk_is_answered_but_not_queued_for_staff(bot: Harness) -> None:
    message = only_message(await bot.send(make_text_update("halo")))
    assert message["text"] == bot.t("smalltalk.greeting")
    assert all(isinstance(decode(d), TopicPage) for d in callback_data(message))
    thanks = pick(bot.engine, ["makasih", "terima kasih banyak"], DecisionKind.SMALLTALK)[0]
    await bot.send(make_text_update(thanks))
    rows = await bot.rows()
    assert [r["decision"] for r in rows] == ["smalltalk", "smalltalk"]
    assert all(r["group_id"] is None for r in rows)
    assert await bot.storage.count_open_groups() == 0


async def test_feedback_is_stored_and_buttons_are_replaced(bot: Harness) -> None:
    answer = only_message(await bot.send(make_text_update(UHC_QUESTION)))
    up, down = callback_data(answer)[:2]

    calls = await bot.send(press(up))
    ack = sent(calls, "answerCallbackQuery")[0]
    assert ack["text"] == bot.t("feedback.thanks_up")
    edited = sent(calls, "editMessageReplyMarkup")[0]
    assert not any(d.startswith("f:") for d in callback_data(edited))
    assert any(b.get("switch_inline_query") for b in buttons(edited))

    [row] = await bot.rows()
    assert (row["feedback_up"], row["feedback_down"]) == (1, 0)
    stats = await bot.storage.stats(1)
    assert [(f.entry_id, f.up, f.down) for f in stats.feedback] == [(UHC_ID, 1, 0)]

    # Changing one's mind replaces the vote rather than adding one.
    calls = await bot.send(press(down))
    assert sent(calls, "answerCallbackQuery")[0]["text"] == bot.t("feedback.thanks_down")
    [row] = await bot.rows()
    assert (row["feedback_up"], row["feedback_down"]) == (0, 1)


def _contact_update() -> dict[str, Any]:
    contact = {"phone_number": "+628111111111", "first_name": "Pak RT", "user_id": 777}
    return {"update_id": next_update_id(), "message": make_message(contact=contact)}


@pytest.mark.parametrize(
    ("make", "key"),
    [
        (make_sticker_update, "non_text.other"),
        (make_photo_update, "non_text.other"),
        (lambda: make_photo_update("cakupan uhc?"), "non_text.other"),
        (make_voice_update, "non_text.voice"),
        (make_location_update, "non_text.other"),
        (make_document_update, "non_text.other"),
        (_contact_update, "non_text.other"),
    ],
    ids=["sticker", "photo", "photo-caption", "voice", "location", "document", "contact"],
)
async def test_non_text_gets_a_friendly_please_type(
    bot: Harness, make: Callable[[], dict[str, Any]], key: str
) -> None:
    message = only_message(await bot.send(make()))
    assert message["text"] == bot.t(key)
    assert "ketik" in message["text"].lower()
    assert await bot.rows() == []


async def test_edited_question_is_answered_again(bot: Harness) -> None:
    first = only_message(await bot.send(make_text_update("embung aji raden", message_id=77)))
    assert first["text"].startswith("<b>Embung Aji Raden (status berbeda antar-sumber)</b>")
    again = only_message(await bot.send(make_edited_message_update(UHC_QUESTION, message_id=77)))
    assert again["text"] == bot.answer_html(bot.knowledge.entry(UHC_ID))
    rows = await bot.rows()
    assert [r["entry_id"] for r in rows] == ["embung-aji-raden", UHC_ID]


async def test_very_long_message_is_answered_from_a_prefix(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    text = (UHC_QUESTION + " ") * 300
    assert len(text) > 10_000
    message = only_message(await bot.send(make_text_update(text[:10_000])))
    assert message["text"] == bot.answer_html(bot.knowledge.entry(UHC_ID))
    [row] = await bot.rows()
    assert len(row["text"]) <= 4096 and row["decision"] == "answer"
    assert_no_handler_errors(caplog)


async def test_private_text_never_crashes_on_odd_input(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    for text in ["😀😀😀", "?!", "\u200b", "a" * 5000, "<script>alert(1)</script>", "&&&"]:
        assert len(sent(await bot.send(make_text_update(text)))) == 1
    assert bot.t("error.generic") not in bot.req.texts()
    assert_no_handler_errors(caplog)


async def test_own_answer_coming_back_is_not_a_question(bot: Harness) -> None:
    entry = bot.knowledge.entry(UHC_ID)
    shared = make_text_update(bot.answer_html(entry))  # picked from inline mode into this chat
    shared["message"]["via_bot"] = dict(BOT_USER)
    forwarded = make_text_update(bot.answer_html(entry))
    forwarded["message"]["forward_origin"] = {
        "type": "user",
        "date": 1_700_000_000,
        "sender_user": {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")},
    }
    for update in (shared, forwarded):
        assert await bot.send(update) == []
    assert await bot.rows() == []
    assert await bot.storage.count_open_groups() == 0
    # A resident forwarding someone else's question is still a question.
    other = make_text_update(UHC_QUESTION)
    other["message"]["forward_origin"] = {
        "type": "hidden_user",
        "date": 1_700_000_000,
        "sender_user_name": "Tetangga",
    }
    assert only_message(await bot.send(other))["text"] == bot.answer_html(entry)


# --- long messages and HTML escaping ----------------------------------------------------


def test_split_text_keeps_short_text_whole() -> None:
    assert split_text("halo\ndunia") == ["halo\ndunia"]
    assert split_text("") == [""]


def test_split_text_cuts_at_line_breaks() -> None:
    lines = [f"<b>baris {i}</b> " + "isi " * 30 for i in range(200)]
    text = "\n".join(lines)
    chunks = split_text(text)
    assert len(chunks) > 1
    assert all(units(c) <= MAX_MESSAGE_CHARS for c in chunks)
    assert "\n".join(chunks) == text  # nothing lost, every cut at a line break
    for chunk in chunks:
        assert chunk.count("<b>") == chunk.count("</b>")


def test_split_text_cuts_an_overlong_line_between_words_and_entities() -> None:
    line = "kata &amp; " * 1000  # one 11,000-character line
    chunks = split_text(line)
    assert len(chunks) == 3
    assert "".join(chunks) == line
    for chunk in chunks:
        assert units(chunk) <= MAX_MESSAGE_CHARS
        assert re.sub(r"&amp;", "", chunk).count("&") == 0, chunk[-20:]
        assert chunk.endswith(" ")
    # No space at all: a hard cut, still never through an entity.
    dense = "x" * 4094 + "&amp;" + "y" * 10
    first, second = split_text(dense)
    assert first == "x" * 4094 and second.startswith("&amp;")


def test_split_text_counts_emoji_as_telegram_does() -> None:
    text = "😀" * 3000  # 6000 UTF-16 units
    chunks = split_text(text)
    assert "".join(chunks) == text
    assert [units(c) for c in chunks] == [4096, 6000 - 4096]


async def test_staff_long_answer_reaches_resident_in_parts(bot: Harness) -> None:
    question = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[0]
    await bot.send(make_text_update(question, message_id=4242))
    await bot.storage.flush()
    [group] = await bot.storage.open_groups()
    paragraphs = [f"Paragraf {i}: " + " ".join(["informasi & rincian"] * 12) for i in range(40)]
    answer = "\n".join(paragraphs)
    assert len(answer) > 2 * MAX_MESSAGE_CHARS - 1000

    calls = await bot.send(
        make_text_update(f"/jawab {group.id} {answer}", user_id=STAFF_ID, chat_id=STAFF_ID)
    )
    parts = [c for c in sent(calls) if c["chat_id"] == RESIDENT]
    assert len(parts) >= 2
    assert all(units(p["text"]) <= MAX_MESSAGE_CHARS for p in parts)
    assert all(p["reply_parameters"]["message_id"] == 4242 for p in parts)
    joined = "\n".join(p["text"] for p in parts)
    assert joined.startswith("📬 <b>Jawaban petugas")
    assert "informasi &amp; rincian" in joined and "informasi & rincian" not in joined
    for paragraph in paragraphs:
        assert paragraph.replace("&", "&amp;") in joined


def marked_up_question(engine: Engine, unlike: str = "") -> str:
    """An out-of-scope question full of HTML specials, as residents sometimes paste."""
    candidates = [f"<b>x</b>& {q} <i>ini</i>" for q in OUT_OF_SCOPE if q != unlike]
    return pick(engine, candidates, DecisionKind.FALLBACK)[0]


async def test_resident_text_is_escaped_when_shown_to_staff(bot: Harness) -> None:
    question = marked_up_question(bot.engine)
    await bot.send(make_text_update(question))
    await bot.storage.flush()
    listing = only_message(await bot.send(make_command_update("belumterjawab", user_id=STAFF_ID)))
    assert f"«{html.escape(question)}»" in listing["text"]
    assert "«&lt;b&gt;x&lt;/b&gt;&amp; " in listing["text"]
    assert "<i>ini</i>" not in listing["text"]

    [group] = await bot.storage.open_groups()
    calls = await bot.send(
        make_text_update(f"/jawab {group.id} Lihat <a href='x'>ini</a> & itu", user_id=STAFF_ID)
    )
    to_resident = next(c for c in sent(calls) if c["chat_id"] == RESIDENT)["text"]
    assert "&lt;b&gt;x&lt;/b&gt;&amp;" in to_resident
    assert "Lihat &lt;a href=&#x27;x&#x27;&gt;ini&lt;/a&gt; &amp; itu" in to_resident


# --- callback data -----------------------------------------------------------------------


async def test_every_callback_data_fits_and_parses(make_bot: Factory) -> None:
    bot = await make_bot(flood_limit=10_000)  # one resident walks through everything
    knowledge = bot.knowledge
    updates = [make_command_update("start"), make_command_update("topik")]
    updates += [press(encode(TopicPage(t, 0))) for t in knowledge.topics]
    updates += [press(encode(TopicPage(t, 1))) for t in knowledge.topics]
    updates += [press(encode(OpenEntry(e.id))) for e in knowledge.entries]
    updates += [make_text_update(e.title) for e in knowledge.entries]
    updates += [make_text_update(q) for q in (*VAGUE, *OUT_OF_SCOPE, "halo", "bisa apa")]
    for update in updates:
        await bot.send(update)
    await bot.storage.flush()
    for command in ("belumterjawab", "unanswered"):
        await bot.send(make_command_update(command, user_id=STAFF_ID))
    staff_pages = [c for c in bot.req.calls() if any(d.startswith("su:") for d in callback_data(c))]
    assert staff_pages, "expected more than one page of unanswered groups"
    await bot.send(press("su:1", user_id=STAFF_ID))

    collected = [d for c in bot.req.calls() for d in callback_data(c)]
    kinds = {type(decode(d)).__name__ for d in collected}
    assert kinds >= {"OpenEntry", "Feedback", "TopicPage", "TopicList", "StaffPage", "StaffIgnore"}
    assert len(collected) > 200
    for data in collected:
        assert len(data.encode("utf-8")) <= callbacks.MAX_BYTES, data
        assert decode(data) is not None, data
    # Feedback data carries real question keys, long entry ids included.
    longest = max(knowledge.entries, key=lambda e: len(e.id))
    data = encode(Feedback(-1, new_key(), longest.id))
    assert len(data.encode()) <= 64 and decode(data) == Feedback(-1, data.split(":")[2], longest.id)


def test_encode_refuses_data_over_64_bytes() -> None:
    with pytest.raises(ValueError):
        encode(OpenEntry("x" * 70))


STALE = [
    "a:no-such-entry",
    "a:",
    "a:UHC",
    "x:y",
    "garbage",
    "f:+:key:no-such-entry",
    f"f:*:key:{UHC_ID}",
    f"f:+:{'k' * 17}:{UHC_ID}",
    "t:no-such-topic:0",
    "t:kesehatan:-1",
    "t:kesehatan:٣",
    "tl:extra",
    "a:" + "x" * 63,
    f"a:{UHC_ID}\n",
    "a:ümlaut",
    "a:🙂",
    " a:puskesmas-baru",
]


@pytest.mark.parametrize("data", STALE)
async def test_tampered_callback_data_gets_expired_notice(
    bot: Harness, data: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert decode(data) is None or isinstance(decode(data), OpenEntry | Feedback | TopicPage)
    calls = await bot.send(press(data))
    [ack] = sent(calls, "answerCallbackQuery")
    assert ack["text"] == bot.t("callback.stale")
    assert "kedaluwarsa" in ack["text"]
    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert_no_handler_errors(caplog)


async def test_callback_without_data_or_message_is_harmless(bot: Harness) -> None:
    update = press("a:puskesmas-baru", inline_message_id="AgAAAB")  # on an inline message
    calls = await bot.send(update)
    assert [c.method for c in calls] == ["answerCallbackQuery"]
    no_data = press("x")
    del no_data["callback_query"]["data"]
    no_data["callback_query"]["game_short_name"] = "game"
    calls = await bot.send(no_data)
    assert sent(calls, "answerCallbackQuery")[0]["text"] == bot.t("callback.stale")


def test_popup_texts_fit_telegrams_200_character_limit(locale: Locale) -> None:
    """answerCallbackQuery refuses longer texts, and the press would just spin."""
    popups = [
        locale.t("callback.stale"),
        locale.t("flood.notice"),
        locale.t("staff.only"),
        locale.t("feedback.thanks_up"),
        locale.t("feedback.thanks_down"),
        locale.t("staff.ignored", id=10**12 - 1),
        locale.t("staff.no_group", id=10**12 - 1),
    ]
    for text in popups:
        assert 1 <= units(text) <= 200, text


# --- inline mode -------------------------------------------------------------------------


def inline_results(calls: list[Call]) -> list[dict[str, Any]]:
    [answer] = sent(calls, "answerInlineQuery")
    return answer["results"]


async def test_inline_question_returns_forward_ready_articles(bot: Harness) -> None:
    calls = await bot.send(make_inline_update(UHC_QUESTION))
    results = inline_results(calls)
    assert 1 <= len(results) <= 5
    entry = bot.knowledge.entry(UHC_ID)
    assert results[0]["title"] == entry.title
    for result in results:
        assert result["type"] == "article"
        content = result["input_message_content"]
        assert content["parse_mode"] == "HTML"
        assert "Sumber:" in content["message_text"] and "Data per" in content["message_text"]
        assert f"@{BOT_NAME}" in content["message_text"]
        assert len(result["id"].encode()) <= 64
    assert results[0]["input_message_content"]["message_text"] == bot.answer_html(entry)
    assert len({r["id"] for r in results}) == len(results)
    assert await bot.rows() == []  # inline queries are not questions to log


async def test_inline_empty_query_lists_popular_entries(bot: Harness) -> None:
    results = inline_results(await bot.send(make_inline_update("")))
    assert [r["title"] for r in results] == [e.title for e in bot.knowledge.entries[:5]]

    for _ in range(3):
        await bot.send(make_text_update("beasiswa"))
    await bot.storage.flush()
    await staff.refresh_popular_job(CallbackContext(bot.app))
    results = inline_results(await bot.send(make_inline_update("  ")))
    assert len(results) == 5
    assert results[0]["title"] == bot.knowledge.entry("seragam-beasiswa").title


async def test_share_button_title_resolves_to_that_exact_entry(bot: Harness) -> None:
    for entry in bot.knowledge.entries:
        markup = keyboards.answer_keyboard(entry, bot.knowledge, bot.locale, new_key())
        [share] = [b for row in markup.inline_keyboard for b in row if b.switch_inline_query]
        results = inline_results(await bot.send(make_inline_update(share.switch_inline_query)))
        assert [r["title"] for r in results] == [entry.title], entry.id
        assert results[0]["input_message_content"]["message_text"] == bot.answer_html(entry)


async def test_inline_unknown_question_offers_to_ask_the_bot(bot: Harness) -> None:
    question = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[0]
    [answer] = sent(await bot.send(make_inline_update(question)), "answerInlineQuery")
    assert answer["results"] == []
    assert answer["button"]["text"] == bot.t("inline.no_result")
    assert answer["button"]["start_parameter"] == "inline"


# --- groups ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["/tanya", f"/tanya@{BOT_NAME}"])
async def test_group_ask_command_is_answered(bot: Harness, command: str) -> None:
    message = only_message(
        await bot.send(make_text_update(f"{command} {UHC_QUESTION}", chat_type="supergroup"))
    )
    assert message["chat_id"] == DEFAULT_GROUP_ID
    assert message["text"] == bot.answer_html(bot.knowledge.entry(UHC_ID))
    assert "message_id" in message["reply_parameters"]  # quotes the asker in a busy group
    [row] = await bot.rows()
    assert row["chat_type"] == "supergroup" and row["text"] == UHC_QUESTION


async def test_group_reply_to_the_bot_is_a_question(bot: Harness) -> None:
    update = make_text_update("embung aji raden", chat_type="group", reply_to_bot=True)
    message = only_message(await bot.send(update))
    assert message["text"].startswith("<b>Embung Aji Raden (status berbeda antar-sumber)</b>")
    [row] = await bot.rows()
    assert row["chat_type"] == "group"


async def test_group_chatter_is_ignored_and_not_logged(bot: Harness) -> None:
    chatter = [
        make_text_update("besok kerja bakti jam 7 ya bapak ibu", chat_type="supergroup"),
        make_text_update(UHC_QUESTION, chat_type="supergroup"),
        make_text_update(f"/tanya@OtherBot {UHC_QUESTION}", chat_type="supergroup"),
        make_text_update("/resep", chat_type="supergroup"),
        make_sticker_update(chat_type="supergroup"),
    ]
    reply_to_human = make_text_update("setuju", chat_type="supergroup")
    reply_to_human["message"]["reply_to_message"] = make_message(text="kerja bakti?", user_id=5)
    for update in [*chatter, reply_to_human]:
        assert await bot.send(update) == []
    assert await bot.rows() == []


async def test_group_chatter_does_not_count_against_flood_limit(make_bot: Factory) -> None:
    bot = await make_bot(flood_limit=3)
    for i in range(10):  # a bot with privacy mode off overhears everything
        await bot.send(make_text_update(f"obrolan biasa {i}", chat_type="supergroup"))
    message = only_message(
        await bot.send(make_text_update(f"/tanya {UHC_QUESTION}", chat_type="supergroup"))
    )
    assert message["text"].startswith("<b>Cakupan")


# --- flood control -----------------------------------------------------------------------


def test_flood_guard_window() -> None:
    guard = FloodGuard(limit=2, window=60)
    assert [guard.check(1, now=t) for t in (0, 1, 2, 3, 4)] == ["ok", "ok", "warn", "drop", "drop"]
    assert guard.check(2, now=5) == "ok"  # other users unaffected
    assert guard.check(1, now=60.5) == "ok"  # the first message left the window
    assert guard.check(1, now=61) == "ok"
    assert guard.check(1, now=62) == "warn"  # warned again in a new burst
    guard.forget_idle(now=1000)
    assert guard.check(1, now=1000) == "ok"


async def test_flooding_user_gets_one_notice_then_silence(make_bot: Factory) -> None:
    bot = await make_bot(flood_limit=3)
    question = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)
    replies = []
    for i in range(12):
        calls = await bot.send(make_text_update(question[i % len(question)], user_id=300))
        replies.append([c["text"] for c in sent(calls)])
    assert all(len(r) == 1 and r[0] != bot.t("flood.notice") for r in replies[:3])
    assert replies[3] == [bot.t("flood.notice")]
    assert replies[4:] == [[]] * 8
    # Buttons are part of the same budget: silence, not an error.
    calls = await bot.send(press(encode(OpenEntry(UHC_ID)), user_id=300))
    assert calls == []

    other = only_message(await bot.send(make_text_update(UHC_QUESTION, user_id=301)))
    assert other["text"].startswith("<b>Cakupan")
    staff_reply = sent(await bot.send(make_command_update("statistik", user_id=STAFF_ID)))
    assert staff_reply

    rows = await bot.rows()
    flooded = [r for r in rows if r["decision"] == "fallback"]
    assert len(flooded) == 3  # the dropped messages never reached the log or the queue
    assert await bot.storage.count_open_groups() <= 3


# --- staff -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ALL_STAFF_COMMANDS)
@pytest.mark.parametrize("chat_type", ["private", "supergroup"])
async def test_staff_commands_refuse_residents(bot: Harness, command: str, chat_type: str) -> None:
    question = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[0]
    await bot.send(make_text_update(question, user_id=201))
    await bot.storage.flush()
    [group] = await bot.storage.open_groups()
    calls = await bot.send(make_command_update(command, f"{group.id} jawaban", chat_type=chat_type))
    assert [c.method for c in calls] == ["sendMessage"]
    assert calls[0]["text"] == "Perintah ini khusus petugas."
    assert (await bot.storage.get_group(group.id)).status == "open"


@pytest.mark.parametrize("data", ["su:0", "su:1", "si:1", "si:999999", "su:x"])
async def test_staff_buttons_refuse_residents(bot: Harness, data: str) -> None:
    question = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[0]
    await bot.send(make_text_update(question, user_id=201))
    await bot.storage.flush()
    calls = await bot.send(press(data))
    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert calls[0]["text"] == "Perintah ini khusus petugas."
    assert await bot.storage.count_open_groups() == 1


@pytest.mark.parametrize("command", ALL_STAFF_COMMANDS)
async def test_staff_commands_work_for_staff(bot: Harness, command: str) -> None:
    calls = await bot.send(make_command_update(command, user_id=STAFF_ID))
    assert calls
    assert all(c.ok for c in calls)
    assert bot.t("staff.only") not in [c.get("text") for c in calls]
    assert bot.t("error.generic") not in [c.get("text") for c in calls]


async def _ask_out_of_scope(bot: Harness, askers: dict[str, list[int]]) -> dict[str, int]:
    """Residents ask; returns question -> group id."""
    for question, users in askers.items():
        for user in users:
            await bot.send(make_text_update(question, user_id=user))
    await bot.storage.flush()
    rows = await bot.rows()
    return {r["text"]: r["group_id"] for r in rows if r["decision"] == "fallback"}


async def test_unanswered_lists_groups_with_counts(bot: Harness) -> None:
    empty = only_message(await bot.send(make_command_update("belumterjawab", user_id=STAFF_ID)))
    assert empty["text"] == bot.t("staff.none_open")

    first, second = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[:2]
    groups = await _ask_out_of_scope(bot, {first: [201, 202, 203], second: [204]})
    listing = only_message(await bot.send(make_command_update("belumterjawab", user_id=STAFF_ID)))
    text = listing["text"]
    assert text.startswith("<b>Pertanyaan belum terjawab</b>: 2 kelompok (hal. 1/1)")
    assert text.index(f"#{groups[first]} · 3×") < text.index(f"#{groups[second]} · 1×")
    assert f"«{first}»" in text and f"«{second}»" in text
    assert callback_data(listing) == [f"si:{groups[first]}", f"si:{groups[second]}"]

    # The ignore button drops a group and redraws the list.
    calls = await bot.send(press(f"si:{groups[second]}", user_id=STAFF_ID))
    assert sent(calls, "answerCallbackQuery")[0]["text"] == bot.t(
        "staff.ignored", id=groups[second]
    )
    redrawn = sent(calls, "editMessageText")[0]
    assert "1 kelompok" in redrawn["text"] and f"«{second}»" not in redrawn["text"]
    assert (await bot.storage.get_group(groups[second])).status == "ignored"


async def test_unanswered_pages(bot: Harness) -> None:
    questions = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)
    assert len(questions) > staff.PAGE_SIZE
    await _ask_out_of_scope(bot, {q: [201] for q in questions})
    total = await bot.storage.count_open_groups()
    assert total > staff.PAGE_SIZE
    listing = only_message(await bot.send(make_command_update("unanswered", user_id=STAFF_ID)))
    assert "(hal. 1/2)" in listing["text"]
    assert callback_data(listing)[-1] == "su:1"
    calls = await bot.send(press("su:1", user_id=STAFF_ID))
    page = sent(calls, "editMessageText")[0]
    assert "(hal. 2/2)" in page["text"]
    assert page["text"].count("· 1×") == total - staff.PAGE_SIZE
    assert "su:0" in callback_data(page)


async def test_unanswered_page_double_tap_is_harmless(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await _ask_out_of_scope(bot, {q: [201] for q in OUT_OF_SCOPE})
    bot.req.fail_next(
        "editMessageText",
        status=400,
        description="Bad Request: message is not modified: specified new message content "
        "and reply markup are exactly the same",
    )
    calls = await bot.send(press("su:0", user_id=STAFF_ID))
    assert [c.method for c in calls] == ["answerCallbackQuery", "editMessageText"]
    assert bot.t("error.generic") not in bot.req.texts()
    assert_no_handler_errors(caplog)


async def test_reply_sends_answer_to_every_asker_and_closes_group(bot: Harness) -> None:
    question = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[0]
    for user, message_id in ((201, 11), (202, 12)):
        await bot.send(make_text_update(question, user_id=user, message_id=message_id))
    await bot.send(make_text_update(f"/tanya {question}", chat_type="supergroup", message_id=13))
    await bot.storage.flush()
    [group] = await bot.storage.open_groups()
    assert group.count == 3

    calls = await bot.send(
        make_text_update(
            f"/jawab {group.id} Jadwal ada di situs Samsat.\nTerima kasih.", user_id=STAFF_ID
        )
    )
    delivered = {c["chat_id"]: c for c in sent(calls) if c["chat_id"] != STAFF_ID}
    assert set(delivered) == {201, 202, DEFAULT_GROUP_ID}
    assert delivered[201]["reply_parameters"]["message_id"] == 11
    assert delivered[DEFAULT_GROUP_ID]["reply_parameters"]["message_id"] == 13
    for call in delivered.values():
        assert call["text"] == bot.t(
            "staff.answer_to_resident",
            question=question,
            answer="Jadwal ada di situs Samsat.\nTerima kasih.",
        )
    done = next(c for c in sent(calls) if c["chat_id"] == STAFF_ID)
    assert done["text"] == bot.t("staff.reply_done", id=group.id, sent=3, failed=0)
    closed = await bot.storage.get_group(group.id)
    assert closed.status == "answered"
    assert closed.answer_text == "Jadwal ada di situs Samsat.\nTerima kasih."
    assert await bot.storage.count_open_groups() == 0


async def test_reply_counts_blocked_residents_and_marks_them_inactive(bot: Harness) -> None:
    question = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[0]
    for user in (201, 202):
        await bot.send(make_text_update(question, user_id=user))
    await bot.storage.flush()
    [group] = await bot.storage.open_groups()
    bot.req.fail_next("sendMessage", status=403)  # 201, asked first, has blocked the bot
    calls = await bot.send(make_text_update(f"/jawab {group.id} sudah", user_id=STAFF_ID))
    assert sent(calls)[-1]["text"] == bot.t("staff.reply_done", id=group.id, sent=1, failed=1)
    assert await bot.storage.group_recipients(group.id) == [
        (202, sent(calls)[0]["reply_parameters"]["message_id"])
    ]


async def test_editing_a_sent_reply_does_not_send_it_twice(bot: Harness) -> None:
    question = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[0]
    groups = await _ask_out_of_scope(bot, {question: [201]})
    command = f"/jawab {groups[question]} Jawaban"
    calls = await bot.send(make_text_update(command, user_id=STAFF_ID, message_id=900))
    assert [c["chat_id"] for c in sent(calls)] == [201, STAFF_ID]
    edited = make_edited_message_update(command + " yang diperbaiki", message_id=900)
    edited["edited_message"]["from"]["id"] = edited["edited_message"]["chat"]["id"] = STAFF_ID
    assert await bot.send(edited) == []


@pytest.mark.parametrize(
    ("args", "key"),
    [
        ("", "staff.reply_usage"),
        ("12", "staff.reply_usage"),
        ("abc teks", "staff.reply_usage"),
        ("² teks", "staff.reply_usage"),
        ("٣ teks", "staff.reply_usage"),
    ],
)
async def test_reply_usage(bot: Harness, args: str, key: str) -> None:
    message = only_message(await bot.send(make_command_update("jawab", args, user_id=STAFF_ID)))
    assert message["text"] == bot.t(key)


async def test_reply_and_ignore_unknown_group(bot: Harness) -> None:
    for command in ("jawab", "reply"):
        calls = await bot.send(make_command_update(command, "4040 teks", user_id=STAFF_ID))
        assert only_message(calls)["text"] == bot.t("staff.no_group", id=4040)
    for command in ("abaikan", "ignore"):
        calls = await bot.send(make_command_update(command, "#4040", user_id=STAFF_ID))
        assert only_message(calls)["text"] == bot.t("staff.no_group", id=4040)
        calls = await bot.send(make_command_update(command, "", user_id=STAFF_ID))
        assert only_message(calls)["text"] == bot.t("staff.ignore_usage")


async def test_ignore_closes_group_without_messaging_residents(bot: Harness) -> None:
    question = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[0]
    groups = await _ask_out_of_scope(bot, {question: [201]})
    calls = await bot.send(make_command_update("abaikan", str(groups[question]), user_id=STAFF_ID))
    message = only_message(calls)
    assert message["chat_id"] == STAFF_ID
    assert message["text"] == bot.t("staff.ignored", id=groups[question])
    assert (await bot.storage.get_group(groups[question])).status == "ignored"
    # A later identical question opens a new group instead of joining the ignored one.
    again = await _ask_out_of_scope(bot, {question: [202]})
    assert await bot.storage.count_open_groups() == 1
    assert again[question] is not None


async def test_export_is_a_utf8_bom_csv_with_documented_columns(bot: Harness) -> None:
    question = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[0]
    for text in (UHC_QUESTION, "halo", question, "Pelayanan di kelurahan, “ramah”?"):
        await bot.send(make_text_update(text))
    answer = next(c for c in bot.req.calls("sendMessage") if c["text"].startswith("<b>Cakupan"))
    await bot.send(press(callback_data(answer)[0]))  # 👍
    await bot.storage.flush()
    calls = await bot.send(make_command_update("ekspor", user_id=STAFF_ID))
    [doc] = sent(calls, "sendDocument")
    upload = doc["document"]
    assert isinstance(upload, UploadedFile)
    assert re.fullmatch(r"pertanyaan-\d{8}\.csv", upload.filename)
    assert upload.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(upload.content.decode("utf-8-sig"))))
    assert tuple(table[0]) == EXPORT_COLUMNS
    assert not {"user_id", "chat_id", "message_id"} & set(table[0])
    body = [dict(zip(table[0], row, strict=True)) for row in table[1:]]
    assert [r["text"] for r in body] == [
        UHC_QUESTION,
        "halo",
        question,
        "Pelayanan di kelurahan, “ramah”?",
    ]
    assert [r["decision"] for r in body[:3]] == ["answer", "smalltalk", "fallback"]
    assert (body[0]["entry_id"], body[0]["feedback_up"], body[0]["feedback_down"]) == (
        UHC_ID,
        "1",
        "0",
    )
    assert body[2]["group_id"] != "" and body[0]["group_id"] == ""
    assert str(RESIDENT) not in {v for r in body for v in r.values()}
    assert doc["caption"] == bot.t("staff.export_caption", rows=4)
    # /export 1 (last day) has the same rows; the English name works too.
    [doc] = sent(
        await bot.send(make_command_update("export", "1", user_id=STAFF_ID)), "sendDocument"
    )
    assert doc["caption"] == bot.t("staff.export_caption", rows=4)


async def test_stats_sends_text_and_chart(bot: Harness) -> None:
    question = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[0]
    for text in (
        UHC_QUESTION,
        UHC_QUESTION,
        "halo",
        question,
        marked_up_question(bot.engine, question),
    ):
        await bot.send(make_text_update(text))
    await bot.storage.flush()
    calls = await bot.send(make_command_update("statistik", user_id=STAFF_ID))
    [text] = [c["text"] for c in sent(calls)]
    assert text.startswith(bot.t("stats.header", days=7, total=5, users=1))
    assert "Cakupan kepesertaan JKN / BPJS Kesehatan (UHC) Balikpapan" in text
    assert "&lt;b&gt;x&lt;/b&gt;&amp;" in text and "<b>x</b>" not in text
    [photo] = sent(calls, "sendPhoto")
    assert photo["photo"].content.startswith(b"\x89PNG\r\n\x1a\n")
    assert photo["caption"] == bot.t("stats.chart_caption", days=7)

    calls = await bot.send(make_command_update("stats", "30", user_id=STAFF_ID))
    assert sent(calls)[0]["text"].startswith(bot.t("stats.header", days=30, total=5, users=1))


async def test_stats_without_questions_has_no_chart(bot: Harness) -> None:
    calls = await bot.send(make_command_update("stats", user_id=STAFF_ID))
    assert sent(calls)[0]["text"].startswith(bot.t("stats.header", days=7, total=0, users=0))
    assert sent(calls, "sendPhoto") == []


@pytest_asyncio.fixture
async def reloadable(make_bot: Factory, tmp_path: Path) -> Harness:
    folder = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, folder)
    return await make_bot(knowledge_dir=folder)


async def test_reload_swaps_in_valid_knowledge(reloadable: Harness) -> None:
    bot = reloadable
    folder = bot.settings.knowledge_dir
    for path in folder.glob("*.yaml"):
        path.unlink()
    write_knowledge(folder)  # the two-entry mini knowledge
    calls = await bot.send(make_command_update("muatulang", user_id=STAFF_ID))
    message = only_message(calls)
    assert message["text"].startswith("✅ Pengetahuan dimuat ulang: 2 entri, 10 contoh")
    assert bot.engine.knowledge.entry(UHC_ID) is None

    answer = only_message(await bot.send(make_text_update("embung udah jadi belum")))
    assert "pembangunan Embung Aji Raden sudah rampung" in answer["text"]
    # Buttons from before the reload now point nowhere: a polite notice, no error.
    calls = await bot.send(press(encode(OpenEntry(UHC_ID))))
    assert sent(calls, "answerCallbackQuery")[0]["text"] == bot.t("callback.stale")


async def test_reload_with_broken_yaml_keeps_old_knowledge(reloadable: Harness) -> None:
    bot = reloadable
    before = bot.engine.knowledge
    broken = bot.settings.knowledge_dir / "programs.yaml"
    broken.write_text("entries:\n  - id: rusak\n   title: [tidak ditutup\n", encoding="utf-8")
    calls = await bot.send(make_command_update("reload", user_id=STAFF_ID))
    text = only_message(calls)["text"]
    assert text.startswith("❌ Pengetahuan TIDAK dimuat ulang")
    assert re.search(r"programs\.yaml:\d+: ", text), text
    assert bot.engine.knowledge is before
    answer = only_message(await bot.send(make_text_update(UHC_QUESTION)))
    assert answer["text"].startswith(UHC_TITLE)


async def test_reload_reports_schema_problems_with_lines(reloadable: Harness) -> None:
    bot = reloadable
    entries = bot.settings.knowledge_dir / "extra.yaml"
    entries.write_text(
        "entries:\n  - id: Salah_ID\n    title: x\n    tidak_dikenal: 1\n", encoding="utf-8"
    )
    text = only_message(await bot.send(make_command_update("muatulang", user_id=STAFF_ID)))["text"]
    problems = re.findall(r"extra\.yaml:(\d+): ", text)
    assert len(problems) >= 2 and all(int(n) >= 2 for n in problems)
    assert bot.engine.knowledge.entry(UHC_ID) is not None


# --- errors and delivery problems ---------------------------------------------------------


async def test_forbidden_marks_chat_inactive(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    question = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[0]
    assert chat_record(bot, 321) is None
    bot.req.fail_next("sendMessage", status=403)
    calls = await bot.send(make_text_update(question, user_id=321))
    assert [c.status for c in calls if c.method == "sendMessage"] == [403]
    await bot.storage.flush()
    row = chat_record(bot, 321)
    assert row is not None and row["inactive_since"] is not None
    assert_no_handler_errors(caplog)
    # The blocked chat is skipped when staff answer the question's group.
    [group] = await bot.storage.open_groups()
    assert await bot.storage.group_recipients(group.id) == []


async def test_forbidden_with_storage_down_does_not_escape(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await bot.storage.close()
    bot.req.fail_next("sendMessage", status=403)
    await bot.send(make_text_update(UHC_QUESTION))
    assert not any("uncaught error" in r.getMessage() for r in caplog.records)


async def test_handler_crash_apologises_and_is_contained(
    bot: Harness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(question: str) -> Any:
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(bot.engine, "decide", broken)
    message = only_message(await bot.send(make_text_update("apa saja")))
    assert message["text"] == bot.t("error.generic")
    assert any(r.exc_info and "engine exploded" in str(r.exc_info[1]) for r in caplog.records)

    # Even when the apology cannot be delivered, nothing escapes.
    bot.req.fail_next("sendMessage", status=400, times=2)
    await bot.send(make_text_update("apa saja"))
    assert not any("uncaught error" in r.getMessage() for r in caplog.records)
    # In groups the bot stays quiet rather than apologising to everyone.
    calls = await bot.send(make_text_update("/tanya apa", chat_type="supergroup"))
    assert sent(calls) == []


async def test_bad_request_is_logged_as_an_error(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    bot.req.fail_next("sendMessage", status=400, description="Bad Request: can't parse entities")
    calls = await bot.send(make_text_update(UHC_QUESTION))
    assert any(
        r.levelno == logging.ERROR and "can't parse entities" in str(r.exc_info[1]).lower()
        for r in caplog.records
        if r.exc_info
    )
    assert sent(calls)[-1]["text"] == bot.t("error.generic")


async def test_network_trouble_is_only_a_warning(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    bot.req.fail_next("sendMessage", status=502)
    calls = await bot.send(make_text_update(UHC_QUESTION))
    assert sent(calls) == []
    assert any(r.levelno == logging.WARNING and "network" in r.getMessage() for r in caplog.records)
    assert_no_handler_errors(caplog)


async def test_error_handler_without_update(bot: Harness) -> None:
    context = CallbackContext(bot.app)
    context.error = RuntimeError("job failed")
    await on_error(None, context)  # must not raise
    context.error = RuntimeError("again")
    await on_error(object(), context)


# --- start-up: commands menu -------------------------------------------------------------


async def test_commands_menu_for_everyone_and_each_staff_chat(make_bot: Factory) -> None:
    bot = await make_bot(staff_ids=frozenset({STAFF_ID, 998}))
    calls = bot.req.calls("setMyCommands")
    scopes = [c["scope"] for c in calls]
    assert scopes[0] == {"type": "default"}
    assert sorted(s["chat_id"] for s in scopes[1:]) == sorted([STAFF_ID, 998, STAFF_CHAT])
    assert [c["command"] for c in calls[0]["commands"]] == list(RESIDENT_COMMANDS)
    for call in calls[1:]:
        assert call["scope"]["type"] == "chat"
        assert [c["command"] for c in call["commands"]] == [
            *RESIDENT_COMMANDS,
            *STAFF_COMMANDS,
        ]
    for call in calls:
        for command in call["commands"]:
            assert 1 <= len(command["description"]) <= 256


class RefusingChat(RecordingRequest):
    """Telegram refuses the command menu for one chat (a staff member who never
    opened the bot)."""

    def __init__(self, refused: int) -> None:
        super().__init__()
        self.refused = refused

    async def do_request(self, url: str, method: str, request_data: Any = None, **kw: Any) -> Any:
        params = request_data.parameters if request_data is not None else {}
        if url.endswith("/setMyCommands") and (params.get("scope") or {}).get("chat_id") == (
            self.refused
        ):
            self.fail_next("setMyCommands", status=400, description="Bad Request: chat not found")
        return await super().do_request(url, method, request_data, **kw)


async def test_commands_menu_survives_unreachable_staff_chat(make_bot: Factory) -> None:
    bot = await make_bot(staff_ids=frozenset({5, 6}), staff_chat_id=None, request=RefusingChat(5))
    calls = bot.req.calls("setMyCommands")
    assert [(c["scope"].get("chat_id"), c.ok) for c in calls] == [
        (None, True),
        (5, False),
        (6, True),
    ]
    # ... and the bot goes on to answer.
    assert only_message(await bot.send(make_text_update(UHC_QUESTION)))


# --- scheduled jobs ----------------------------------------------------------------------


async def run_job(bot: Harness, name: str) -> list[Call]:
    [job] = bot.app.job_queue.get_jobs_by_name(name)
    start = len(bot.req.calls())
    await job.callback(CallbackContext.from_job(job, bot.app))
    return bot.req.calls()[start:]


async def test_jobs_are_scheduled_and_run_cleanly(bot: Harness) -> None:
    names = sorted(j.name for j in bot.app.job_queue.jobs())
    assert names == ["digest", "flood", "popular", "retention"]
    for name in names:
        assert await run_job(bot, name) == []  # nothing to report yet


async def test_digest_sends_new_open_groups_to_staff_chat(bot: Harness) -> None:
    first, second = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[:2]
    await _ask_out_of_scope(bot, {first: [201, 202], second: [203]})
    [digest] = sent(await run_job(bot, "digest"))
    assert digest["chat_id"] == STAFF_CHAT
    assert digest["text"].startswith(bot.t("staff.digest_header", count=2))
    assert f"«{first}»" in digest["text"] and "· 2×" in digest["text"]


async def test_digest_needs_a_staff_chat(make_bot: Factory) -> None:
    bot = await make_bot(staff_chat_id=None)
    question = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[0]
    await _ask_out_of_scope(bot, {question: [201]})
    assert await run_job(bot, "digest") == []


async def test_commands_menu_failure_does_not_stop_start_up(
    make_bot: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    req = RecordingRequest()
    req.fail_next("setMyCommands", status=502)  # a network blip on the default menu
    bot = await make_bot(request=req)
    calls = bot.req.calls("setMyCommands")
    assert [c.ok for c in calls] == [False, True, True]
    assert any("command menu" in r.getMessage() for r in caplog.records)
    assert only_message(await bot.send(make_text_update(UHC_QUESTION)))["text"].startswith(
        "<b>Cakupan"
    )


async def test_unanswered_puts_city_gaps_first_and_marks_off_topic(bot: Harness) -> None:
    """A recipe asked three times still comes after a city question asked once."""
    recipe, gap = "resep rendang padang", "jam buka kantor dukcapil hari sabtu"
    groups = await _ask_out_of_scope(bot, {recipe: [201, 202, 203], gap: [204]})
    assert set(groups) == {recipe, gap}, "both are logged as unanswered"
    listing = only_message(await bot.send(make_command_update("belumterjawab", user_id=STAFF_ID)))
    text = listing["text"]
    assert text.index(f"«{gap}»") < text.index(f"«{recipe}»")
    assert f"«{recipe}»\n<i>(di luar topik kota)</i>" in text
    assert f"«{gap}»\n<i>" not in text
