"""Render the engine's decisions as messages, in Telegram HTML or plain text.

An answer must stand on its own when an RT head forwards it to a WhatsApp group:
what it is about, the figure, who claimed it, the source and the "data per" date.
All wording comes from ``locales/id.yaml``.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from enum import Enum

from bot.knowledge import Entry, Figure, Knowledge, Problem, Source
from bot.locale import Locale
from bot.matcher import Decision
from bot.reply import Reply, build_reply
from bot.text import format_number

MAX_CACHED_ANSWERS = 5_000


class Format(Enum):
    HTML = "html"
    TEXT = "text"


class Renderer:
    def __init__(self, locale: Locale, bot_username: str | None = None) -> None:
        self.locale = locale
        self.bot_username = bot_username
        # An entry's answer is the same every time it is asked (entries are frozen):
        # rendered once per knowledge version and format.
        self._answers: dict[tuple[str, str, Format], str] = {}

    # --- pieces -------------------------------------------------------------------

    def date(self, day: date | None) -> str:
        if day is None:
            return self.locale.t("format.undated")
        return self.locale.t(
            "format.date", day=day.day, month=self.locale.month_names[day.month - 1], year=day.year
        )

    def short_date(self, day: date | None) -> str:
        if day is None:
            return self.locale.t("format.undated")
        months = self.locale.t("format.months_short").split()
        return self.locale.t(
            "format.date_short", day=day.day, month_short=months[day.month - 1], year=day.year
        )

    def number(self, value: Decimal) -> str:
        """A value in the locale's notation: 7.140 and 98,76 in Indonesian."""
        shown = format_number(value)  # Indonesian marks: swap them where the locale differs
        decimal, thousands = (
            self.locale.t("format.decimal_mark"),
            self.locale.t("format.thousands_mark"),
        )
        if (decimal, thousands) == (",", "."):
            return shown
        return shown.translate(str.maketrans({".": thousands, ",": decimal}))

    def amount(self, figure: Figure) -> str:
        """The figure's value as residents read it: "lebih dari 90 persen"."""
        amount = figure.text if figure.value is None else self.number(figure.value)
        t = self.locale
        qualifier = t.t(f"qualifiers.{figure.qualifier}") if figure.qualifier else ""
        unit = figure.unit or ""
        if unit and t.has(f"units.{unit}"):
            unit = t.t(f"units.{unit}")
        if "{value}" in unit:  # the unit goes around the number: "IDR {value} billion"
            amount, unit = unit.replace("{value}", amount or ""), ""
        shown = t.t("format.amount", qualifier=qualifier, value=amount or "", unit=unit)
        return " ".join(shown.split())

    def figure(self, figure: Figure, *, label: bool = True) -> str:
        value = self.amount(figure)
        when = figure.when
        if when and when.lower() in figure.label.lower():
            when = None  # "Anggaran 2026: ..." does not repeat its year
        if not label:
            return f"{value} ({when})" if when else value
        if when:
            return self.locale.t(
                "format.figure_period", label=figure.label, value=value, period=when
            )
        return self.locale.t("format.figure", label=figure.label, value=value)

    def claimant(self, entry: Entry, figure: Figure, knowledge: Knowledge) -> str:
        """Who claims a figure and when: "TribunKaltim.co, 31 Jul 2025"."""
        source = knowledge.source_of(entry, figure)
        day = figure.as_of or source.date
        if day is None:
            return self.locale.t("answer.figure_source_undated", publisher=source.publisher)
        return self.locale.t(
            "answer.figure_source", publisher=source.publisher, date=self.short_date(day)
        )

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
        key = (entry.id, knowledge.fingerprint, fmt)
        shown = self._answers.get(key)
        if shown is None or knowledge.entry(entry.id) is not entry:
            shown = self._answer(entry, knowledge, fmt)
            if len(self._answers) >= MAX_CACHED_ANSWERS:
                self._answers.clear()
            self._answers[key] = shown
        return shown

    def _answer(self, entry: Entry, knowledge: Knowledge, fmt: Format) -> str:
        esc, bold, italic = _markup(fmt)
        t = self.locale.t
        lines = [bold(esc(entry.title)), esc(entry.answer)]
        claims = self.claims(entry, knowledge)
        if claims:
            lines += ["", *(esc(line) for line in claims)]
        lines.append("")
        sources = "; ".join(esc(self.source(s)) for s in knowledge.sources_of(entry))
        lines.append(t("answer.source", sources=sources))
        if entry.as_of:
            lines.append(t("answer.as_of", date=esc(self.date(entry.as_of))))
        else:
            lines.append(t("answer.as_of_undated"))
        lines.append(italic(esc(self.signature())))
        return "\n".join(lines)

    def claims(self, entry: Entry, knowledge: Knowledge) -> list[str]:
        """The figure lines: current figures (newest first within a label), rival claims
        side by side with their sources, then what newer sources replaced."""
        t = self.locale.t
        many = len(entry.sources) > 1

        def line(same: list[Figure]) -> str:
            """One figure; several sources stating the same value share its line."""
            text = self.figure(same[0])
            if many:
                sources = "; ".join(dict.fromkeys(self.claimant(entry, f, knowledge) for f in same))
                return t("answer.figure_line_sourced", figure=text, source=sources)
            return t("answer.figure_line", figure=text)

        lines: list[str] = []
        done: set[int] = set()
        current = [(i, f) for i, f in enumerate(entry.figures) if not f.superseded]
        for i, fig in current:
            if i in done:
                continue
            if fig.conflict:
                rivals = [(j, f) for j, f in current if f.conflict == fig.conflict]
                done.update(j for j, _ in rivals)
                lines.append(t("answer.conflict_intro", label=fig.label))
                lines += [
                    t(
                        "answer.conflict_item",
                        value=self.figure(f, label=False),
                        source=self.claimant(entry, f, knowledge),
                    )
                    for _, f in rivals
                ]
                continue
            label = fig.label.lower()
            series = [(j, f) for j, f in current if f.label.lower() == label and not f.conflict]
            series.sort(key=lambda jf: (knowledge.claimed_on(entry, jf[1]), -jf[0]), reverse=True)
            done.update(j for j, _ in series)
            same: dict[str, list[Figure]] = {}  # as shown -> the figures stating it
            for _, f in series:
                same.setdefault(self.figure(f), []).append(f)
            lines += [line(figures) for figures in same.values()]
        old = [f for f in entry.figures if f.superseded]
        if old or entry.history:
            lines.append(t("answer.history_intro"))
            lines += [
                t(
                    "answer.history_figure",
                    figure=self.figure(f),
                    source=self.claimant(entry, f, knowledge),
                )
                for f in old
            ]
            for update in entry.history:
                publishers = ", ".join(knowledge.sources[s].publisher for s in update.sources)
                lines.append(
                    t(
                        "answer.history_item",
                        date=self.short_date(update.date),
                        text=update.text,
                        sources=publishers,
                    )
                )
        return lines

    def summary(self, entry: Entry, limit: int = 120) -> str:
        """One line for inline-mode cards: the key figure, else the answer's opening."""
        current = [f for f in entry.figures if not f.superseded]
        if current:
            return self.figure(current[0])
        text = " ".join(entry.answer.split())
        return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"

    def problem(self, problem: Problem) -> str:
        """A knowledge problem as ``file:line: what to fix`` in the staff's language."""
        params = dict(problem.params)
        if problem.code == "schema":
            if "entry" in params:  # in an entry: named by its id, a figure by its number
                t = self.locale.t
                parts = [t("check.where.entry", id=params.pop("entry"))]
                if "figure" in params:
                    parts.append(t("check.where.figure", n=params.pop("figure")))
                rest = params.pop("rest", "")
                params["where"] = ", ".join([*parts, rest] if rest else parts)
            error = str(params.get("error"))
            key = f"check.schema_errors.{error}"
            params["error"] = (
                self.locale.t(key)
                if self.locale.has(key)
                else self.locale.t("check.schema_errors.other", error=error)
            )
        message = self.locale.t(f"check.problem.{problem.code}", **params)
        return f"{problem.file}:{problem.line}: {message}"

    def decision(
        self,
        decision: Decision,
        knowledge: Knowledge,
        fmt: Format = Format.TEXT,
        *,
        logged: bool = False,
    ) -> str:
        """The full text of the reply to a decision (CLI, eval), options listed."""
        return self.reply(
            build_reply(decision, knowledge, self.locale, logged=logged), knowledge, fmt
        )

    def reply(
        self, reply: Reply, knowledge: Knowledge, fmt: Format = Format.TEXT, buttons: bool = False
    ) -> str:
        """A reply's text. ``buttons``: the medium shows the options and suggestions as
        buttons, so the text keeps their headings but does not list them."""
        if reply.entry is not None:
            return self.answer(reply.entry, knowledge, fmt)
        esc, bold, _ = _markup(fmt)
        t = self.locale.t
        lines = [t(reply.head or "fallback.offline")]
        if not buttons:
            lines += [
                t("choices.option", n=i, title=bold(esc(e.title)))
                for i, e in enumerate(reply.options, 1)
            ]
        if reply.suggestions:
            lines += ["", t("fallback.suggestions")]
            if not buttons:
                lines += [t("fallback.suggestion", title=esc(e.title)) for e in reply.suggestions]
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
