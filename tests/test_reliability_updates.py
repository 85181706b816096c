"""Every kind of update Telegram can send reaches the real bot without an error.

Each case is a raw update shaped like Telegram's JSON, fed through the real Application
(``process_update``) with the production handler order. Each is either handled (with the
reply asserted) or deliberately ignored; none may put an error or a traceback in the log,
or send the resident the "something went wrong" apology.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from itertools import count
from typing import Any

import pytest

from bot.telegram.callbacks import Feedback, OpenEntry, StaffIgnore, TopicList, TopicPage, encode
from tests.support import (
    BOT_USER,
    make_callback_update,
    make_chat,
    make_document_update,
    make_edited_message_update,
    make_inline_update,
    make_location_update,
    make_message,
    make_my_chat_member_update,
    make_photo_update,
    make_sticker_update,
    make_text_update,
    make_user,
    make_voice_update,
)
from tests.support.harness import UHC_ID, UHC_QUESTION, Harness, chat_record, sent
from tests.support.updates import DEFAULT_GROUP_ID, next_update_id

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning"
)

RESIDENT = 111
CHANNEL_ID = -1001777000001
_ids = count(1)
Builder = Callable[[], dict[str, Any]]


# --- raw update builders for everything tests/support does not build ---------------------


def _file(prefix: str, **extra: Any) -> dict[str, Any]:
    n = next(_ids)
    return {"file_id": f"{prefix}{n}", "file_unique_id": f"u{prefix}{n}", **extra}


def _wrap(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"update_id": next_update_id(), kind: payload}


def message_with(chat_type: str = "private", **content: Any) -> Builder:
    return lambda: _wrap("message", make_message(chat_type=chat_type, **content))


def _bot_user() -> dict[str, Any]:
    return {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")}


def _channel_post(kind: str = "channel_post", **content: Any) -> dict[str, Any]:
    post = {
        "message_id": next(_ids),
        "chat": {"id": CHANNEL_ID, "type": "channel", "title": "Info Balikpapan"},
        "sender_chat": {"id": CHANNEL_ID, "type": "channel", "title": "Info Balikpapan"},
        "date": int(time.time()),
        **content,
    }
    if kind == "edited_channel_post":
        post["edit_date"] = post["date"] + 5
    return _wrap(kind, post)


def _member(user: dict[str, Any], status: str) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if status == "kicked":
        extra["until_date"] = 0
    if status == "administrator":
        extra = {
            "can_be_edited": False,
            "is_anonymous": False,
            "can_manage_chat": True,
            "can_delete_messages": False,
            "can_manage_video_chats": False,
            "can_restrict_members": False,
            "can_promote_members": False,
            "can_change_info": False,
            "can_invite_users": False,
            "can_post_stories": False,
            "can_edit_stories": False,
            "can_delete_stories": False,
        }
    return {"status": status, "user": user, **extra}


def chat_member_update(new: str, old: str = "left") -> dict[str, Any]:
    """Someone else's membership changed in a group where the bot is an admin."""
    user = make_user(555, first_name="Sari", username="sari")
    return _wrap(
        "chat_member",
        {
            "chat": make_chat(DEFAULT_GROUP_ID, "supergroup"),
            "from": user,
            "date": int(time.time()),
            "old_chat_member": _member(user, old),
            "new_chat_member": _member(user, new),
        },
    )


def channel_admin_update() -> dict[str, Any]:
    """The bot made an admin of a channel (no human sender in the chat)."""
    return _wrap(
        "my_chat_member",
        {
            "chat": {"id": CHANNEL_ID, "type": "channel", "title": "Info Balikpapan"},
            "from": make_user(556),
            "date": int(time.time()),
            "old_chat_member": _member(_bot_user(), "left"),
            "new_chat_member": _member(_bot_user(), "administrator"),
        },
    )


