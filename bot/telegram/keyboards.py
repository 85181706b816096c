"""Inline keyboards. Every callback_data goes through :mod:`bot.telegram.callbacks`."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.knowledge import Entry, Knowledge
from bot.locale import Locale
from bot.matcher import Match
from bot.telegram.callbacks import Feedback, OpenEntry, TopicList, TopicPage, encode

PAGE_SIZE = 6
BUTTON_CHARS = 60


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


def answer_keyboard(
    entry: Entry, knowledge: Knowledge, locale: Locale, question_key: str | None
) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    first = []
    if question_key:
        first += [
            InlineKeyboardButton(
                locale.t("buttons.helpful"),
                callback_data=encode(Feedback(1, question_key, entry.id)),
            ),
            InlineKeyboardButton(
                locale.t("buttons.not_helpful"),
                callback_data=encode(Feedback(-1, question_key, entry.id)),
            ),
        ]
    first.append(share_button(entry, locale))
    rows.append(first)
    rows += [[open_button(r, locale)] for r in related(entry, knowledge)]
    return InlineKeyboardMarkup(rows)


def after_feedback_keyboard(
    entry: Entry, knowledge: Knowledge, locale: Locale
) -> InlineKeyboardMarkup:
    return answer_keyboard(entry, knowledge, locale, question_key=None)


def related(entry: Entry, knowledge: Knowledge, limit: int = 3) -> list[Entry]:
    found = (knowledge.entry(r) for r in entry.related)
    return [e for e in found if e is not None][:limit]


def matches_keyboard(
    matches: tuple[Match, ...], locale: Locale, question_key: str | None = None
) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[open_button(m.entry, locale, question_key)] for m in matches])


def fallback_keyboard(
    matches: tuple[Match, ...], locale: Locale, question_key: str | None = None
) -> InlineKeyboardMarkup:
    rows = [[open_button(m.entry, locale, question_key)] for m in matches]
    rows.append(
        [InlineKeyboardButton(locale.t("buttons.topics"), callback_data=encode(TopicList()))]
    )
    return InlineKeyboardMarkup(rows)


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


def topic_page_keyboard(
    knowledge: Knowledge, topic_id: str, page: int, locale: Locale
) -> InlineKeyboardMarkup:
    entries = knowledge.in_topic(topic_id)
    pages = max(1, -(-len(entries) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    rows = [[open_button(e, locale)] for e in entries[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]]
    nav = []
    if page > 0:
        nav.append(
            InlineKeyboardButton(
                locale.t("buttons.previous"), callback_data=encode(TopicPage(topic_id, page - 1))
            )
        )
    nav.append(InlineKeyboardButton(locale.t("buttons.topics"), callback_data=encode(TopicList())))
    if page < pages - 1:
        nav.append(
            InlineKeyboardButton(
                locale.t("buttons.next"), callback_data=encode(TopicPage(topic_id, page + 1))
            )
        )
    rows.append(nav)
    return InlineKeyboardMarkup(rows)
