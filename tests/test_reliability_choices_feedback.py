"""Answers opened from "Maksud Anda?" options and from fallback suggestions carry 👍/👎
tied to the question the resident actually asked; callback data stays strict and short."""

from __future__ import annotations

from typing import Any

import pytest

from bot.knowledge import MAX_ID_LENGTH
from bot.matcher import DecisionKind
from bot.storage import MAX_KEY_LEN, new_key
from bot.telegram import keyboards
from bot.telegram.callbacks import MAX_BYTES, Feedback, OpenEntry, decode, encode
from tests.support import make_text_update
from tests.support.harness import (
    VAGUE,
    Harness,
    buttons,
    callback_data,
    only_message,
    pick,
    press,
    sent,
)

# Questions the engine declines but answers with "Mungkin ini yang Anda cari:" suggestions.
NEAR_MISSES = (
    "alamat puskesmas sepinggan baru",
    "jam buka mpp balikpapan",
    "uhc balikpapan tahun 2024 brp",
    "berapa anggaran pembangunan embung aji raden",
)


def feedback_buttons(call: Any) -> list[Feedback]:
    return [d for d in map(decode, callback_data(call)) if isinstance(d, Feedback)]


async def open_and_rate(bot: Harness, question: str, user_id: int) -> None:
    """Ask, press the last offered entry, rate the opened answer 👎; check every link."""
    menu = only_message(await bot.send(make_text_update(question, user_id=user_id)))
    offers = [d for d in map(decode, callback_data(menu)) if isinstance(d, OpenEntry)]
    assert offers, menu.params
    key = offers[0].question_key
    assert key and all(o.question_key == key for o in offers)

    chosen = offers[-1]
    opened = only_message(await bot.send(press(encode(chosen), user_id=user_id)))
    entry = bot.knowledge.entry(chosen.entry_id)
    assert opened["text"] == bot.answer_html(entry)
    up, down = feedback_buttons(opened)
    assert (up, down) == (Feedback(1, key, entry.id), Feedback(-1, key, entry.id))
    assert [b["text"] for b in buttons(opened)[:2]] == [
        bot.t("buttons.helpful"),
        bot.t("buttons.not_helpful"),
    ]
    # Related entries from there are menus again: no key, no rating of someone else's question.
    assert all(
        d.question_key is None
        for d in map(decode, callback_data(opened))
        if isinstance(d, OpenEntry)
    )

    calls = await bot.send(press(encode(down), user_id=user_id))
    assert sent(calls, "answerCallbackQuery")[0]["text"] == bot.t("feedback.thanks_down")
    assert not feedback_buttons(sent(calls, "editMessageReplyMarkup")[0])

    [row] = [r for r in await bot.rows() if r["key"] == key]
    assert row["text"] == question
    assert (row["feedback_up"], row["feedback_down"]) == (0, 1)


async def test_answer_opened_from_choices_can_be_rated_for_the_question(make_bot: Any) -> None:
    bot: Harness = await make_bot()
    question = pick(bot.engine, VAGUE, DecisionKind.CHOICES)[0]
    await open_and_rate(bot, question, user_id=701)
    [row] = await bot.rows()
    assert row["decision"] == "choices"


async def test_answer_opened_from_a_fallback_suggestion_can_be_rated(make_bot: Any) -> None:
    bot: Harness = await make_bot()
    candidates = pick(bot.engine, NEAR_MISSES, DecisionKind.FALLBACK)
    question = next((q for q in candidates if bot.engine.decide(q).matches), None)
    assert question, "no near miss offers a suggestion any more; update NEAR_MISSES"
    await open_and_rate(bot, question, user_id=702)
    [row] = await bot.rows()
    assert row["decision"] == "fallback" and row["group_id"] is not None
    # The rating does not take the question out of the staff queue.
    assert await bot.storage.count_open_groups() == 1