def inaccessible_callback(data: str) -> dict[str, Any]:
    """A button on a message the bot can no longer touch (Telegram sends date 0)."""
    update = make_callback_update(data)
    update["callback_query"]["message"] = {
        "message_id": next(_ids),
        "chat": make_chat(RESIDENT),
        "date": 0,
    }
    return update


def game_callback() -> dict[str, Any]:
    update = make_callback_update("x")
    del update["callback_query"]["data"]
    update["callback_query"]["game_short_name"] = "kuis"
    return update


def reaction(actor: str = "user") -> dict[str, Any]:
    payload: dict[str, Any] = {
        "chat": make_chat(DEFAULT_GROUP_ID, "supergroup"),
        "message_id": 42,
        "date": int(time.time()),
        "old_reaction": [],
        "new_reaction": [{"type": "emoji", "emoji": "👍"}],
    }
    if actor == "user":
        payload["user"] = make_user(557)
    else:
        payload["actor_chat"] = make_chat(DEFAULT_GROUP_ID, "supergroup")
    return _wrap("message_reaction", payload)


def _poll(**extra: Any) -> dict[str, Any]:
    return {
        "id": str(next(_ids)),
        "question": "Setuju taman baru?",
        "options": [
            {"text": "Ya", "voter_count": 1, "persistent_id": "o1"},
            {"text": "Tidak", "voter_count": 0, "persistent_id": "o2"},
        ],
        "total_voter_count": 1,
        "is_closed": False,
        "is_anonymous": True,
        "type": "regular",
        "allows_multiple_answers": False,
        "allows_revoting": True,
        "members_only": False,
        **extra,
    }


def _boost() -> dict[str, Any]:
    return {
        "boost_id": "b1",
        "add_date": int(time.time()),
        "expiration_date": int(time.time()) + 86_400,
        "source": {"source": "premium", "user": make_user(558)},
    }


def business_message(kind: str) -> dict[str, Any]:
    msg = make_message(text=UHC_QUESTION)
    msg["business_connection_id"] = "bc1"
    if kind == "edited_business_message":
        msg["edit_date"] = msg["date"] + 5
    return _wrap(kind, msg)


def edited_caption() -> dict[str, Any]:
    update = make_photo_update("cakupan uhc?")
    update["edited_message"] = update.pop("message")
    update["edited_message"]["edit_date"] = update["edited_message"]["date"] + 5
    return update


def shipping_query() -> dict[str, Any]:
    return _wrap(
        "shipping_query",
        {
            "id": str(next(_ids)),
            "from": make_user(),
            "invoice_payload": "x",
            "shipping_address": {
                "country_code": "ID",
                "state": "Kalimantan Timur",
                "city": "Balikpapan",
                "street_line1": "Jl. Jend. Sudirman",
                "street_line2": "",
                "post_code": "76114",
            },
        },
    )


