"""Callback data: short, strictly parsed, always under Telegram's 64-byte limit.

Anything that does not parse exactly (tampered, truncated, from an older version of
the bot) is ``None`` and the user gets a polite "menu kedaluwarsa" instead of an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

MAX_BYTES = 64
_ID = r"[a-z0-9]+(?:-[a-z0-9]+)*"
_KEY = r"[A-Za-z0-9_-]{1,16}"


@dataclass(frozen=True)
class OpenEntry:
    entry_id: str
    # The question whose "Maksud Anda?" options or suggestions offered this entry, so the
    # answer it opens can carry 👍/👎 tied to that question. None from menus and related.
    question_key: str | None = None


@dataclass(frozen=True)
class Feedback:
    value: Literal[1, -1]
    question_key: str
    entry_id: str


@dataclass(frozen=True)
class TopicPage:
    topic_id: str
    page: int


@dataclass(frozen=True)
class TopicList:
    pass


@dataclass(frozen=True)
class StaffPage:
    page: int


@dataclass(frozen=True)
class StaffIgnore:
    group_id: int


Callback = OpenEntry | Feedback | TopicPage | TopicList | StaffPage | StaffIgnore

# Each kind's prefix: this module owns them; handlers route on STAFF_PATTERN.
PREFIX: dict[type, str] = {
    OpenEntry: "a",
    Feedback: "f",
    TopicPage: "t",
    TopicList: "tl",
    StaffPage: "su",
    StaffIgnore: "si",
}
STAFF_KINDS = (StaffPage, StaffIgnore)  # pressed by staff only: the staff handler takes them
STAFF_PATTERN = "^(?:" + "|".join(re.escape(PREFIX[kind]) for kind in STAFF_KINDS) + "):"

_P = PREFIX
# [0-9], not \d: \d also matches non-ASCII digits ("٣"), which int() accepts.
_PATTERNS: list[tuple[re.Pattern[str], type]] = [
    (re.compile(rf"{_P[OpenEntry]}:({_ID})(?::({_KEY}))?"), OpenEntry),
    (re.compile(rf"{_P[Feedback]}:([+-]):({_KEY}):({_ID})"), Feedback),
    (re.compile(rf"{_P[TopicPage]}:({_ID}):([0-9]{{1,3}})"), TopicPage),
    (re.compile(_P[TopicList]), TopicList),
    (re.compile(rf"{_P[StaffPage]}:([0-9]{{1,4}})"), StaffPage),
    (re.compile(rf"{_P[StaffIgnore]}:([0-9]{{1,12}})"), StaffIgnore),
]


def encode(callback: Callback) -> str:
    prefix = PREFIX[type(callback)]
    match callback:
        case OpenEntry(entry_id, None):
            data = f"{prefix}:{entry_id}"
        case OpenEntry(entry_id, key):
            data = f"{prefix}:{entry_id}:{key}"
        case Feedback(value, key, entry_id):
            data = f"{prefix}:{'+' if value > 0 else '-'}:{key}:{entry_id}"
        case TopicPage(topic_id, page):
            data = f"{prefix}:{topic_id}:{page}"
        case TopicList():
            data = prefix
        case StaffPage(page):
            data = f"{prefix}:{page}"
        case StaffIgnore(group_id):
            data = f"{prefix}:{group_id}"
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data over {MAX_BYTES} bytes: {data!r}")
    return data


def decode(data: str | None) -> Callback | None:
    if not data or len(data.encode("utf-8", "replace")) > MAX_BYTES:
        return None
    for pattern, kind in _PATTERNS:
        match = pattern.fullmatch(data)
        if not match:
            continue
        groups = match.groups()
        if kind is Feedback:
            return Feedback(1 if groups[0] == "+" else -1, groups[1], groups[2])
        if kind is TopicPage:
            return TopicPage(groups[0], int(groups[1]))
        if kind in STAFF_KINDS:
            return kind(int(groups[0]))
        return kind(*groups)
    return None
