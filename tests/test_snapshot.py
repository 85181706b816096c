"""Index snapshots: a restart with unchanged knowledge reads the built index back; any
change to the files, the code or the snapshot itself means a fresh check and build."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

import bot.snapshot as snapshot
from bot.matcher import DecisionKind, Engine, Index
from bot.snapshot import open_index, snapshot_path
from tests.conftest import MINI_ENTRIES, write_knowledge

QUESTIONS = ["brp persen warga punya bpjs", "embung aji raden", "siapa presiden amerika", ""]


def snapshots(cache: Path) -> list[Path]:
    return sorted(cache.glob("index-*.pickle"))


def answers(index: Index) -> list[tuple[str, tuple[str, ...], tuple[float, ...]]]:
    engine = Engine(index)
    return [
        (
            d.kind.value,
            tuple(m.entry.id for m in d.matches),
            tuple(m.score for m in d.matches),
        )
        for d in map(engine.decide, QUESTIONS)
    ]


def test_first_open_builds_and_saves_then_a_restart_reads_it(
    mini_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    built, problems = open_index(mini_dir, cache)
    assert built is not None and problems == []
    assert snapshots(cache) == [snapshot_path(mini_dir, cache)]

    def refuse(*_: object) -> None:
        raise AssertionError("rebuilt instead of read from the snapshot")

    monkeypatch.setattr(snapshot, "build_index", refuse)
    monkeypatch.setattr(snapshot, "check_knowledge_quietly", refuse)
    read, problems = open_index(mini_dir, cache)
    assert read is not None and read is not built and problems == []
    assert read.knowledge == built.knowledge
    assert answers(read) == answers(built)
    assert answers(read)[0][:2] == (DecisionKind.ANSWER.value, ("uhc",))


def test_an_edited_file_is_rebuilt_and_the_old_snapshot_removed(
    mini_dir: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    before, _ = open_index(mini_dir, cache)
    old = snapshots(cache)
    edited = MINI_ENTRIES.replace("title: Cakupan UHC", "title: Cakupan UHC warga")
    write_knowledge(mini_dir, entries__yaml=edited)
    after, _ = open_index(mini_dir, cache)
    assert before is not None and after is not None
    assert after.knowledge.fingerprint != before.knowledge.fingerprint
    assert after.knowledge.by_id["uhc"].title == "Cakupan UHC warga"
    assert snapshots(cache) == [snapshot_path(mini_dir, cache)] != old


def test_new_code_never_reads_an_old_snapshot(
    mini_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    open_index(mini_dir, cache)
    monkeypatch.setattr(snapshot, "code_version", lambda: "another-version")
    index, _ = open_index(mini_dir, cache)
    assert index is not None
    assert [p.name for p in snapshots(cache)] == [
        f"index-{index.knowledge.fingerprint}-another-version.pickle"
    ]


@pytest.mark.parametrize("damage", [b"", b"not a pickle", b"\x80\x05K\x01."])
def test_a_damaged_snapshot_is_rebuilt_not_fatal(
    mini_dir: Path, tmp_path: Path, damage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    good, _ = open_index(mini_dir, cache)
    path = snapshot_path(mini_dir, cache)
    path.write_bytes(damage)  # truncated, garbage, or a pickle of something else (1)
    with caplog.at_level(logging.WARNING, logger="bot.snapshot"):
        index, problems = open_index(mini_dir, cache)
    assert index is not None and problems == []
    assert good is not None and answers(index) == answers(good)
    assert "rebuilding" in caplog.text
    assert path.stat().st_size > 1000  # saved again, whole


def test_broken_knowledge_reports_problems_and_saves_nothing(tmp_path: Path) -> None:
    folder = write_knowledge(tmp_path / "knowledge", entries__yaml="entries: [\n")
    cache = tmp_path / "cache"
    index, problems = open_index(folder, cache)
    assert index is None
    assert [p.code for p in problems] == ["yaml_syntax"]
    assert snapshots(cache) == []


def test_an_unwritable_cache_folder_only_costs_the_next_start(
    mini_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the folder should be")
    with caplog.at_level(logging.WARNING, logger="bot.snapshot"):
        index, problems = open_index(mini_dir, blocker)
    assert index is not None and problems == []
    assert "not saved" in caplog.text


def test_caching_off_always_checks_and_builds(mini_dir: Path, tmp_path: Path) -> None:
    index, problems = open_index(mini_dir, None)
    assert index is not None and problems == []
    assert list(tmp_path.rglob("index-*.pickle")) == []


def test_cli_ask_uses_the_snapshot_folder_from_settings(
    mini_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from bot.__main__ import main

    cache = tmp_path / "cache"
    monkeypatch.setenv("BOT_CACHE_DIR", str(cache))
    assert main(["ask", "--knowledge", str(mini_dir), "cakupan uhc"]) == 0
    first = capsys.readouterr().out
    assert snapshots(cache) == [snapshot_path(mini_dir, cache)]
    assert main(["ask", "--knowledge", str(mini_dir), "cakupan uhc"]) == 0
    assert capsys.readouterr().out == first
    assert "98,76 persen" in first


def test_after_an_edit_only_the_edited_file_is_parsed_again(
    mini_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.knowledge import KnowledgeFile

    cache = tmp_path / "cache"
    open_index(mini_dir, cache)
    cached = sorted((cache / "files").glob("file-*.pickle"))
    assert len(cached) == len(list(mini_dir.glob("*.yaml"))) == 4

    validated: list[object] = []
    real = KnowledgeFile.model_validate.__func__  # type: ignore[attr-defined]

    def counting(cls: type[KnowledgeFile], data: object, **kwargs: object) -> KnowledgeFile:
        validated.append(data)
        return real(cls, data, **kwargs)

    monkeypatch.setattr(KnowledgeFile, "model_validate", classmethod(counting))
    edited = MINI_ENTRIES.replace("title: Cakupan UHC", "title: Cakupan UHC warga")
    write_knowledge(mini_dir, entries__yaml=edited)
    index, problems = open_index(mini_dir, cache)
    assert index is not None and problems == []
    assert index.knowledge.by_id["uhc"].title == "Cakupan UHC warga"
    assert len(validated) == 1 and "entries" in validated[0]  # type: ignore[operator]
    now = sorted((cache / "files").glob("file-*.pickle"))
    assert len(now) == 4 and len(set(now) - set(cached)) == 1  # the old entries file is gone


def test_a_cached_file_never_hides_a_problem_across_files(mini_dir: Path, tmp_path: Path) -> None:
    """Each file was fine on its own; together two of them break a rule (duplicate id)."""
    cache = tmp_path / "cache"
    open_index(mini_dir, cache)
    extra = MINI_ENTRIES.split("  - id: embung")[0]  # the uhc entry again, in a new file
    write_knowledge(mini_dir, more__yaml=extra)
    index, problems = open_index(mini_dir, cache)
    assert index is None
    assert "duplicate_id" in {p.code for p in problems}


def test_building_with_the_checks_readings_changes_no_decision(engine: Engine) -> None:
    """open_index hands the questions the check already read to the index build; the
    result must decide exactly like an index built from the knowledge alone."""
    from bot.evaluation import DEFAULT_EVAL, load_cases
    from bot.paths import KNOWLEDGE_DIR

    index, _ = open_index(KNOWLEDGE_DIR, None)
    assert index is not None
    shared = Engine(index)
    for case in load_cases(DEFAULT_EVAL):
        ours, plain = shared.decide(case.q), engine.decide(case.q)
        assert (ours.kind, ours.normalized, ours.matches) == (
            plain.kind,
            plain.normalized,
            plain.matches,
        ), case.q


def test_files_left_half_written_by_a_killed_process_are_cleared(
    mini_dir: Path, tmp_path: Path
) -> None:
    import os
    import time

    cache = tmp_path / "cache"
    (cache / "files").mkdir(parents=True)
    stale = [cache / ".index-x.pickle.4242.tmp", cache / "files" / ".file-y.pickle.4242.tmp"]
    fresh = cache / ".index-z.pickle.4343.tmp"  # another process, saving right now
    for path in [*stale, fresh]:
        path.write_bytes(b"half")
    two_hours_ago = time.time() - 7200
    for path in stale:
        os.utime(path, (two_hours_ago, two_hours_ago))
    index, _ = open_index(mini_dir, cache)
    assert index is not None
    assert not any(p.exists() for p in stale)
    assert fresh.exists()


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "data/cache"), ("off", None), ("OFF", None), ("/srv/cache", "/srv/cache")],
)
def test_the_snapshot_folder_setting(value: str | None, expected: str | None) -> None:
    from bot.config import load_settings
    from bot.paths import ROOT

    settings = load_settings({} if value is None else {"BOT_CACHE_DIR": value})
    if expected is None:
        assert settings.cache_dir is None
    else:
        assert settings.cache_dir == ROOT / expected


def _imported_bot_modules(path: Path) -> set[Path]:
    """The files of the bot modules ``path`` imports (``import bot.x``, ``from bot.x import``,
    ``from bot import x``), anywhere in it (lazy imports inside functions too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.split(".")[0] == "bot"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "bot":
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    files = set()
    for name in names:
        relative = Path(*name.split(".")[1:])
        for candidate in (snapshot.BOT / f"{relative}.py", snapshot.BOT / relative / "__init__.py"):
            if candidate.is_file():
                files.add(candidate.resolve())
    return files


def test_every_module_an_index_is_built_with_is_in_the_snapshot_key() -> None:
    """Whatever the snapshot code imports, directly or not, is hashed into code_version:
    a new engine module (or one split into a package) can never leave old snapshots valid."""
    needed, todo = set(), [Path(snapshot.__file__).resolve()]
    while todo:
        path = todo.pop()
        if path not in needed:
            needed.add(path)
            todo.extend(_imported_bot_modules(path))
    covered = {p.resolve() for p in snapshot.engine_files()}
    assert needed - covered == set(), "add them to the key: take them out of NOT_ENGINE"
    for name in ("matcher.py", "knowledge.py", "text.py", "snapshot.py", "gcpause.py"):
        assert (snapshot.BOT / name).resolve() in covered, name


def test_a_new_engine_module_or_package_is_covered_without_naming_it(tmp_path: Path) -> None:
    for name in ("matcher.py", "scoring.py", "engine/__init__.py", "engine/rank.py",
                 "telegram/app.py", "storage/store.py", "__main__.py", "reports.py"):  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    covered = [p.relative_to(tmp_path).as_posix() for p in snapshot.engine_files(tmp_path)]
    assert covered == ["engine/__init__.py", "engine/rank.py", "matcher.py", "scoring.py"]


def test_a_change_to_any_engine_module_changes_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("matcher.py", "scoring/weights.py", "telegram/app.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x = 1\n")
    monkeypatch.setattr(snapshot, "BOT", tmp_path)
    versions = []
    for edit in (None, "scoring/weights.py", "telegram/app.py"):
        if edit:
            (tmp_path / edit).write_text("x = 2\n")
        snapshot.code_version.cache_clear()
        versions.append(snapshot.code_version())
    snapshot.code_version.cache_clear()
    assert versions[0] != versions[1] == versions[2]  # an adapter's edit keeps the snapshot