# (id, update builder, what the bot must do). Outcomes:
#   "please_type" / "please_type_voice": exactly one kind "please type" reply, nothing logged
#   "answer": the question is answered (one reply) and logged
#   "ack": exactly one answerCallbackQuery and nothing else that can fail
#   "inline": exactly one answerInlineQuery
#   "silent": no Bot API call at all
CASES: list[tuple[str, Builder, str]] = [
    # messages of every content kind, in a private chat
    ("text", lambda: make_text_update(UHC_QUESTION), "answer"),
    ("sticker", make_sticker_update, "please_type"),
    ("photo", make_photo_update, "please_type"),
    ("photo-caption", lambda: make_photo_update("cakupan uhc?"), "please_type"),
    (
        "video",
        message_with(video=_file("vid", width=640, height=360, duration=5)),
        "please_type",
    ),
    ("voice", make_voice_update, "please_type_voice"),
    (
        "video-note",
        message_with(video_note=_file("vn", length=240, duration=4)),
        "please_type_voice",
    ),
    ("audio", message_with(audio=_file("aud", duration=180, title="Mars")), "please_type_voice"),
    ("document", make_document_update, "please_type"),
    (
        "animation",
        message_with(animation=_file("gif", width=320, height=240, duration=2)),
        "please_type",
    ),
    ("location", make_location_update, "please_type"),
    (
        "venue",
        message_with(
            location={"latitude": -1.27, "longitude": 116.83},
            venue={
                "location": {"latitude": -1.27, "longitude": 116.83},
                "title": "Lapangan Merdeka",
                "address": "Jl. Jend. Sudirman",
            },
        ),
        "please_type",
    ),
    (
        "contact",
        message_with(contact={"phone_number": "+628111", "first_name": "Pak RT", "user_id": 777}),
        "please_type",
    ),
    ("poll", message_with(poll=_poll()), "please_type"),
    ("dice", message_with(dice={"emoji": "🎲", "value": 4}), "please_type"),
    (
        "game",
        message_with(
            game={
                "title": "Kuis",
                "description": "Kuis kota",
                "photo": [_file("gp", width=90, height=90)],
            }
        ),
        "please_type",
    ),
    ("story", message_with(story={"chat": make_chat(RESIDENT), "id": 7}), "please_type"),
    ("empty-text", lambda: make_text_update("\u200b\u200b"), "answer"),
    # service messages: in groups, and the odd one a private chat can get
    (
        "new-members",
        message_with("supergroup", new_chat_members=[make_user(560), _bot_user()]),
        "silent",
    ),
    ("left-member", message_with("supergroup", left_chat_member=make_user(561)), "silent"),
    (
        "pinned-group",
        message_with(
            "supergroup", pinned_message=make_message(text="info", chat_type="supergroup")
        ),
        "silent",
    ),
    ("pinned-private", message_with(pinned_message=make_message(text="info")), "silent"),
    ("new-title", message_with("group", new_chat_title="RT 05"), "silent"),
    ("group-created", message_with("group", group_chat_created=True), "silent"),
    ("migrate-to", message_with("group", migrate_to_chat_id=-1009999), "silent"),
    ("photo-deleted", message_with("supergroup", delete_chat_photo=True), "silent"),
    (
        "auto-delete",
        message_with(
            "supergroup", message_auto_delete_timer_changed={"message_auto_delete_time": 86400}
        ),
        "silent",
    ),
    # groups: non-text and chatter are not for the bot
    ("group-sticker", lambda: make_sticker_update(chat_type="supergroup"), "silent"),
    ("group-photo", lambda: make_photo_update(chat_type="supergroup"), "silent"),
    ("group-text", lambda: make_text_update("kerja bakti besok", chat_type="group"), "silent"),
    # edits
    ("edited-text", lambda: make_edited_message_update(UHC_QUESTION), "answer"),
    ("edited-caption", edited_caption, "silent"),
    (
        "edited-group-text",
        lambda: make_edited_message_update("ralat", chat_type="supergroup"),
        "silent",
    ),
    # channels: no user at all
    ("channel-post", lambda: _channel_post(text=UHC_QUESTION), "silent"),
    ("channel-command", lambda: _channel_post(text="/jawab 1 halo"), "silent"),
    ("channel-photo", lambda: _channel_post(photo=[_file("cp", width=90, height=90)]), "silent"),
    (
        "edited-channel-post",
        lambda: _channel_post("edited_channel_post", text="ralat"),
        "silent",
    ),
    # buttons: garbage, stale, without a message, on an inaccessible message
    ("cb-garbage", lambda: make_callback_update("💥' OR 1=1 --"), "ack"),
    ("cb-empty", lambda: make_callback_update(""), "ack"),
    ("cb-too-long", lambda: make_callback_update("a:" + "x" * 200), "ack"),
    ("cb-stale-entry", lambda: make_callback_update("a:sudah-dihapus"), "ack"),
    ("cb-stale-topic", lambda: make_callback_update("t:tidak-ada:0"), "ack"),
    ("cb-game", game_callback, "ack"),
    (
        "cb-inline-open",
        lambda: make_callback_update(encode(OpenEntry(UHC_ID)), inline_message_id="AAA1"),
        "ack",
    ),
    (
        "cb-inline-feedback",
        lambda: make_callback_update(
            encode(Feedback(1, "k" * 12, UHC_ID)), inline_message_id="AAA2"
        ),
        "ack",
    ),
    (
        "cb-inline-topic",
        lambda: make_callback_update(encode(TopicPage("kesehatan", 0)), inline_message_id="A3"),
        "ack",
    ),
    ("cb-inline-staff", lambda: make_callback_update("si:1", inline_message_id="A4"), "ack"),
    (
        "cb-inaccessible-feedback",
        lambda: inaccessible_callback(encode(Feedback(-1, "k" * 12, UHC_ID))),
        "ack",
    ),
    ("cb-inaccessible-staff", lambda: inaccessible_callback(encode(StaffIgnore(3))), "ack"),
    ("cb-group", lambda: make_callback_update("tl", chat_type="supergroup"), "ack"),
    # inline mode, with odd offsets and chat types
    ("inline-empty", lambda: make_inline_update(""), "inline"),
    ("inline-offset-text", lambda: make_inline_update(UHC_QUESTION, "abc"), "inline"),
    ("inline-offset-negative", lambda: make_inline_update("air", "-1"), "inline"),
    ("inline-offset-huge", lambda: make_inline_update("embung", "9" * 40), "inline"),
    ("inline-offset-emoji", lambda: make_inline_update("halo", "💥"), "inline"),
    ("inline-long", lambda: make_inline_update("uhc " * 200), "inline"),
    ("inline-no-chat-type", lambda: make_inline_update("uhc", chat_type=None), "inline"),
    ("inline-channel", lambda: make_inline_update("uhc", chat_type="channel"), "inline"),
    (
        "chosen-inline-result",
        lambda: _wrap(
            "chosen_inline_result",
            {"result_id": f"{UHC_ID}:abcd1234", "from": make_user(), "query": "uhc"},
        ),
        "silent",
    ),
    # payments the bot never asked for
    ("shipping-query", shipping_query, "silent"),
    (
        "pre-checkout-query",
        lambda: _wrap(
            "pre_checkout_query",
            {
                "id": str(next(_ids)),
                "from": make_user(),
                "currency": "IDR",
                "total_amount": 1000,
                "invoice_payload": "x",
            },
        ),
        "silent",
    ),
    (
        "purchased-paid-media",
        lambda: _wrap("purchased_paid_media", {"from": make_user(), "paid_media_payload": "x"}),
        "silent",
    ),
    # polls
    ("poll-state", lambda: _wrap("poll", _poll()), "silent"),
    (
        "poll-answer",
        lambda: _wrap(
            "poll_answer",
            {
                "poll_id": "1",
                "user": make_user(),
                "option_ids": [0],
                "option_persistent_ids": ["o1"],
            },
        ),
        "silent",
    ),
    (
        "poll-answer-chat",
        lambda: _wrap(
            "poll_answer",
            {
                "poll_id": "1",
                "voter_chat": make_chat(DEFAULT_GROUP_ID, "supergroup"),
                "option_ids": [1],
                "option_persistent_ids": ["o2"],
            },
        ),
        "silent",
    ),
    # membership
    ("my-member-kicked", lambda: make_my_chat_member_update("kicked"), "silent"),
    ("my-member-unblocked", lambda: make_my_chat_member_update("member", "kicked"), "silent"),
    (
        "my-member-group-added",
        lambda: make_my_chat_member_update("member", "left", chat_type="supergroup"),
        "silent",
    ),
    (
        "my-member-group-removed",
        lambda: make_my_chat_member_update("left", "member", chat_type="group"),
        "silent",
    ),
    ("my-member-channel-admin", channel_admin_update, "silent"),
    ("chat-member-joined", lambda: chat_member_update("member"), "silent"),
    ("chat-member-banned", lambda: chat_member_update("kicked", "member"), "silent"),
    (
        "chat-join-request",
        lambda: _wrap(
            "chat_join_request",
            {
                "chat": make_chat(DEFAULT_GROUP_ID, "supergroup"),
                "from": make_user(559),
                "user_chat_id": 559,
                "date": int(time.time()),
            },
        ),
        "silent",
    ),
    # reactions and boosts
    ("reaction-user", reaction, "silent"),
    ("reaction-anonymous", lambda: reaction("chat"), "silent"),
    (
        "reaction-count",
        lambda: _wrap(
            "message_reaction_count",
            {
                "chat": make_chat(DEFAULT_GROUP_ID, "supergroup"),
                "message_id": 42,
                "date": int(time.time()),
                "reactions": [{"type": {"type": "emoji", "emoji": "👍"}, "total_count": 3}],
            },
        ),
        "silent",
    ),
    (
        "chat-boost",
        lambda: _wrap(
            "chat_boost", {"chat": make_chat(DEFAULT_GROUP_ID, "supergroup"), "boost": _boost()}
        ),
        "silent",
    ),
    (
        "removed-chat-boost",
        lambda: _wrap(
            "removed_chat_boost",
            {
                "chat": make_chat(DEFAULT_GROUP_ID, "supergroup"),
                "boost_id": "b1",
                "remove_date": int(time.time()),
                "source": {"source": "premium", "user": make_user(558)},
            },
        ),
        "silent",
    ),
    # business accounts (the bot has no business connection, but the updates exist)
    (
        "business-connection",
        lambda: _wrap(
            "business_connection",
            {
                "id": "bc1",
                "user": make_user(),
                "user_chat_id": RESIDENT,
                "date": int(time.time()),
                "is_enabled": True,
            },
        ),
        "silent",
    ),
    ("business-message", lambda: business_message("business_message"), "silent"),
    ("edited-business-message", lambda: business_message("edited_business_message"), "silent"),
    (
        "deleted-business-messages",
        lambda: _wrap(
            "deleted_business_messages",
            {"business_connection_id": "bc1", "chat": make_chat(RESIDENT), "message_ids": [1]},
        ),
        "silent",
    ),
    # something a future Bot API might add
    ("unknown-kind", lambda: _wrap("tomorrows_update", {"x": 1}), "silent"),
]