async def test_rating_counts_once_per_person_per_question(make_bot: Any) -> None:
    bot: Harness = await make_bot()
    question = pick(bot.engine, VAGUE, DecisionKind.CHOICES)[0]
    menu = only_message(await bot.send(make_text_update(question, user_id=703)))
    first = decode(callback_data(menu)[0])
    opened = only_message(await bot.send(press(encode(first), user_id=703)))
    up, _down = feedback_buttons(opened)
    for _ in range(3):
        await bot.send(press(encode(up), user_id=703))
    [row] = await bot.rows()
    assert (row["feedback_up"], row["feedback_down"]) == (1, 0)


def test_open_entry_callback_data_stays_under_64_bytes_and_strict() -> None:
    longest = "a" * MAX_ID_LENGTH
    key = "K" * 16  # the longest key the pattern accepts
    for callback in (
        OpenEntry(longest),
        OpenEntry(longest, key),
        OpenEntry(longest, new_key()),
        Feedback(-1, key, longest),
    ):
        data = encode(callback)
        assert len(data.encode()) <= MAX_BYTES
        assert decode(data) == callback
    assert len(new_key()) <= MAX_KEY_LEN
    # Old buttons (no key) still open their entry.
    assert decode("a:uhc-jaminan-kesehatan") == OpenEntry("uhc-jaminan-kesehatan", None)
    for tampered in (
        "a:uhc:",
        "a:uhc::",
        "a:uhc:abc:def",
        "a:uhc:" + "k" * 17,
        "a:uhc:k y",
        "a:uhc:kéy",
        "a::key",
        "a:UHC:key",
        "a:uhc:key\n",
    ):
        assert decode(tampered) is None, tampered
    with pytest.raises(ValueError):
        encode(OpenEntry("a" * 60, key))


def test_every_keyboard_of_the_bundled_knowledge_fits(knowledge: Any, locale: Any) -> None:
    key = new_key()
    for entry in knowledge.entries:
        markup = keyboards.answer_keyboard(entry, knowledge, locale, key)
        data = [b.callback_data for row in markup.inline_keyboard for b in row if b.callback_data]
        assert all(len(d.encode()) <= MAX_BYTES and decode(d) is not None for d in data)
        match = type("M", (), {"entry": entry})()
        for markup in (
            keyboards.matches_keyboard((match,), locale, key),  # type: ignore[arg-type]
            keyboards.fallback_keyboard((match,), locale, key),  # type: ignore[arg-type]
        ):
            [first] = markup.inline_keyboard[0]
            assert decode(first.callback_data) == OpenEntry(entry.id, key)


async def test_forged_votes_are_refused(make_bot: Any) -> None:
    """Anyone can craft callback data. Question keys are signed, so a troll inventing
    keys cannot pile 👎 on an answer: only keys the bot issued count."""
    bot: Harness = await make_bot()
    uhc = "uhc-jaminan-kesehatan"
    for _ in range(10):
        calls = await bot.send(press(encode(Feedback(-1, new_key(), uhc)), user_id=704))
        assert [c.method for c in calls] == ["answerCallbackQuery"]
        assert calls[0]["text"] == bot.t("callback.stale")
    # A forged key smuggled in through an "open" button yields an answer without votes.
    opened = only_message(await bot.send(press(encode(OpenEntry(uhc, "AAAAAAAAAAAA")))))
    assert feedback_buttons(opened) == []
    await bot.storage.flush()
    assert (await bot.storage.stats(1)).feedback == ()

    # The genuine buttons still work.
    answer = only_message(await bot.send(make_text_update("cakupan uhc balikpapan", user_id=705)))
    up, _down = feedback_buttons(answer)
    calls = await bot.send(press(encode(up), user_id=705))
    assert sent(calls, "answerCallbackQuery")[0]["text"] == bot.t("feedback.thanks_up")
    await bot.storage.flush()
    assert [(f.up, f.down) for f in (await bot.storage.stats(1)).feedback] == [(1, 0)]
