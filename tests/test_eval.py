"""Accuracy floors on labelled questions. The engine is also judged on questions
written by someone else, so these are floors, not targets to tune towards."""

from __future__ import annotations

import pytest

from bot.evaluation import (
    DEFAULT_EVAL,
    SHARED_OUT_OF_SCOPE,
    evaluate,
    load_cases,
    load_shared_out_of_scope,
)
from bot.matcher import Engine

IN_SCOPE_FLOOR = 0.95
ABSTENTION_FLOOR = 0.97


@pytest.fixture(scope="module")
def report(engine: Engine):
    return evaluate(engine, load_cases(DEFAULT_EVAL))


def test_eval_set_is_large_and_covers_every_entry(engine: Engine) -> None:
    cases = load_cases(DEFAULT_EVAL)
    assert len(cases) >= 250
    expected = {c.expect for c in cases if c.type == "in_scope"}
    assert expected == {e.id for e in engine.knowledge.entries}
    for kind in ("in_scope", "near_miss", "out_of_scope", "smalltalk"):
        assert sum(c.type == kind for c in cases) >= 25, kind


def test_in_scope_strict_accuracy(report) -> None:
    misses = [
        (o.case.q, o.case.expect, o.decision.kind.value)
        for o in report.of("in_scope")
        if not o.correct
    ]
    assert report.in_scope_accuracy >= IN_SCOPE_FLOOR, misses


def test_no_confident_wrong_answers(report) -> None:
    assert report.in_scope_wrong_answers <= 0.01


def test_out_of_scope_abstention(report) -> None:
    leaks = [o.case.q for o in report.of("out_of_scope") if not o.correct]
    assert report.out_of_scope_abstention >= ABSTENTION_FLOOR, leaks


def test_near_misses_are_mostly_not_answered(report) -> None:
    # Questions about things the source does not hold (addresses, 2024 figures, ...).
    assert report.near_miss_abstention >= 0.85


def test_smalltalk_is_recognised(report) -> None:
    assert report.smalltalk_accuracy >= 0.95


@pytest.mark.skipif(not SHARED_OUT_OF_SCOPE.exists(), reason="../shared is not beside this clone")
def test_real_out_of_scope_questions_dev_split(engine: Engine) -> None:
    """Real Indonesian questions (TyDi QA / FacQA, CC-BY-SA-4.0), dev split only: the
    holdout split is for judging and never read here."""
    cases = load_shared_out_of_scope(SHARED_OUT_OF_SCOPE, split="dev")
    assert len(cases) >= 100
    report = evaluate(engine, cases)
    leaks = [o.case.q for o in report.outcomes if not o.correct]
    assert report.out_of_scope_abstention >= ABSTENTION_FLOOR, leaks


HOLDOUT = DEFAULT_EVAL.parent / "holdout.yaml"


def test_held_out_set_written_blind(engine: Engine) -> None:
    """A second set written without seeing the knowledge or the first set. Half of it
    was later studied for general improvements, so these floors guard regressions."""
    report = evaluate(engine, load_cases(HOLDOUT))
    assert len(report.outcomes) >= 400
    assert report.in_scope_accuracy >= 0.95
    assert report.in_scope_wrong_answers <= 0.01
    assert report.out_of_scope_abstention >= 0.95
    assert report.near_miss_abstention >= 0.85
    assert report.smalltalk_accuracy >= 0.9
