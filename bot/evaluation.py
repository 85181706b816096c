"""Offline evaluation of the engine on labelled questions (``python -m bot eval``).

Question types and what counts as right:

* ``in_scope`` (with ``expect``): an *answer* naming exactly that entry (strict);
* ``near_miss`` and ``out_of_scope``: no answer — abstaining is right, because a
  confident wrong answer is the worst outcome; a plain fallback is best;
* ``smalltalk``: a smalltalk reply.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict

from bot.matcher import Decision, DecisionKind, Engine
from bot.paths import ROOT

DEFAULT_EVAL = ROOT / "tests" / "eval" / "questions.yaml"
SHARED_OUT_OF_SCOPE = ROOT.parent / "shared" / "eval" / "out_of_scope_real.jsonl"

QuestionType = Literal["in_scope", "near_miss", "out_of_scope", "smalltalk"]


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    q: str
    type: QuestionType
    expect: str | None = None


@dataclass(frozen=True)
class Outcome:
    case: Case
    decision: Decision

    @property
    def correct(self) -> bool:
        kind = self.decision.kind
        if self.case.type == "in_scope":
            entry = self.decision.entry
            return (
                kind is DecisionKind.ANSWER and entry is not None and entry.id == self.case.expect
            )
        if self.case.type == "smalltalk":
            return kind is DecisionKind.SMALLTALK
        return kind is not DecisionKind.ANSWER

    @property
    def offered(self) -> bool:
        """In-scope: the expected entry was at least among the choices offered."""
        return any(m.entry.id == self.case.expect for m in self.decision.matches) and (
            self.decision.kind in (DecisionKind.ANSWER, DecisionKind.CHOICES)
        )


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def of(self, *types: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.case.type in types]

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
        }


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


def evaluate(engine: Engine, cases: Iterable[Case]) -> Report:
    return Report([Outcome(case, engine.decide(case.q)) for case in cases])
