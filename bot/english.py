"""The knowledge as English readers see it: each entry's ``en:`` words on the entry's own
figures, sources and dates.

:func:`english_view` returns a :class:`Knowledge` of the same entries (same ids, so
buttons and feedback work across languages) whose titles, answers, example questions,
figure labels and history are the English ones. An entry without ``en:`` keeps its
Indonesian text and is listed in ``untranslated``, so a renderer can say so in one line.
"""

from __future__ import annotations

import dataclasses

from bot.knowledge import Entry, Figure, Knowledge, Topic


def english_figure(figure: Figure) -> Figure:
    en = figure.en
    if en is None:
        return figure
    return figure.model_copy(
        update={
            "label": en.label,
            "text": en.text or figure.text,
            "unit": en.unit or figure.unit,
            "period": en.period or figure.period,
        }
    )


def english_entry(entry: Entry) -> Entry:
    """The entry in English; itself when it has no English text."""
    en = entry.en
    if en is None:
        return entry
    history = tuple(u.model_copy(update={"text": u.en}) if u.en else u for u in entry.history)
    return entry.model_copy(
        update={
            "title": en.title,
            "answer": en.answer,
            "questions": en.questions,
            # Names are shared: "puskesmas", "Bendali Ampal" are asked in both languages.
            "keywords": tuple(dict.fromkeys((*en.keywords, *entry.keywords))),
            "figures": tuple(english_figure(f) for f in entry.figures),
            "history": history,
        }
    )


def english_topic(topic: Topic) -> Topic:
    return topic.model_copy(update={"title": topic.en.title}) if topic.en else topic


def untranslated(knowledge: Knowledge) -> frozenset[str]:
    """Ids of the entries with no English text."""
    return frozenset(e.id for e in knowledge.entries if e.en is None)


def english_view(knowledge: Knowledge) -> Knowledge:
    """The same knowledge in English words (see the module's docstring)."""
    return dataclasses.replace(
        knowledge,
        entries=tuple(english_entry(e) for e in knowledge.entries),
        topics={i: english_topic(t) for i, t in knowledge.topics.items()},
        fingerprint=f"{knowledge.fingerprint}:en",
    )