def errors_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR or r.exc_info
    ]


@pytest.mark.parametrize(("make", "outcome"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_every_update_kind_is_handled_or_ignored_without_error(
    make_bot: Any, caplog: pytest.LogCaptureFixture, make: Builder, outcome: str
) -> None:
    bot: Harness = await make_bot()
    caplog.set_level(logging.DEBUG)
    calls = await bot.send(make())

    assert errors_in(caplog) == []
    texts = [c.get("text") for c in calls]
    assert bot.t("error.generic") not in texts
    assert all(c.ok for c in calls), bot.req.dump()
    methods = [c.method for c in calls]
    rows = await bot.rows()
    if outcome.startswith("please_type"):
        key = "non_text.voice" if outcome.endswith("voice") else "non_text.other"
        assert methods == ["sendMessage"] and texts == [bot.t(key)]
        assert rows == []  # non-text is never logged
    elif outcome == "answer":
        assert methods == ["sendMessage"]
        assert len(rows) == 1
    elif outcome == "ack":
        assert methods.count("answerCallbackQuery") == 1
        assert set(methods) <= {"answerCallbackQuery", "sendMessage", "editMessageText"}
    elif outcome == "inline":
        assert methods == ["answerInlineQuery"]
        assert len(calls[0]["results"]) <= 5
    else:
        assert calls == [], bot.req.dump()
        assert rows == []


async def test_all_update_kinds_in_one_session_leave_the_bot_answering(
    make_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Interleaved as they would arrive, and with the real rate limiter: still no error,
    and the next question is answered as usual."""
    bot: Harness = await make_bot(rate_limit=True)
    caplog.set_level(logging.DEBUG)
    for _name, make, _outcome in CASES:
        await bot.send(make())
    answer = sent(await bot.send(make_text_update(UHC_QUESTION, user_id=4321)))
    assert [c["text"] for c in answer] == [bot.answer_html(bot.knowledge.entry(UHC_ID))]
    assert errors_in(caplog) == []


async def test_a_button_on_an_inaccessible_message_sends_the_page_afresh(
    make_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Telegram refuses edits of messages the bot can no longer access; PTB would raise
    TypeError. The topic page comes as a new message instead."""
    bot: Harness = await make_bot()
    for data in (encode(TopicPage("kesehatan", 0)), encode(TopicList())):
        calls = await bot.send(inaccessible_callback(data))
        assert [c.method for c in calls] == ["answerCallbackQuery", "sendMessage"]
        assert calls[1]["chat_id"] == RESIDENT
    assert calls[1]["text"] == bot.t("topics.intro")
    assert errors_in(caplog) == []


# --- the bot's own membership: blocked, unblocked, removed ---------------------------------


async def test_blocking_the_bot_marks_the_chat_inactive_and_unblocking_needs_nothing(
    make_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.matcher import DecisionKind
    from tests.support.harness import OUT_OF_SCOPE, STAFF_ID, pick

    bot: Harness = await make_bot()
    question = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)[0]
    await bot.send(make_text_update(question, user_id=601))
    await bot.storage.flush()
    [group] = await bot.storage.open_groups()
    assert [c for c, _ in await bot.storage.group_recipients(group.id)] == [601]

    # The resident blocks the bot: Telegram says "kicked" in their private chat.
    assert await bot.send(make_my_chat_member_update("kicked", user_id=601)) == []
    inactive_since = chat_record(bot, 601)["inactive_since"]
    assert inactive_since is not None
    assert await bot.storage.group_recipients(group.id) == []  # staff answers skip them

    # Unblocking ("member") changes nothing by itself and sends nothing...
    assert await bot.send(make_my_chat_member_update("member", "kicked", user_id=601)) == []
    assert chat_record(bot, 601)["inactive_since"] == inactive_since
    # ... until they ask again: then they are reachable.
    await bot.send(make_text_update(question, user_id=601))
    await bot.storage.flush()
    assert chat_record(bot, 601)["inactive_since"] is None
    assert [c for c, _ in await bot.storage.group_recipients(group.id)] == [601]
    calls = await bot.send(make_text_update(f"/jawab {group.id} Sudah ada.", user_id=STAFF_ID))
    assert 601 in [c["chat_id"] for c in sent(calls)]
    assert errors_in(caplog) == []


async def test_a_group_that_removes_the_bot_is_marked_inactive(make_bot: Any) -> None:
    bot: Harness = await make_bot()
    for status in ("left", "kicked"):
        chat_id = -100555000 - len(status)
        update = make_my_chat_member_update(
            status, "member", chat_id=chat_id, chat_type="supergroup"
        )
        assert await bot.send(update) == []
        assert chat_record(bot, chat_id)["inactive_since"] is not None
    # Added to a group: nothing to record.
    added = make_my_chat_member_update("member", "left", chat_id=-100555999, chat_type="group")
    await bot.send(added)
    assert chat_record(bot, -100555999) is None


async def test_a_flooding_user_who_blocks_the_bot_is_still_recorded(make_bot: Any) -> None:
    """Membership changes never count against (or are stopped by) the flood limit."""
    bot: Harness = await make_bot(flood_limit=2)
    for _ in range(5):
        await bot.send(make_text_update("halo", user_id=602))
    assert await bot.send(make_my_chat_member_update("kicked", user_id=602)) == []
    assert chat_record(bot, 602)["inactive_since"] is not None


async def test_blocking_while_the_database_is_locked_is_only_a_warning(
    make_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bot: Harness = await make_bot(storage={"busy_timeout_ms": 50})
    other = sqlite3.connect(bot.settings.db_path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        assert await bot.send(make_my_chat_member_update("kicked", user_id=603)) == []
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert errors_in(caplog) == []
    assert any("could not mark chat 603 inactive" in r.getMessage() for r in caplog.records)
