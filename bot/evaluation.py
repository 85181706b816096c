"""Offline evaluation of the engine on labelled questions (``python -m bot eval``).

Question types and what counts as right:

* ``in_scope`` (with ``expect``): an *answer* naming exactly that entry (strict);
* ``near_miss`` and ``out_of_scope``: no answer — abstaining is right, because a
  confident wrong answer is the worst outcome; a plain fallback is best;
* ``smalltalk``: a smalltalk reply.

The shared city set (``../shared/eval/city_questions_dev.yaml``) labels answers by the
figures a right answer must hold (``figures``: groups of ``|``-separated alternatives),
not by entry: an in-scope, ``timely`` or ``english`` case is right when it is answered
and the reply's text holds one alternative of every group.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict

from bot.knowledge import Knowledge
from bot.matcher import Decision, DecisionKind, Engine
from bot.paths import ROOT

DEFAULT_EVAL = ROOT / "tests" / "eval" / "questions.yaml"
TOPIC_EVALS = ROOT / "tests" / "eval" / "city"  # one file per topic, same format
SHARED_OUT_OF_SCOPE = ROOT.parent / "shared" / "eval" / "out_of_scope_real.jsonl"
SHARED_CITY = ROOT.parent / "shared" / "eval" / "city_questions_dev.yaml"

QuestionType = Literal["in_scope", "near_miss", "out_of_scope", "smalltalk", "timely", "english"]
ANSWERED_TYPES = ("in_scope", "timely", "english")  # a right reply answers these
_DIGIT_SEPARATOR = re.compile(r"(?<=\d)[.,](?=\d)")


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    q: str
    type: QuestionType
    expect: str | None = None  # the entry that must answer ("a|b": either of two)
    figures: tuple[str, ...] = ()  # or: groups of alternatives the reply must hold
    set: str = "project"  # which set it comes from, for the report


def holds(text: str, groups: Iterable[str]) -> bool:
    """Every group has an alternative in ``text`` (case-insensitive; "7.140" and
    "7,140" alike)."""
    plain = _DIGIT_SEPARATOR.sub("#", text.lower())
    return all(
        any(_DIGIT_SEPARATOR.sub("#", alt.lower()) in plain for alt in group.split("|"))
        for group in groups
    )


@dataclass(frozen=True)
class Outcome:
    case: Case
    decision: Decision
    text: str = ""  # the reply as a resident reads it (for cases labelled by figures)

    @property
    def correct(self) -> bool:
        kind = self.decision.kind
        if self.case.figures:
            return kind is DecisionKind.ANSWER and holds(self.text, self.case.figures)
        if self.case.type in ANSWERED_TYPES:
            entry = self.decision.entry
            return kind is DecisionKind.ANSWER and entry is not None and entry.id in self.accepted
        if self.case.type == "smalltalk":
            return kind is DecisionKind.SMALLTALK
        return kind is not DecisionKind.ANSWER

    @property
    def accepted(self) -> set[str]:
        """The entries that answer the case: ``expect`` may list several, split by "|",
        where two entries both answer the question asked."""
        return set((self.case.expect or "").split("|"))

    @property
    def offered(self) -> bool:
        """In-scope: the expected entry was at least among the choices offered."""
        return any(m.entry.id in self.accepted for m in self.decision.matches) and (
            self.decision.kind in (DecisionKind.ANSWER, DecisionKind.CHOICES)
        )


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def of(self, *types: str, set: str = "project") -> list[Outcome]:
        return [o for o in self.outcomes if o.case.type in types and o.case.set == set]

    def rate(self, outcomes: list[Outcome], predicate) -> float:
        return sum(1 for o in outcomes if predicate(o)) / len(outcomes) if outcomes else 1.0

    @property
    def in_scope_accuracy(self) -> float:
        return self.rate(self.of("in_scope"), lambda o: o.correct)

    @property
    def in_scope_choice_rate(self) -> float:
        return self.rate(self.of("in_scope"), lambda o: o.decision.kind is DecisionKind.CHOICES)

    @property
    def in_scope_offered(self) -> float:
        return self.rate(self.of("in_scope"), lambda o: o.offered)

    @property
    def in_scope_wrong_answers(self) -> float:
        return self.rate(
            self.of("in_scope"),
            lambda o: o.decision.kind is DecisionKind.ANSWER and not o.correct,
        )

    @property
    def abstention(self) -> float:
        """Out-of-scope and near-miss questions not answered as if known."""
        return self.rate(self.of("out_of_scope", "near_miss"), lambda o: o.correct)

    @property
    def out_of_scope_abstention(self) -> float:
        return self.rate(self.of("out_of_scope"), lambda o: o.correct)

    @property
    def near_miss_abstention(self) -> float:
        return self.rate(self.of("near_miss"), lambda o: o.correct)

    @property
    def smalltalk_accuracy(self) -> float:
        return self.rate(self.of("smalltalk"), lambda o: o.correct)

    @property
    def misses(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.correct]

    def summary(self) -> dict[str, float | int]:
        return {
            "questions": len(self.outcomes),
            "in_scope": len(self.of("in_scope")),
            "in_scope_accuracy": round(self.in_scope_accuracy, 4),
            "in_scope_choice_rate": round(self.in_scope_choice_rate, 4),
            "in_scope_offered": round(self.in_scope_offered, 4),
            "in_scope_wrong_answers": round(self.in_scope_wrong_answers, 4),
            "out_of_scope": len(self.of("out_of_scope")),
            "out_of_scope_abstention": round(self.out_of_scope_abstention, 4),
            "near_miss": len(self.of("near_miss")),
            "near_miss_abstention": round(self.near_miss_abstention, 4),
            "smalltalk": len(self.of("smalltalk")),
            "smalltalk_accuracy": round(self.smalltalk_accuracy, 4),
            **self.city_summary(),
        }

    def city_summary(self) -> dict[str, float | int]:
        """The shared city set, by section: answered right, or abstained."""
        out: dict[str, float | int] = {}
        for kind in ("in_scope", "timely", "english", "out_of_scope", "near_miss"):
            cases = self.of(kind, set="city")
            if cases:
                name = "accuracy" if kind in ANSWERED_TYPES else "abstention"
                out[f"city_{kind}"] = len(cases)
                out[f"city_{kind}_{name}"] = round(self.rate(cases, lambda o: o.correct), 4)
        return out


def load_cases(path: Path = DEFAULT_EVAL) -> list[Case]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return [Case.model_validate(item) for item in raw]


def load_shared_out_of_scope(path: Path = SHARED_OUT_OF_SCOPE, split: str = "dev") -> list[Case]:
    """Real questions about other things (TyDi QA / FacQA, CC-BY-SA-4.0), one split."""
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if row.get("split") == split:
                cases.append(Case(q=row["q"], type="out_of_scope"))
    return cases


def load_topic_cases(folder: Path = TOPIC_EVALS) -> list[Case]:
    """The project's own questions per topic (``tests/eval/city/*.yaml``)."""
    return [c for path in sorted(folder.glob("*.yaml")) for c in load_cases(path)]


