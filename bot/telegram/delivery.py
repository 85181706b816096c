"""Replies out: a text Telegram refuses as too long is split (or, for an edit, shortened)
and sent, wherever in the bot it was written.

Telegram counts a message's length after parsing its HTML, in UTF-16 units, and may
refuse one as "message is too long" even under our own estimate (a self-hosted or
future Bot API with a lower limit, say). :class:`TelegramBot` therefore

* splits a text over :data:`MAX_MESSAGE_CHARS` before sending it, at line breaks, never
  inside a tag (:func:`bot.telegram.messages.split_text`);
* when Telegram still answers "message is too long", splits the refused part in two and
  sends the halves, again if needed, down to :data:`MIN_PART` units; the parts that went
  through are never sent again;
* puts the buttons on the last part and the reply-to on the first;
* shortens an edit that is too long (an edit cannot be split) to what fits, ending "…".

One warning per refused message, never a traceback.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from telegram import Message
from telegram.error import BadRequest

from bot.telegram.messages import MAX_MESSAGE_CHARS, split_text, units
from bot.telegram.updates import GuardedBot

log = logging.getLogger(__name__)

MIN_PART = 200  # units: below this a refusal is not about length
_REPLY_KEYS = ("reply_parameters", "reply_to_message_id")


def too_long(error: BadRequest) -> bool:
    return "too long" in str(error).lower()


def halves(text: str) -> list[str]:
    return split_text(text, max(units(text) // 2 + 1, MIN_PART))


class TelegramBot(GuardedBot):
    """The bot: updates read one by one (:class:`GuardedBot`), long texts split."""

    __slots__ = ()

    async def send_message(self, chat_id: Any, text: str, *args: Any, **kwargs: Any) -> Message:
        if args:  # positional options: nobody in the bot does this; send as it is
            return await super().send_message(chat_id, text, *args, **kwargs)
        parts = split_text(text) if units(text) > MAX_MESSAGE_CHARS else [text]
        pending = deque(parts)
        markup = kwargs.pop("reply_markup", None)
        reply = {k: kwargs.pop(k) for k in _REPLY_KEYS if k in kwargs}
        sent: Message | None = None
        refused = 0
        count = 0
        while pending:
            part = pending.popleft()
            extra = dict(reply) if sent is None else {}
            if not pending and markup is not None:
                extra["reply_markup"] = markup
            try:
                sent = await super().send_message(chat_id, part, **kwargs, **extra)
            except BadRequest as exc:
                if not too_long(exc) or units(part) <= MIN_PART:
                    raise
                refused += 1
                pending.extendleft(reversed(halves(part)))
                continue
            count += 1
        if refused:
            log.warning(
                "Telegram refused a %d-unit message as too long; sent it in %d parts",
                units(text),
                count,
            )
        assert sent is not None  # split_text never returns an empty list
        return sent

    async def edit_message_text(self, text: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().edit_message_text(text, *args, **kwargs)
        except BadRequest as exc:
            if not too_long(exc) or units(text) <= MIN_PART:
                raise
        shortened = text
        while units(shortened) > MIN_PART:
            shortened = halves(shortened)[0].rstrip() + "\n…"
            try:
                result = await super().edit_message_text(shortened, *args, **kwargs)
            except BadRequest as exc:
                if not too_long(exc):
                    raise
                continue
            log.warning(
                "Telegram refused a %d-unit edit as too long; shortened it to %d units",
                units(text),
                units(shortened),
            )
            return result
        raise BadRequest("Message is too long")
