"""What every handler needs, built once by the composition root."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from telegram import Update
from telegram.ext import ContextTypes

from bot.answers import Renderer
from bot.config import Settings
from bot.knowledge import Entry
from bot.locale import Locale
from bot.matcher import Decision, Engine
from bot.storage import QuestionRecord, Storage
from bot.telegram.ratelimit import FloodVerdict


class FloodGuard:
    """Sliding one-minute window per user. The first message over the limit gets a
    notice; the rest are dropped silently until the window has room again."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._seen: dict[int, deque[float]] = defaultdict(deque)
        self._warned: set[int] = set()

    def check(self, user_id: int, now: float | None = None) -> FloodVerdict:
        """OK, WARN (send one notice) or DROP."""
        now = time.monotonic() if now is None else now
        seen = self._seen[user_id]
        while seen and now - seen[0] >= self.window:
            seen.popleft()
        if len(seen) < self.limit:
            seen.append(now)
            self._warned.discard(user_id)
            return FloodVerdict.OK
        if user_id in self._warned:
            return FloodVerdict.DROP
        self._warned.add(user_id)
        return FloodVerdict.WARN

    def forget_idle(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for user_id in [u for u, s in self._seen.items() if not s or now - s[-1] >= self.window]:
            self._seen.pop(user_id, None)
            self._warned.discard(user_id)


@dataclass
class Services:
    settings: Settings
    engine: Engine
    locale: Locale
    renderer: Renderer
    storage: Storage
    flood: FloodGuard
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    popular: list[str] = field(default_factory=list)  # most-asked entry ids, refreshed by a job
    # Signs question keys; build_application derives it from the token (stable across
    # restarts, so buttons sent before a restart keep working).
    key_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def popular_entries(self, limit: int) -> list[Entry]:
        """Most-asked entries first, topped up in knowledge order (overviews lead)."""
        knowledge = self.engine.knowledge
        ids = list(dict.fromkeys([*self.popular, *(e.id for e in knowledge.entries)]))
        return [e for e in (knowledge.entry(i) for i in ids) if e is not None][:limit]

    def t(self, key: str, /, **params: object) -> str:
        return self.locale.t(key, **params)

    def new_question_key(self) -> str:
        """12 url-safe characters: 8 random, then a 4-character signature of them, so
        👍/👎 buttons cannot be forged for keys the bot never issued."""
        nonce = secrets.token_urlsafe(6)
        return nonce + self._signature(nonce)

    def genuine_key(self, key: str) -> bool:
        return len(key) == 12 and hmac.compare_digest(self._signature(key[:8]), key[8:])

    def _signature(self, nonce: str) -> str:
        digest = hmac.new(self.key_secret, nonce.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:3]).decode()

    def record_question(
        self, update: Update, decision: Decision, chat_type: str | None = None
    ) -> str:
        """Queue the question's row in the question log (never blocks, never raises);
        returns its key."""
        key = self.new_question_key()
        message = update.effective_message
        user, chat = update.effective_user, update.effective_chat
        top = decision.matches[0] if decision.matches else None
        self.storage.log_question(
            QuestionRecord(
                key=key,
                asked_at=datetime.now(UTC),
                chat_type=chat_type or (chat.type if chat else "private"),
                user_id=user.id if user else None,
                chat_id=chat.id if chat else None,
                message_id=message.message_id if message else None,
                text=decision.question[:4096],
                normalized=decision.key_words,  # grouping compares content words
                decision=decision.kind.value,
                entry_id=top.entry.id if top else None,
                score=decision.score,
                latency_ms=decision.latency_ms,
            )
        )
        return key


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.application.bot_data["services"]
