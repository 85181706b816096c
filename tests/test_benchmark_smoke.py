"""The performance benchmark, run tiny so it cannot rot.

``python -m benchmarks.run --smoke`` exercises every part (synthetic knowledge written
and loaded with the real loader, engine, rapidfuzz baselines, reload, bundled
knowledge, ``ask --json -``, the real Application with SQLite storage) in a few
seconds. Only structure and sane values are checked here, never timings: the
machine is shared, and timings are the benchmark's to print, not a test's to judge.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import bot.evaluation
from benchmarks import synth
from benchmarks.run import ROOT, accuracy, as_cases, percentile, picked, real_questions
from bot.knowledge import load_knowledge
from bot.matcher import Engine


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Targets" in proc.stdout  # the one table was printed
    return json.loads(out.read_text(encoding="utf-8"))


def _fraction(value: object) -> bool:
    return isinstance(value, int | float) and 0.0 <= value <= 1.0


def _latency(summary: dict) -> None:
    assert summary["n"] > 0
    for key in ("mean_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms", "throughput_qps"):
        assert summary[key] >= 0, key
    assert summary["p50_ms"] <= summary["p99_ms"] <= summary["max_ms"]


def test_top_level_structure(results: dict) -> None:
    assert set(results) >= {
        "meta",
        "synthetic",
        "real",
        "ask_json",
        "e2e",
        "max_engine_call_ms",
        "targets",
    }
    assert results["meta"]["smoke"] is True
    assert results["max_engine_call_ms"] > 0
    assert results["max_engine_call_cpu_ms"] > 0
    assert {t["key"] for t in results["targets"]} >= {"real_p99_ms", "e2e_lost_rows"}


def test_starts_from_snapshots(results: dict) -> None:
    """First start builds, a restart reads the snapshot back and answers identically,
    a start after an edit rebuilds the changed knowledge."""
    starts = results["synthetic"][-1]["starts"]
    for kind in ("first", "restart", "after_edit"):
        assert starts[kind]["open_s"] > 0
        assert starts[kind]["rss_mb"]["peak"] >= starts[kind]["rss_mb"]["after_imports"] > 0
    assert starts["restart_identical"] is True
    assert starts["after_edit"]["edited_file"].startswith("entries-")
    keys = {t["key"] for t in results["targets"]}
    assert {"largest_start_edit_s", "largest_start_restart_s", "largest_snapshot_same"} <= keys


def test_synthetic_sizes(results: dict) -> None:
    sizes = results["meta"]["sizes"]
    assert [r["size"] for r in results["synthetic"]] == sizes
    for r in results["synthetic"]:
        assert r["entries"] == r["size"]
        assert r["aliases"] == r["size"] * synth.ALIASES_PER_ENTRY
        assert r["load_s"] > 0 and r["index_s"] > 0
        assert r["rss_mb"]["peak"] >= r["rss_mb"]["after_imports"] > 0
        _latency(r["engine"])
        assert r["engine"]["n"] == results["meta"]["questions_per_size"]
        assert (
            0 <= r["engine"]["cpu_p50_ms"] <= r["engine"]["cpu_p99_ms"] <= r["engine"]["cpu_max_ms"]
        )
        acc = r["accuracy"]
        for key in ("overall", "in_scope", "in_scope_choices", "in_scope_wrong_answers"):
            assert _fraction(acc[key]), key
        assert set(acc["counts"]) <= {"in_scope", "near_miss", "out_of_scope"}
        assert acc["counts"]["in_scope"] > 0
        for name in ("wratio", "token_set_ratio"):
            b = r["baselines"][name]
            assert b["aliases"] == r["aliases"]
            assert 0 < b["n"] <= r["engine"]["n"]
            _latency(b["latency"])
            assert 50 <= b["cutoff"] <= 100
            for key in ("accuracy", "accuracy_at_80", "engine_accuracy_same_questions"):
                assert _fraction(b[key]["overall"]), key
            assert b["speedup_p50"] > 0
        assert r["reload"]["max_loop_stall_ms"] >= 0


def test_bundled_knowledge_and_ask_json(results: dict) -> None:
    real = results["real"]
    assert real["entries"] > 0
    _latency(real["engine"])
    for key in ("in_scope_accuracy", "out_of_scope_abstention"):
        assert _fraction(real["eval"][key]), key
    ask = results["ask_json"]
    assert ask["answers"] == ask["questions"] > 0
    assert ask["answers_are_json"] is True
    assert ask["start_s"] > 0 and ask["qps_incl_start"] > 0


def test_end_to_end_loses_no_rows(results: dict) -> None:
    e2e = results["e2e"]
    _latency(e2e["latency"])
    assert e2e["updates"] > 0
    assert e2e["replies_sent"] == e2e["updates"] + e2e["warmup_updates"]
    # Every text is a question except a rare command ("/start"), which logs nothing.
    assert 0.9 * e2e["replies_sent"] <= e2e["questions_logged"] <= e2e["replies_sent"]
    assert e2e["rows_in_db"] == e2e["questions_logged"]
    assert e2e["lost_rows"] == 0
    assert 0 <= e2e["committed_during_run"] <= e2e["questions_logged"]
    assert e2e["dropped"] == e2e["rejected"] == 0


def test_synthetic_knowledge_is_deterministic_and_loads(tmp_path: Path) -> None:
    a = synth.write_knowledge(tmp_path / "a", 30, seed=5)
    b = synth.write_knowledge(tmp_path / "b", 30, seed=5)
    assert [e.id for e in a] == [e.id for e in b]
    files = sorted(p.name for p in (tmp_path / "a").glob("*.yaml"))
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    knowledge = load_knowledge(tmp_path / "a")  # the real loader accepts every file
    assert len(knowledge.entries) == 30
    assert all(len(e.questions) == synth.ALIASES_PER_ENTRY for e in knowledge.entries)
    entries, missing = synth.catalogue(30, seed=5)
    questions = synth.questions(entries, missing, 60, seed=9)
    assert questions == synth.questions(entries, missing, 60, seed=9)
    assert len({q.q for q in questions}) == len(questions) == 60
    ids = {e.id for e in knowledge.entries}
    assert all(q.expect in ids for q in questions if q.type == "in_scope")
    # The labels make sense: the engine answers most in-scope questions as labelled.
    engine = Engine(knowledge)
    in_scope = [q for q in questions if q.type == "in_scope"]
    right = sum(1 for q in in_scope if (d := engine.decide(q.q)).entry and d.entry.id == q.expect)
    assert right >= 0.7 * len(in_scope)


def test_helpers() -> None:
    assert percentile([5, 1, 3, 2, 4], 50) == 3
    assert percentile([1.0] * 99 + [50.0], 99) == 1.0
    assert percentile([], 99) == 0.0
    cases = [
        {"q": "a", "type": "in_scope", "expect": "x"},
        {"q": "b", "type": "in_scope", "expect": "y"},
        {"q": "c", "type": "out_of_scope", "expect": None},
    ]
    acc = accuracy(as_cases(cases), [picked("x"), picked(None), picked(None)])
    assert acc["in_scope"] == 0.5 and acc["out_of_scope"] == 1.0
    assert acc["overall"] == round(2 / 3, 4)


def test_benchmarks_never_import_the_test_suite() -> None:
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not [n for n in names if n.split(".")[0] == "tests"], path.name


def test_only_the_dev_split_of_the_shared_set_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "out_of_scope_real.jsonl"
    rows = [
        {"q": "siapa penemu bola lampu dev", "split": "dev"},
        {"q": "berapa tinggi gunung everest holdout", "split": "holdout"},
    ]
    shared.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    monkeypatch.setattr(bot.evaluation, "SHARED_OUT_OF_SCOPE", shared)
    cases, sources = real_questions(2000, seed=1)
    texts = {c["q"] for c in cases}
    assert "siapa penemu bola lampu dev" in texts
    assert not any("holdout" in q for q in texts)
    assert sources["shared_out_of_scope_dev"] == 1
