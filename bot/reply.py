"""What the bot replies to a decision, built once; every adapter only renders it.

A :class:`Reply` says what a reply holds (the answer's entry and sources, the
"Maksud Anda?" options, the fallback's suggestions) and which buttons it offers, in
no medium's terms. :meth:`bot.answers.Renderer.reply` writes its text (CLI, chat,
``ask --json``, Telegram, inline cards); :func:`bot.telegram.keyboards.reply_keyboard`
its buttons. A change to how choices or a fallback look is made here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.knowledge import Entry, Knowledge, Source
from bot.locale import Locale
from bot.matcher import Decision, DecisionKind

RELATED_LIMIT = 3
# Small talk that invites a first question gets the topic menu.
TOPIC_MENU_INTENTS = frozenset({"greeting", "capabilities"})


class Topics(StrEnum):
    """How a reply points to the topics: not at all, the whole menu, or one button."""

    NONE = "none"
    MENU = "menu"
    BUTTON = "button"


@dataclass(frozen=True)
class Reply:
    kind: DecisionKind
    question: str = ""
    score: float = 0.0  # the decision's top score, 0-100
    # Text parts. An answer is its entry (title, answer, claims, sources, "data per");
    # any other reply opens with the locale message ``head`` and lists its options or,
    # under ``fallback.suggestions``, its suggestions.
    entry: Entry | None = None
    head: str | None = None  # locale key: choices.intro, fallback.*, smalltalk.*
    options: tuple[Entry, ...] = ()  # "Maksud Anda?": the entries it may be about
    suggestions: tuple[Entry, ...] = ()  # a fallback's "Mungkin ini yang Anda cari"
    sources: tuple[Source, ...] = ()  # the answer's sources
    # Keyboard intents.
    feedback: bool = False  # 👍/👎 rating the answer for the question asked
    share: bool = False  # share the answer (inline mode, by its title)
    related: tuple[Entry, ...] = ()  # related entries, each opened by a button
    topics: Topics = Topics.NONE

    @property
    def title(self) -> str | None:
        return self.entry.title if self.entry else None

    @property
    def offered(self) -> tuple[Entry, ...]:
        """The entries an open-option button offers, tied to the question asked."""
        return self.options or self.suggestions

    @property
    def cards(self) -> tuple[Entry, ...]:
        """The entries this reply answers with: the answer and its related entries, or
        the options (suggestions are not answers). Inline mode shows them as cards."""
        return (self.entry, *self.related) if self.entry else self.options


def related(entry: Entry, knowledge: Knowledge, limit: int = RELATED_LIMIT) -> list[Entry]:
    found = (knowledge.entry(r) for r in entry.related)
    return [e for e in found if e is not None][:limit]


def entry_reply(
    entry: Entry, knowledge: Knowledge, *, question: str = "", score: float = 0.0
) -> Reply:
    """An answer: the entry, its sources, 👍/👎, share and its related entries."""
    return Reply(
        DecisionKind.ANSWER,
        question,
        score,
        entry=entry,
        sources=tuple(knowledge.sources_of(entry)),
        feedback=True,
        share=True,
        related=tuple(related(entry, knowledge)),
    )


def build_reply(
    decision: Decision, knowledge: Knowledge, locale: Locale, *, logged: bool = False
) -> Reply:
    """The reply to ``decision``; ``logged``: the question went to staff (Telegram)."""
    question, score = decision.question, decision.score
    entries = tuple(m.entry for m in decision.matches)
    if decision.entry is not None:
        return entry_reply(decision.entry, knowledge, question=question, score=score)
    if decision.kind is DecisionKind.SMALLTALK:
        key = f"smalltalk.{decision.intent}"
        head = key if decision.intent and locale.has(key) else "smalltalk.default"
        topics = Topics.MENU if decision.intent in TOPIC_MENU_INTENTS else Topics.NONE
        return Reply(decision.kind, question, score, head=head, topics=topics)
    if decision.kind is DecisionKind.CHOICES:
        return Reply(decision.kind, question, score, head="choices.intro", options=entries)
    return Reply(
        decision.kind,
        question,
        score,
        head="fallback.logged" if logged else "fallback.offline",
        suggestions=entries,
        topics=Topics.BUTTON,
    )
