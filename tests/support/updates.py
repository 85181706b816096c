"""Builders for raw update dicts shaped like the JSON Telegram sends.

Feed them to ``Update.de_json(data, app.bot)`` (in-process) or ``stub.push_update(data)``
(HTTP stub). Every builder returns a fresh dict; ``update_id``/``message_id`` default to
process-wide increasing counters, so updates pushed in order are confirmed in order.

Defaults: user 111 "Budi" (language "id"); in private chats ``chat_id`` = ``user_id``,
in groups it defaults to ``-1001000000001`` (a supergroup id).
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from tests.support.fake_api import BOT_SENDER, BOT_USER

DEFAULT_USER_ID = 111
DEFAULT_GROUP_ID = -1001000000001

_update_ids = itertools.count(10_000)
_message_ids = itertools.count(500)
_query_ids = itertools.count(1)


def next_update_id() -> int:
    return next(_update_ids)


def make_user(
    user_id: int = DEFAULT_USER_ID,
    *,
    first_name: str = "Budi",
    username: str | None = "budi_bpn",
    language_code: str | None = "id",
) -> dict[str, Any]:
    """A human ``User``."""
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        user["username"] = username
    if language_code:
        user["language_code"] = language_code
    return user


def make_chat(
    chat_id: int, chat_type: str = "private", *, user: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A ``Chat``: private chats copy the user's names, groups/channels get a title."""
    if chat_type == "private":
        user = user or make_user(chat_id)
        chat = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
        if "username" in user:
            chat["username"] = user["username"]
        return chat
    return {"id": chat_id, "type": chat_type, "title": "Warga Balikpapan"}


