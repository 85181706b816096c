"""What the storage keeps: the records, their limits, and how a value becomes an SQL one.

A question's fields are declared once, by :class:`QuestionRecord`: the columns of the
INSERT and the values of its row are derived from that declaration
(:data:`QUESTION_COLUMNS`, :func:`question_values`).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime
from typing import Any, Final

# Telegram's chat types of a message: the only ones a question is logged from (inline
# queries and the command line never write the log).
CHAT_TYPES: Final = frozenset({"private", "group", "supergroup", "channel"})
DECISIONS: Final = frozenset({"answer", "choices", "fallback", "smalltalk"})
GROUP_STATUSES: Final = frozenset({"open", "answered", "ignored"})

MAX_TEXT_LEN: Final = 4096  # Telegram's own message limit
MAX_KEY_LEN: Final = 64  # new_key() makes 12; anything longer cannot fit callback data anyway
_SQLITE_INT_MAX: Final = 2**63 - 1

# Columns of the CSV export, in order. No user, chat or message ids: exports leave the server.
EXPORT_COLUMNS: Final = (
    "key",
    "asked_at",
    "chat_type",
    "text",
    "normalized",
    "decision",
    "entry_id",
    "score",
    "latency_ms",
    "group_id",
    "feedback_up",
    "feedback_down",
)


class StorageError(Exception):
    """Storage misuse or an unrecoverable database state."""


class StorageUnavailable(StorageError):
    """The database cannot be reached right now (locked, full, read-only, I/O error)."""


def new_key() -> str:
    """Return a random 12-character url-safe id (72 bits), short enough for callback data."""
    return secrets.token_urlsafe(9)


@dataclass(frozen=True)
class QuestionRecord:
    key: str
    asked_at: datetime
    chat_type: str
    user_id: int | None
    chat_id: int | None
    message_id: int | None
    text: str
    normalized: str
    decision: str
    entry_id: str | None
    score: float
    latency_ms: float


@dataclass(frozen=True)
class Group:
    id: int
    status: str
    example: str
    normalized: str
    count: int
    first_seen: datetime
    last_seen: datetime
    answered_at: datetime | None = None
    answer_text: str | None = None
    entry_id: str | None = None


@dataclass(frozen=True)
class EntryFeedback:
    entry_id: str
    up: int
    down: int


@dataclass(frozen=True)
class Stats:
    """Numbers for the admin dashboard over the last ``days`` calendar days (in ``tz``)."""

    since: datetime  # start of the window, UTC
    days: int
    total: int
    unique_users: int
    per_day: tuple[tuple[date, int], ...]  # every day of the window, oldest first, zeros kept
    decisions: Mapping[str, int]  # every known decision, zero when unused
    top_entries: tuple[tuple[str, int], ...]  # (entry_id, times answered), most first
    top_open_groups: tuple[Group, ...]  # open groups active in the window, most asked first
    feedback: tuple[EntryFeedback, ...]  # votes cast in the window, most downvoted first
    open_groups: int  # whole backlog, not just the window
    avg_latency_ms: float | None

    @property
    def decision_rates(self) -> dict[str, float]:
        """Share of each decision in ``total`` (0.0 when there were no questions)."""
        return {k: (v / self.total if self.total else 0.0) for k, v in self.decisions.items()}


# The columns a question is inserted with, in its declaration's order (``group_id``,
# which the writer decides, follows them).
QUESTION_COLUMNS: Final = tuple(f.name for f in fields(QuestionRecord))


def question_values(rec: QuestionRecord) -> tuple[Any, ...]:
    """A validated record's SQL values, in QUESTION_COLUMNS order."""
    return tuple(
        utc_iso(value) if isinstance(value, datetime) else value
        for value in (getattr(rec, name) for name in QUESTION_COLUMNS)
    )


def validated_question(rec: QuestionRecord) -> QuestionRecord:
    """``rec`` with values SQLite stores as they are; ValueError for a caller's bug."""
    if not isinstance(rec.key, str) or not 0 < len(rec.key) <= MAX_KEY_LEN:
        raise ValueError("key must be a non-empty short string")
    if rec.chat_type not in CHAT_TYPES:
        raise ValueError(f"unknown chat_type {rec.chat_type!r}")
    if rec.decision not in DECISIONS:
        raise ValueError(f"unknown decision {rec.decision!r}")
    if rec.entry_id is not None and not isinstance(rec.entry_id, str):
        raise ValueError("entry_id must be str or None")
    return replace(
        rec,
        asked_at=_as_utc(rec.asked_at),
        user_id=opt_int("user_id", rec.user_id),
        chat_id=opt_int("chat_id", rec.chat_id),
        message_id=opt_int("message_id", rec.message_id),
        text=clean_text(str(rec.text)),
        normalized=clean_text(str(rec.normalized)),
        score=_finite(rec.score),
        latency_ms=_finite(rec.latency_ms),
    )


@dataclass(frozen=True, slots=True)
class FeedbackRow:
    question_key: str
    entry_id: str
    value: int
    user_id: int | None
    created_at: str


def row_to_group(row: Mapping[str, Any]) -> Group:
    return Group(
        id=int(row["id"]),
        status=row["status"],
        example=row["example"],
        normalized=row["normalized"],
        count=int(row["count"]),
        first_seen=datetime.fromisoformat(row["first_seen"]),
        last_seen=datetime.fromisoformat(row["last_seen"]),
        answered_at=parse_ts(row["answered_at"]),
        answer_text=row["answer_text"],
        entry_id=row["entry_id"],
    )


GROUP_COLUMNS: Final = ", ".join(f.name for f in fields(Group))

# --------------------------------------------------------------------------- values


def _as_utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:  # naive values are taken as UTC rather than rejected
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def utc_iso(dt: datetime) -> str:
    """Fixed-width UTC ISO text, so string order equals time order in SQL."""
    return _as_utc(dt).isoformat(timespec="microseconds")


def parse_ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def utc_now() -> datetime:
    return datetime.now(UTC)


def clean_text(value: str, limit: int = MAX_TEXT_LEN) -> str:
    """Truncate and make valid UTF-8: JSON can carry lone surrogates SQLite cannot bind."""
    value = value[:limit]
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def opt_int(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be int or None")
    if abs(value) > _SQLITE_INT_MAX:
        raise ValueError(f"{name} out of range")
    return value


def _finite(value: float) -> float:
    number = float(value)
    return number if math.isfinite(number) else 0.0