def load_city(path: Path = SHARED_CITY) -> list[Case]:
    """The shared city set: residents' questions labelled by the figures a right
    answer holds, and city questions no source answers."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    cases = [
        Case(q=item["q"], type=kind, figures=tuple(item["expect"]), set="city")
        for kind in ANSWERED_TYPES
        for item in raw.get(kind) or []
    ]
    cases += [
        Case(q=q, type=kind, set="city")
        for kind in ("out_of_scope", "near_miss")
        for q in raw.get(kind) or []
    ]
    return cases


def few(knowledge: Knowledge, n: int) -> Knowledge:
    """The knowledge as busy staff would write it: each entry cut to its first ``n``
    example questions and ``n`` keywords (the rest of the entry unchanged)."""
    from dataclasses import replace

    entries = tuple(
        e.model_copy(update={"questions": e.questions[:n], "keywords": e.keywords[:n]})
        for e in knowledge.entries
    )
    return replace(knowledge, entries=entries, fingerprint=f"{knowledge.fingerprint}-few{n}")


def evaluate(engine: Engine, cases: Iterable[Case], render=None) -> Report:
    """Each case's decision; ``render`` (decision -> plain text) is needed for cases
    labelled by figures."""
    outcomes = []
    for case in cases:
        decision = engine.decide(case.q)
        text = render(decision) if render and case.figures else ""
        outcomes.append(Outcome(case, decision, text))
    return Report(outcomes)


SWEEP_ANSWER = (40.0, 45.0, 50.0, 55.0, 60.0)
SWEEP_MARGIN = (3.0, 6.0, 10.0)
SWEEP_UNCOVERED = (2.0, 3.0, 99.0)
SWEEP_COVERAGE = (0.5, 0.55, 0.6)


def sweep(index, cases: list[Case], render) -> list[dict[str, float | str]]:
    """The eval's headline rates for every point of a threshold grid (answer score,
    margin over the runner-up, weight of an uncovered word, coverage floor), on one
    built index."""
    from bot.matcher import Thresholds

    rows: list[dict[str, float | str]] = []
    for answer in SWEEP_ANSWER:
        for margin in SWEEP_MARGIN:
            for uncovered, coverage in product(SWEEP_UNCOVERED, SWEEP_COVERAGE):
                th = Thresholds(
                    answer=answer,
                    margin=margin,
                    uncovered_weight=uncovered,
                    coverage_floor=coverage,
                )
                report = evaluate(Engine(index, th), cases, render)
                answered = report.of(*ANSWERED_TYPES) + report.of(*ANSWERED_TYPES, set="city")
                abstain = report.of("out_of_scope", "near_miss") + report.of(
                    "out_of_scope", "near_miss", set="city"
                )
                rows.append(
                    {
                        "answer": answer,
                        "margin": margin,
                        "uncovered": uncovered,
                        "coverage": coverage,
                        "accuracy": report.rate(answered, lambda o: o.correct),
                        "choices": report.rate(
                            answered, lambda o: o.decision.kind is DecisionKind.CHOICES
                        ),
                        "wrong": report.rate(
                            answered,
                            lambda o: o.decision.kind is DecisionKind.ANSWER and not o.correct,
                        ),
                        "abstain": report.rate(abstain, lambda o: o.correct),
                    }
                )
    return rows