def command_entities(text: str) -> list[dict[str, Any]]:
    """The ``bot_command`` entity Telegram adds when a text starts with ``/cmd[@bot]``."""
    if not text.startswith("/"):
        return []
    command = text.split(maxsplit=1)[0]
    # Entity offsets/lengths are in UTF-16 code units.
    return [{"offset": 0, "length": len(command.encode("utf-16-le")) // 2, "type": "bot_command"}]


def make_message(
    *,
    user_id: int = DEFAULT_USER_ID,
    chat_id: int | None = None,
    chat_type: str = "private",
    message_id: int | None = None,
    first_name: str = "Budi",
    username: str | None = "budi_bpn",
    language_code: str | None = "id",
    reply_to_bot: bool = False,
    **content: Any,
) -> dict[str, Any]:
    """A ``Message`` from a user; ``content`` supplies text/photo/sticker/... fields."""
    user = make_user(user_id, first_name=first_name, username=username, language_code=language_code)
    if chat_id is None:
        chat_id = user_id if chat_type == "private" else DEFAULT_GROUP_ID
    chat = make_chat(chat_id, chat_type, user=user)
    msg: dict[str, Any] = {
        "message_id": message_id if message_id is not None else next(_message_ids),
        "from": user,
        "chat": chat,
        "date": int(time.time()),
    }
    if reply_to_bot:
        msg["reply_to_message"] = {
            "message_id": next(_message_ids),
            "from": dict(BOT_SENDER),
            "chat": chat,
            "date": int(time.time()) - 60,
            "text": "Ada yang bisa Tanya Balikpapan bantu?",
        }
    msg.update({k: v for k, v in content.items() if v is not None})
    return msg


def _wrap(kind: str, payload: dict[str, Any], update_id: int | None) -> dict[str, Any]:
    return {"update_id": update_id if update_id is not None else next_update_id(), kind: payload}


def make_text_update(
    text: str,
    *,
    update_id: int | None = None,
    entities: list[dict[str, Any]] | None = None,
    **message_kw: Any,
) -> dict[str, Any]:
    """A text ``message`` update; a leading ``/command`` gets its bot_command entity.

    ``message_kw``: user_id, chat_id, chat_type ("private"/"group"/"supergroup"),
    message_id, first_name, username, language_code, reply_to_bot.
    """
    if entities is None:
        entities = command_entities(text)
    msg = make_message(text=text, entities=entities or None, **message_kw)
    return _wrap("message", msg, update_id)


def make_edited_message_update(
    text: str, *, message_id: int | None = None, update_id: int | None = None, **message_kw: Any
) -> dict[str, Any]:
    """An ``edited_message`` update (same shape as a message plus ``edit_date``)."""
    msg = make_message(
        text=text, message_id=message_id, entities=command_entities(text) or None, **message_kw
    )
    msg["edit_date"] = msg["date"] + 5
    return _wrap("edited_message", msg, update_id)


def make_command_update(command: str, args: str = "", **kw: Any) -> dict[str, Any]:
    """``make_command_update("start", "payload")`` → text ``/start payload``."""
    text = f"/{command.lstrip('/')}" + (f" {args}" if args else "")
    return make_text_update(text, **kw)


def make_callback_update(
    data: str,
    *,
    user_id: int = DEFAULT_USER_ID,
    chat_id: int | None = None,
    chat_type: str = "private",
    message_id: int | None = None,
    message_text: str = "Pilih topik:",
    inline_message_id: str | None = None,
    update_id: int | None = None,
) -> dict[str, Any]:
    """A ``callback_query`` from an inline-keyboard button on one of the bot's messages.

    With ``inline_message_id`` the button sat on an inline-mode message (no ``message``).
    """
    user = make_user(user_id)
    query: dict[str, Any] = {
        "id": str(4_000_000_000 + next(_query_ids)),
        "from": user,
        "chat_instance": "-4242424242424242424",
        "data": data,
    }
    if inline_message_id is not None:
        query["inline_message_id"] = inline_message_id
    else:
        if chat_id is None:
            chat_id = user_id if chat_type == "private" else DEFAULT_GROUP_ID
        query["message"] = {
            "message_id": message_id if message_id is not None else next(_message_ids),
            "from": dict(BOT_SENDER),
            "chat": make_chat(chat_id, chat_type, user=user),
            "date": int(time.time()) - 30,
            "text": message_text,
            "reply_markup": {"inline_keyboard": [[{"text": data, "callback_data": data}]]},
        }
    return _wrap("callback_query", query, update_id)


def make_inline_update(
    query: str,
    offset: str = "",
    *,
    user_id: int = DEFAULT_USER_ID,
    chat_type: str | None = "sender",
    update_id: int | None = None,
) -> dict[str, Any]:
    """An ``inline_query`` (user typed ``@TanyaBalikpapanBot <query>``)."""
    payload: dict[str, Any] = {
        "id": str(5_000_000_000 + next(_query_ids)),
        "from": make_user(user_id),
        "query": query,
        "offset": offset,
    }
    if chat_type:
        payload["chat_type"] = chat_type
    return _wrap("inline_query", payload, update_id)


def make_sticker_update(
    emoji: str = "👍", *, update_id: int | None = None, **message_kw: Any
) -> dict[str, Any]:
    """A message carrying a regular (static) sticker."""
    n = next(_query_ids)
    sticker = {
        "file_id": f"CAACAgIAAxkBAAI{n}",
        "file_unique_id": f"AgAD{n}",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": emoji,
        "set_name": "HotCherry",
        "file_size": 23_000,
        "thumbnail": {
            "file_id": f"AAMCAgADGQ{n}",
            "file_unique_id": f"AQAD{n}",
            "width": 128,
            "height": 128,
            "file_size": 5_000,
        },
    }
    return _wrap("message", make_message(sticker=sticker, **message_kw), update_id)


def make_photo_update(
    caption: str | None = None, *, update_id: int | None = None, **message_kw: Any
) -> dict[str, Any]:
    """A message with a photo (three sizes, smallest first) and optional caption."""
    n = next(_query_ids)
    photo = [
        {
            "file_id": f"AgACAgUAAxkBAAI{n}{size}",
            "file_unique_id": f"AQAD{n}{size}",
            "width": size,
            "height": size * 3 // 4,
            "file_size": size * 40,
        }
        for size in (90, 320, 1280)
    ]
    msg = make_message(photo=photo, caption=caption, **message_kw)
    return _wrap("message", msg, update_id)


def make_document_update(
    file_name: str = "laporan.pdf",
    mime_type: str = "application/pdf",
    *,
    caption: str | None = None,
    update_id: int | None = None,
    **message_kw: Any,
) -> dict[str, Any]:
    """A message with a document attachment."""
    n = next(_query_ids)
    document = {
        "file_id": f"BQACAgUAAxkBAAI{n}",
        "file_unique_id": f"AgADdoc{n}",
        "file_name": file_name,
        "mime_type": mime_type,
        "file_size": 123_456,
    }
    msg = make_message(document=document, caption=caption, **message_kw)
    return _wrap("message", msg, update_id)


def make_voice_update(
    duration: int = 3, *, update_id: int | None = None, **message_kw: Any
) -> dict[str, Any]:
    """A voice note."""
    n = next(_query_ids)
    voice = {
        "file_id": f"AwACAgUAAxkBAAI{n}",
        "file_unique_id": f"AgADvoice{n}",
        "duration": duration,
        "mime_type": "audio/ogg",
        "file_size": 9_000,
    }
    return _wrap("message", make_message(voice=voice, **message_kw), update_id)


def make_location_update(
    latitude: float = -1.2379,
    longitude: float = 116.8529,
    *,
    update_id: int | None = None,
    **message_kw: Any,
) -> dict[str, Any]:
    """A shared location (defaults to Balikpapan city centre)."""
    location = {"latitude": latitude, "longitude": longitude}
    return _wrap("message", make_message(location=location, **message_kw), update_id)


def make_my_chat_member_update(
    new_status: str = "kicked",
    old_status: str = "member",
    *,
    user_id: int = DEFAULT_USER_ID,
    chat_id: int | None = None,
    chat_type: str = "private",
    update_id: int | None = None,
) -> dict[str, Any]:
    """The bot's own membership changed: ``kicked`` in a private chat = user blocked the bot."""
    user = make_user(user_id)
    if chat_id is None:
        chat_id = user_id if chat_type == "private" else DEFAULT_GROUP_ID
    bot_user = {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")}

    def member(status: str) -> dict[str, Any]:
        # "kicked" members carry until_date (0 = forever).
        extra = {"until_date": 0} if status == "kicked" else {}
        return {"status": status, "user": bot_user, **extra}

    payload = {
        "chat": make_chat(chat_id, chat_type, user=user),
        "from": user,
        "date": int(time.time()),
        "old_chat_member": member(old_status),
        "new_chat_member": member(new_status),
    }
    return _wrap("my_chat_member", payload, update_id)
