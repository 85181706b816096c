"""Staff reports shared by Telegram and the CLI: CSV export, stats text, stats chart."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.knowledge import Knowledge
from bot.locale import Locale
from bot.matcher import Engine
from bot.storage import EXPORT_COLUMNS, Group, Stats, Storage

FORMULA_STARTS = frozenset("=+-@\t\r")
GROUP_COLUMNS = ("id", "count", "first_seen", "last_seen", "example", "normalized")


def _csv(rows: Iterable[Mapping[str, Any]], columns: tuple[str, ...]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
    # UTF-8 with BOM: Excel then opens Indonesian text correctly.
    return buffer.getvalue().encode("utf-8-sig")


def _cell(value: Any) -> Any:
    """Text a resident typed must not run as a spreadsheet formula when staff open the
    export in Excel ("=HYPERLINK(...)"): such cells get a leading apostrophe (OWASP)."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value


def csv_bytes(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """The question log in storage's documented export columns (no user or chat ids)."""
    return _csv(rows, EXPORT_COLUMNS)


def groups_csv_bytes(groups: Iterable[Group]) -> bytes:
    return _csv(
        (
            {
                "id": g.id,
                "count": g.count,
                "first_seen": g.first_seen.isoformat(),
                "last_seen": g.last_seen.isoformat(),
                "example": g.example,
                "normalized": g.normalized,
            }
            for g in groups
        ),
        GROUP_COLUMNS,
    )


def stats_lines(stats: Stats, locale: Locale, knowledge: Knowledge) -> list[str]:
    """Plain text (no markup), safe to send as HTML only after escaping by the caller."""
    t = locale.t
    rates = stats.decision_rates
    lines = [
        t("stats.header", days=stats.days, total=stats.total, users=stats.unique_users),
        t(
            "stats.rates",
            answer=f"{rates.get('answer', 0):.0%}",
            choices=f"{rates.get('choices', 0):.0%}",
            fallback=f"{rates.get('fallback', 0):.0%}",
            smalltalk=f"{rates.get('smalltalk', 0):.0%}",
        ),
        t("stats.open_groups", count=stats.open_groups),
    ]
    if stats.avg_latency_ms is not None:
        lines.append(t("stats.latency", ms=f"{stats.avg_latency_ms:.2f}"))
    lines.append("")
    lines.append(t("stats.per_day"))
    lines += [t("stats.day_line", day=d.isoformat(), count=n) for d, n in stats.per_day]
    if stats.top_entries:
        lines += ["", t("stats.top_entries")]
        for entry_id, count in stats.top_entries[:10]:
            entry = knowledge.entry(entry_id)
            lines.append(
                t("stats.entry_line", title=entry.title if entry else entry_id, count=count)
            )
    if stats.top_open_groups:
        lines += ["", t("stats.top_groups")]
        lines += [
            t("stats.group_line", id=g.id, count=g.count, example=g.example[:120])
            for g in stats.top_open_groups[:10]
        ]
    if stats.feedback:
        lines += ["", t("stats.feedback")]
        for fb in stats.feedback[:10]:
            entry = knowledge.entry(fb.entry_id)
            lines.append(
                t(
                    "stats.feedback_line",
                    title=entry.title if entry else fb.entry_id,
                    up=fb.up,
                    down=fb.down,
                )
            )
    return lines


def stats_chart_png(stats: Stats, locale: Locale) -> bytes:
    """Questions per day as a bar chart (a picture reads better than a column of numbers)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    days = [d.strftime("%d/%m") for d, _ in stats.per_day]
    counts = [n for _, n in stats.per_day]
    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=100)
    try:
        ax.bar(days, counts, color="#1f77b4")
        ax.set_title(locale.t("stats.chart_title", days=stats.days))
        ax.set_ylabel(locale.t("stats.chart_ylabel"))
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(fig)


@dataclass(frozen=True)
class Replay:
    """An open group re-asked against the current knowledge."""

    group: Group
    questions: int
    answered: int  # how many of its distinct questions the engine now answers
    entry_id: str | None  # the entry answering most of them

    @property
    def closed(self) -> bool:
        """Most of the group's questions are now answered: the gap is closed."""
        return self.answered * 2 > self.questions


async def replay_open_groups(storage: Storage, engine: Engine) -> list[Replay]:
    results = []
    total = await storage.count_open_groups()
    for group in await storage.open_groups(limit=max(total, 1)):
        questions = await storage.group_questions(group.id) or [group.example]
        entries = [engine.decide(q).entry for q in questions]
        answered = [e.id for e in entries if e is not None]
        top = Counter(answered).most_common(1)
        results.append(Replay(group, len(questions), len(answered), top[0][0] if top else None))
    return results
