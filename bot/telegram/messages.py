"""Telegram message limits: long text is split at line breaks, never mid-tag."""

from __future__ import annotations

from telegram import Bot, Message

MAX_MESSAGE_CHARS = 4096


def split_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Chunks of at most ``limit`` characters, cut at line breaks where possible.

    Our HTML never spans lines (tags open and close on one line), so cutting at a
    line break keeps every chunk valid HTML. A single over-long line is cut hard.
    """
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current or not chunks:
        chunks.append(current)
    return [c for c in chunks if c.strip()] or [text[:limit]]


async def send_long(bot: Bot, chat_id: int, text: str, **kwargs: object) -> list[Message]:
    """Send ``text`` in as many messages as needed; markup goes on the last one."""
    markup = kwargs.pop("reply_markup", None)
    parts = split_text(text)
    sent = []
    for i, part in enumerate(parts):
        extra = {"reply_markup": markup} if i == len(parts) - 1 and markup else {}
        sent.append(await bot.send_message(chat_id, part, **extra, **kwargs))
    return sent
