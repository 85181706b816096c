"""Why did the bot say that? One question taken apart (``python -m bot explain``).

For staff and developers: the words the engine read (and every repair, with the rule
that made it), the best candidates with their scores and the fields of each entry that
matched the question's words, and the rule that decided.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bot.knowledge import Entry
from bot.matcher import Decision, Engine, Index

MAX_CANDIDATES = 5


@dataclass(frozen=True)
class Step:
    typed: str
    became: tuple[str, ...]
    rule: str


@dataclass(frozen=True)
class Candidate:
    id: str
    title: str
    score: float
    coverage: float
    fields: dict[str, list[str]]  # field name -> question words found there
    unmatched: list[str]  # question words the entry does not hold


@dataclass(frozen=True)
class Explanation:
    question: str
    tokens: tuple[str, ...]
    steps: tuple[Step, ...]
    weights: dict[str, float]
    candidates: tuple[Candidate, ...]
    kind: str
    reason: str
    because: tuple[str, ...]
    answer: str | None  # the entry answered with, if any

    def as_dict(self) -> dict:
        return asdict(self)


def explain(engine: Engine, question: str) -> Explanation:
    index = engine.index
    decision: Decision = engine.decide(question)
    normalized = engine.normalize(question)
    weights = index.query_weights(normalized) if normalized else {}
    candidates = tuple(
        _candidate(index, m.entry, m.score, m.coverage, normalized.tokens)
        for m in (index.score(normalized) if normalized else [])[:MAX_CANDIDATES]
    )
    steps = tuple(Step(*step) for step in index.normalizer.trace(question))
    return Explanation(
        question=question,
        tokens=normalized.tokens,
        steps=steps,
        weights={t: round(w, 2) for t, w in weights.items()},
        candidates=candidates,
        kind=decision.kind.value,
        reason=decision.reason,
        because=decision.because,
        answer=decision.entry.id if decision.entry else None,
    )


def _candidate(
    index: Index, entry: Entry, score: float, coverage: float, tokens: tuple[str, ...]
) -> Candidate:
    read = index.normalizer.normalize_knowledge
    texts = {
        "title": [entry.title],
        "questions": list(entry.questions),
        "keywords": list(entry.keywords),
        "answer": [entry.answer, *(u.text for u in entry.history)],
        "figures": [t for f in entry.figures for t in (f.label, f.unit or "", f.text or "")],
        "topics": [index.knowledge.topics[t].title for t in entry.topics],
    }
    words = {
        name: {t for text in found for t in read(text).tokens} for name, found in texts.items()
    }
    fields = {name: sorted({t for t in tokens if t in held}) for name, held in words.items()}
    held_anywhere = set().union(*words.values())
    return Candidate(
        id=entry.id,
        title=entry.title,
        score=score,
        coverage=round(coverage, 3),
        fields={name: found for name, found in fields.items() if found},
        unmatched=[t for t in tokens if t not in held_anywhere],
    )
