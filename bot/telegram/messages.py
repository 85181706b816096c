"""Telegram message limits: long text is split at line breaks, never mid-tag; buttons
redraw their message without tripping over "message is not modified"."""

from __future__ import annotations

from telegram import Bot, CallbackQuery, InlineKeyboardMarkup, Message
from telegram.error import BadRequest

MAX_MESSAGE_CHARS = 4096


def units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (most emoji count twice)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Chunks of at most ``limit`` units, cut at line breaks where possible.

    Our HTML never spans lines (tags open and close on one line), so cutting at a
    line break keeps every chunk valid HTML. A single over-long line is cut at a
    space where possible, and never inside an entity (``&amp;``) or a tag.
    """
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while units(line) > limit:
            if current:
                chunks.append(current)
                current = ""
            cut = _cut(line, limit)
            chunks.append(line[:cut])
            line = line[cut:]
        candidate = f"{current}\n{line}" if current else line
        if units(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current or not chunks:
        chunks.append(current)
    return [c for c in chunks if c.strip()] or [text[: _fit(text, limit)]]


def _fit(line: str, limit: int) -> int:
    """How many characters of ``line`` fit in ``limit`` units."""
    used = 0
    for i, char in enumerate(line):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return i
    return len(line)


def _cut(line: str, limit: int) -> int:
    """Where to cut an over-long line: after the last space that fits (if it is not
    too early), but never inside an HTML entity or tag."""
    end = _fit(line, limit)
    space = line.rfind(" ", 0, end)
    if space > end // 2:
        end = space + 1
    amp = line.rfind("&", 0, end)
    if amp > 0 and ";" not in line[amp:end]:
        end = amp
    opened = line.rfind("<", 0, end)
    if opened > 0 and opened > line.rfind(">", 0, end):
        end = opened
    return max(end, 1)


async def send_long(bot: Bot, chat_id: int, text: str, **kwargs: object) -> list[Message]:
    """Send ``text`` in as many messages as needed; markup goes on the last one."""
    markup = kwargs.pop("reply_markup", None)
    parts = split_text(text)
    sent = []
    for i, part in enumerate(parts):
        extra = {"reply_markup": markup} if i == len(parts) - 1 and markup else {}
        sent.append(await bot.send_message(chat_id, part, **extra, **kwargs))
    return sent


async def edit_text(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Redraw the message a button sits on; a double tap ("not modified") is fine.

    A message Telegram no longer lets the bot touch (too old, deleted) cannot be edited:
    the new content comes as a fresh message instead.
    """
    if query.message is None:
        return
    if not query.message.is_accessible:  # Telegram sends such messages with date 0
        await query.get_bot().send_message(query.message.chat.id, text, reply_markup=markup)
        return
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


async def edit_markup(query: CallbackQuery, markup: InlineKeyboardMarkup | None) -> None:
    if query.message is None or not query.message.is_accessible:  # inline mode, or too old
        return
    try:
        await query.edit_message_reply_markup(reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise
