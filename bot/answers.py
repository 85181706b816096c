"""Render the engine's decisions as messages, in Telegram HTML or plain text.

An answer must stand on its own when an RT head forwards it to a WhatsApp group:
what it is about, the figure, who claimed it, the source and the "data per" date.
All wording comes from ``locales/id.yaml``.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import date
from enum import Enum

from bot.knowledge import Entry, Figure, Knowledge, Problem, Source
from bot.locale import Locale
from bot.matcher import Decision, DecisionKind
from bot.text import format_number


class Format(Enum):
    HTML = "html"
    TEXT = "text"


class Renderer:
    def __init__(self, locale: Locale, bot_username: str | None = None) -> None:
        self.locale = locale
        self.bot_username = bot_username

    # --- pieces -------------------------------------------------------------------

    def date(self, day: date) -> str:
        return self.locale.t(
            "format.date", day=day.day, month=self.locale.month_names[day.month - 1], year=day.year
        )

    def figure(self, figure: Figure) -> str:
        amount = figure.text if figure.value is None else format_number(figure.value)
        parts = [figure.qualifier, amount, figure.unit]
        value = " ".join(p for p in parts if p)
        key = "format.figure_year" if figure.year else "format.figure"
        return self.locale.t(key, label=figure.label, value=value, year=figure.year)

    def source(self, source: Source) -> str:
        key = "answer.source_item_url" if source.url else "answer.source_item"
        return self.locale.t(
            key,
            publisher=source.publisher,
            title=source.title,
            date=self.date(source.date),
            url=source.url or "",
        )

    def signature(self) -> str:
        if self.bot_username:
            return self.locale.t("answer.signature", handle=f"@{self.bot_username}")
        return self.locale.t("answer.signature_offline")

    # --- whole messages -------------------------------------------------------------

    def answer(self, entry: Entry, knowledge: Knowledge, fmt: Format = Format.HTML) -> str:
        esc, bold, italic = _markup(fmt)
        t = self.locale.t
        lines = [bold(esc(entry.title)), esc(entry.answer)]
        if entry.figures:
            lines.append("")
            lines += [t("answer.figure_line", figure=esc(self.figure(f))) for f in entry.figures]
        lines.append("")
        sources = "; ".join(esc(self.source(s)) for s in knowledge.sources_of(entry))
        lines.append(t("answer.source", sources=sources))
        lines.append(t("answer.as_of", date=esc(self.date(entry.as_of))))
        lines.append(italic(esc(self.signature())))
        return "\n".join(lines)

    def summary(self, entry: Entry, limit: int = 120) -> str:
        """One line for inline-mode cards: the key figure, else the answer's opening."""
        if entry.figures:
            return self.figure(entry.figures[0])
        text = " ".join(entry.answer.split())
        return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"

    def problem(self, problem: Problem) -> str:
        """A knowledge problem as ``file:line: what to fix`` in the staff's language."""
        params = dict(problem.params)
        if problem.code == "schema":
            error = str(params.get("error"))
            key = f"check.schema_errors.{error}"
            params["error"] = (
                self.locale.t(key)
                if self.locale.has(key)
                else self.locale.t("check.schema_errors.other", error=error)
            )
        message = self.locale.t(f"check.problem.{problem.code}", **params)
        return f"{problem.file}:{problem.line}: {message}"

    def smalltalk(self, intent: str | None) -> str:
        key = f"smalltalk.{intent}"
        return self.locale.t(key if intent and self.locale.has(key) else "smalltalk.default")

    def decision(
        self,
        decision: Decision,
        knowledge: Knowledge,
        fmt: Format = Format.TEXT,
        *,
        logged: bool = False,
    ) -> str:
        """The full reply for a decision (used by the CLI; Telegram adds buttons)."""
        esc, bold, _ = _markup(fmt)
        t = self.locale.t
        if decision.kind is DecisionKind.ANSWER and decision.entry:
            return self.answer(decision.entry, knowledge, fmt)
        if decision.kind is DecisionKind.SMALLTALK:
            return self.smalltalk(decision.intent)
        if decision.kind is DecisionKind.CHOICES:
            lines = [t("choices.intro")]
            lines += [
                t("choices.option", n=i, title=bold(esc(m.entry.title)))
                for i, m in enumerate(decision.matches, 1)
            ]
            return "\n".join(lines)
        lines = [t("fallback.logged" if logged else "fallback.offline")]
        if decision.matches:
            lines += ["", t("fallback.suggestions")]
            lines += [t("fallback.suggestion", title=esc(m.entry.title)) for m in decision.matches]
        return "\n".join(lines)


def _markup(fmt: Format) -> tuple[Callable[[str], str], Callable[[str], str], Callable[[str], str]]:
    if fmt is Format.HTML:
        return (
            (lambda s: html.escape(s, quote=False)),
            (lambda s: f"<b>{s}</b>"),
            (lambda s: f"<i>{s}</i>"),
        )
    same = str
    return same, same, same
