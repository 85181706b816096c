"""Inline mode: ``@TanyaBalikpapanBot <pertanyaan>`` in any chat returns answer cards
that RT heads can drop straight into their neighbourhood group."""

from __future__ import annotations

from telegram import (
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    Update,
)
from telegram.ext import ContextTypes

from bot.answers import Format
from bot.knowledge import Entry
from bot.reply import build_reply
from bot.telegram.services import Services, services

MAX_RESULTS = 5
CACHE_SECONDS = 300


def _entries_for(query: str, svc: Services) -> list[Entry]:
    knowledge = svc.engine.knowledge
    text = query.strip()
    if not text:
        return svc.popular_entries(MAX_RESULTS)
    # The share button pre-fills the entry's exact title.
    exact = next((e for e in knowledge.entries if e.title.casefold() == text.casefold()), None)
    if exact:
        return [exact]
    reply = build_reply(svc.engine.decide(text), knowledge, svc.locale)
    return list(reply.cards[:MAX_RESULTS])


async def on_inline_query(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.inline_query
    if query is None:
        return
    svc = services(context)
    knowledge = svc.engine.knowledge
    entries = _entries_for(query.query[:256], svc)
    results = [
        InlineQueryResultArticle(
            id=f"{entry.id}:{knowledge.fingerprint[:8]}",
            title=entry.title,
            description=svc.renderer.summary(entry),
            input_message_content=InputTextMessageContent(
                svc.renderer.answer(entry, knowledge, Format.HTML)
            ),
        )
        for entry in entries
    ]
    button = None
    if not results:
        button = InlineQueryResultsButton(text=svc.t("inline.no_result"), start_parameter="inline")
    await query.answer(results, cache_time=CACHE_SECONDS, is_personal=False, button=button)
