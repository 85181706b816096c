"""Inline keyboards. Every callback_data goes through :mod:`bot.telegram.callbacks`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.knowledge import Entry, Knowledge
from bot.locale import Locale
from bot.matcher import DecisionKind, Match
from bot.reply import Reply, Topics, entry_reply
from bot.telegram.callbacks import Callback, Feedback, OpenEntry, TopicList, TopicPage, encode

PAGE_SIZE = 6  # entries per page of a topic
BUTTON_CHARS = 60
T = TypeVar("T")


def _label(text: str) -> str:
    return text if len(text) <= BUTTON_CHARS else text[: BUTTON_CHARS - 1] + "…"


def open_button(
    entry: Entry, locale: Locale, question_key: str | None = None
) -> InlineKeyboardButton:
    """Opens ``entry``; with ``question_key`` the answer gets 👍/👎 for that question."""
    return InlineKeyboardButton(
        locale.t("buttons.open", title=_label(entry.title)),
        callback_data=encode(OpenEntry(entry.id, question_key)),
    )


def share_button(entry: Entry, locale: Locale) -> InlineKeyboardButton:
    # The inline query is the entry's title, which inline mode resolves to the entry.
    return InlineKeyboardButton(locale.t("buttons.share"), switch_inline_query=entry.title)


def reply_keyboard(
    reply: Reply, knowledge: Knowledge, locale: Locale, question_key: str | None
) -> InlineKeyboardMarkup | None:
    """The buttons a reply's intents ask for. ``question_key``: the question the reply
    answers, which 👍/👎 and the offered options carry (None: nothing to rate)."""
    if reply.topics is Topics.MENU:
        return topics_keyboard(knowledge, locale)
    rows = _rows(reply, locale, question_key)
    return InlineKeyboardMarkup(rows) if rows else None


def _rows(
    reply: Reply, locale: Locale, question_key: str | None
) -> list[list[InlineKeyboardButton]]:
    rows: list[list[InlineKeyboardButton]] = []
    first = []
    if reply.entry is not None and reply.feedback and question_key:
        first += [
            InlineKeyboardButton(
                locale.t("buttons.helpful"),
                callback_data=encode(Feedback(1, question_key, reply.entry.id)),
            ),
            InlineKeyboardButton(
                locale.t("buttons.not_helpful"),
                callback_data=encode(Feedback(-1, question_key, reply.entry.id)),
            ),
        ]
    if reply.entry is not None and reply.share:
        first.append(share_button(reply.entry, locale))
    if first:
        rows.append(first)
    rows += [[open_button(e, locale)] for e in reply.related]
    rows += [[open_button(e, locale, question_key)] for e in reply.offered]
    if reply.topics is Topics.BUTTON:
        rows.append([topics_button(locale)])
    return rows


def answer_keyboard(
    entry: Entry, knowledge: Knowledge, locale: Locale, question_key: str | None
) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(_rows(entry_reply(entry, knowledge), locale, question_key))


def after_feedback_keyboard(
    entry: Entry, knowledge: Knowledge, locale: Locale
) -> InlineKeyboardMarkup:
    return answer_keyboard(entry, knowledge, locale, question_key=None)


def matches_keyboard(
    matches: tuple[Match, ...], locale: Locale, question_key: str | None = None
) -> InlineKeyboardMarkup:
    """The "Maksud Anda?" buttons for ``matches``."""
    reply = Reply(DecisionKind.CHOICES, options=tuple(m.entry for m in matches))
    return InlineKeyboardMarkup(_rows(reply, locale, question_key))


def fallback_keyboard(
    matches: tuple[Match, ...], locale: Locale, question_key: str | None = None
) -> InlineKeyboardMarkup:
    """A fallback's suggestions and the topics button."""
    reply = Reply(
        DecisionKind.FALLBACK, suggestions=tuple(m.entry for m in matches), topics=Topics.BUTTON
    )
    return InlineKeyboardMarkup(_rows(reply, locale, question_key))


def topics_button(locale: Locale) -> InlineKeyboardButton:
    return InlineKeyboardButton(locale.t("buttons.topics"), callback_data=encode(TopicList()))


def topics_keyboard(knowledge: Knowledge, locale: Locale) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            locale.t("buttons.topic", emoji=topic.emoji, title=topic.title, count=count),
            callback_data=encode(TopicPage(topic.id, 0)),
        )
        for topic in knowledge.topics.values()
        if (count := len(knowledge.in_topic(topic.id)))
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


@dataclass(frozen=True)
class Paging:
    """One page of a list shown ``size`` items at a time (a page out of range is the
    nearest one)."""

    page: int
    pages: int
    size: int

    @classmethod
    def of(cls, total: int, page: int, size: int) -> Paging:
        pages = max(1, -(-total // size))
        return cls(min(max(page, 0), pages - 1), pages, size)

    @property
    def offset(self) -> int:
        return self.page * self.size

    def window(self, items: Sequence[T]) -> Sequence[T]:
        return items[self.offset : self.offset + self.size]

    def nav(
        self,
        locale: Locale,
        to: Callable[[int], Callback],
        middle: Sequence[InlineKeyboardButton] = (),
    ) -> list[InlineKeyboardButton]:
        """The navigation row: "◀️ Sebelumnya" and "Berikutnya ▶️" where there is a page
        to go to (``to`` makes a page's callback), ``middle`` between them."""
        row = []
        if self.page > 0:
            row.append(
                InlineKeyboardButton(
                    locale.t("buttons.previous"), callback_data=encode(to(self.page - 1))
                )
            )
        row += middle
        if self.page < self.pages - 1:
            row.append(
                InlineKeyboardButton(
                    locale.t("buttons.next"), callback_data=encode(to(self.page + 1))
                )
            )
        return row


def topic_page_keyboard(
    knowledge: Knowledge, topic_id: str, page: int, locale: Locale
) -> InlineKeyboardMarkup:
    entries = knowledge.in_topic(topic_id)
    paging = Paging.of(len(entries), page, PAGE_SIZE)
    rows = [[open_button(e, locale)] for e in paging.window(entries)]
    rows.append(paging.nav(locale, lambda p: TopicPage(topic_id, p), [topics_button(locale)]))
    return InlineKeyboardMarkup(rows)
