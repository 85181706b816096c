"""The command line, run for real on temp files."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.__main__ import COMMANDS, build_parser, main
from bot.knowledge import load_knowledge
from bot.matcher import Engine
from bot.paths import KNOWLEDGE_DIR, ROOT
from bot.storage import QuestionRecord, Storage, new_key

CONTRACT_KEYS = {"question", "kind", "id", "score", "text", "sources", "options"}


def run_cli(
    args: list[str],
    capsys: pytest.CaptureFixture[str],
    stdin: str | None = None,
    monkeypatch: pytest.MonkeyPatch | None = None,
) -> tuple[int, str, str]:
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- ask -------------------------------------------------------------------------------------


def test_ask_prints_a_forward_ready_answer(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["ask", "brp persen warga yg udh punya bpjs?"], capsys)
    assert code == 0
    assert "98,76 persen" in out
    assert "📰 Sumber: Inibalikpapan.com" in out and "Berandapost.com" in out
    assert "Data per 22 Desember 2025" in out


def test_ask_json_contract(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BOT_DB_PATH", str(tmp_path / "never.db"))
    questions = [
        "brp persen warga yg udh punya bpjs?",
        "bus dan wifi",
        "siapa presiden amerika",
        "halo min",
        "",
        "<b>puskesmas</b> baru dmn",
    ]
    code, out, _ = run_cli(["ask", "--json", "-"], capsys, "\n".join(questions) + "\n", monkeypatch)
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["question"] for r in rows] == questions  # one line each, same order
    for row in rows:
        assert set(row) == CONTRACT_KEYS
        assert row["kind"] in {"answer", "choices", "fallback", "smalltalk"}
        assert 0 <= row["score"] <= 100
        assert isinstance(row["text"], str) and row["text"]
    answer, choices, fallback, smalltalk, empty, injected = rows
    assert answer["kind"] == "answer" and answer["id"] == "uhc-jaminan-kesehatan"
    assert [s["publisher"] for s in answer["sources"]] == [
        "Inibalikpapan.com",
        "Berandapost.com",
        "Lintaskaltim.com",
    ]
    assert answer["sources"][1] == {
        "title": "Wali Kota Balikpapan Klaim Program Prioritas 2025 Berjalan",
        "publisher": "Berandapost.com",
        "date": "2025-12-23",
        "url": "https://berandapost.com/2025/12/23/wali-kota-balikpapan-klaim-program-prioritas-2025-berjalan",
    }
    assert "98,76 persen" in answer["text"] and answer["options"] == []
    assert choices["kind"] == "choices" and choices["id"] is None
    assert 2 <= len(choices["options"]) <= 3
    for option in choices["options"]:
        assert set(option) == {"id", "title", "text"}
        assert "Sumber:" in option["text"]
    assert fallback["kind"] == "fallback" and fallback["id"] is None
    assert fallback["sources"] == [] and fallback["options"] == []
    assert smalltalk["kind"] == "smalltalk" and empty["kind"] == "smalltalk"
    assert injected["id"] == "puskesmas-baru" and "<b>" not in injected["text"]
    assert not (tmp_path / "never.db").exists(), "ask never writes the question log"


def test_ask_with_another_knowledge_folder(
    capsys: pytest.CaptureFixture[str], mini_dir: Path
) -> None:
    code, out, _ = run_cli(["ask", "--knowledge", str(mini_dir), "embung aji raden"], capsys)
    assert code == 0 and "Embung Aji Raden" in out and "Koran Uji" in out


def test_broken_knowledge_is_reported_not_crashed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "knowledge"
    folder.mkdir()
    (folder / "x.yaml").write_text("entries: [", encoding="utf-8")
    code, _, err = run_cli(["ask", "--knowledge", str(folder), "halo"], capsys)
    assert code == 1
    assert "knowledge/x.yaml:" in err and "python -m bot check" in err


# --- chat ---------------------------------------------------------------------------------------


def test_chat_answers_and_lets_the_user_pick_a_choice(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run_cli(
        ["chat"], capsys, "halo\nbus dan wifi\n1\nkeluar\n", monkeypatch
    )
    assert code == 0
    assert "Tanya Balikpapan — mode terminal" in out
    assert "Halo!" in out
    assert "Maksud Anda salah satu ini?" in out
    assert "Ketik nomor pilihan" in out
    assert out.count("📰 Sumber:") == 1  # the picked option's answer
    assert "Sampai jumpa" in out


def test_chat_ends_cleanly_on_end_of_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run_cli(["chat"], capsys, "program gempur stunting\n", monkeypatch)
    assert code == 0 and "Gempur Stunting" in out


def test_main_job_without_token_is_the_offline_chat(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    code, out, _ = run_cli([], capsys, "keluar\n", monkeypatch)
    assert code == 0 and "mode terminal" in out


def test_run_without_token_points_to_chat(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    code, _, err = run_cli(["run"], capsys)
    assert code == 2
    assert "TELEGRAM_BOT_TOKEN" in err and "python -m bot chat" in err


# --- eval ---------------------------------------------------------------------------------------


def test_eval_prints_rates_and_misses(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["eval", "--misses", "3"], capsys)
    assert code == 0
    for key in (
        "in_scope_accuracy",
        "in_scope_choice_rate",
        "out_of_scope_abstention",
        "near_miss_abstention",
        "smalltalk_accuracy",
    ):
        assert key in out


# --- staff loop: unanswered -> edit knowledge -> replay -> resolve ---


def log_questions(db: Path, texts: list[str]) -> None:
    engine = Engine(load_knowledge(KNOWLEDGE_DIR))

    async def go() -> None:
        storage = await Storage.open(db)
        for i, text in enumerate(texts):
            decision = engine.decide(text)
            storage.log_question(
                QuestionRecord(
                    key=new_key(),
                    asked_at=datetime.now(UTC),
                    chat_type="private",
                    user_id=1000 + i,
                    chat_id=1000 + i,
                    message_id=i + 1,
                    text=text,
                    normalized=decision.key_words,
                    decision=decision.kind.value,
                    entry_id=None,
                    score=decision.score,
                    latency_ms=decision.latency_ms,
                )
            )
        await storage.close()

    asyncio.run(go())


def test_review_loop_from_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "bot.db"
    asked = [
        "jadwal vaksin rabies gratis di bpp",
        "jadwal vaksin rabies gratis dmn",
        "jadwal vaksin rabies gratis",
        "resep rendang padang",
    ]
    log_questions(db, asked)

    code, out, _ = run_cli(
        ["unanswered", "--db", str(db), "--csv", str(tmp_path / "g.csv")], capsys
    )
    assert code == 0
    assert "3×" in out and "vaksin rabies" in out  # near-duplicates grouped
    # A recipe is no city gap: kept apart, listed on request.
    assert "rendang" not in out
    assert "… dan 1 kelompok di luar topik kota" in out and "--all" in out
    csv_bytes = (tmp_path / "g.csv").read_bytes()
    assert csv_bytes.startswith(b"\xef\xbb\xbf") and b"vaksin rabies" in csv_bytes
    assert b"rendang" in csv_bytes  # the export keeps everything
    code, out, _ = run_cli(["unanswered", "--db", str(db), "--all"], capsys)
    assert code == 0 and "1×" in out and "rendang" in out
    assert out.index("vaksin rabies") < out.index("rendang")  # city gaps first

    code, out, _ = run_cli(["replay", "--db", str(db)], capsys)
    assert "0 dari 2 kelompok kini terjawab" in out

    # Staff add an entry about the rabies vaccination (a test source, not real data).
    knowledge = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, knowledge)
    (knowledge / "vaksin.yaml").write_text(
        "entries:\n"
        "  - id: vaksin-rabies\n"
        "    kind: program\n"
        "    title: Vaksinasi rabies gratis\n"
        "    answer: Menurut sumber uji, vaksinasi rabies gratis dijadwalkan oleh dinas.\n"
        "    questions: [jadwal vaksin rabies, vaksin rabies gratis, vaksinasi rabies kapan,\n"
        "                rabies vaksin dmn, suntik rabies gratis]\n"
        "    topics: [kesehatan]\n"
        "    sources: [berandapost-2025-12-22-ekspos-akhir-tahun]\n"
        "    as_of: 2025-12-22\n",
        encoding="utf-8",
    )
    code, out, _ = run_cli(["replay", "--db", str(db), "--knowledge", str(knowledge)], capsys)
    assert code == 0
    assert "kini terjawab oleh 'vaksin-rabies'" in out
    assert "1 dari 2 kelompok kini terjawab" in out

    run_cli(["replay", "--db", str(db), "--knowledge", str(knowledge), "--resolve"], capsys)
    code, out, _ = run_cli(["unanswered", "--db", str(db), "--all"], capsys)
    assert "vaksin" not in out and "rendang" in out


def test_stats_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    log_questions(db, ["cakupan uhc", "stanting bpn gmn", "resep rendang padang", "halo"])
    code, out, _ = run_cli(
        ["stats", "--db", str(db), "--days", "3", "--png", str(tmp_path / "s.png")], capsys
    )
    assert code == 0
    assert "4 pertanyaan" in out
    assert (tmp_path / "s.png").read_bytes().startswith(b"\x89PNG")


# --- settings ---------------------------------------------------------------------------

GOOD_TOKEN = "123456:ABCdef"
BOT_VARIABLES = (
    "TELEGRAM_BOT_TOKEN", "TELEGRAM_BASE_URL", "BOT_DB_PATH", "BOT_KNOWLEDGE_DIR",
    "BOT_CACHE_DIR", "BOT_STAFF_IDS", "BOT_STAFF_CHAT_ID", "BOT_RETENTION_DAYS",
    "BOT_FLOOD_LIMIT", "LOG_LEVEL", "WEBHOOK_URL", "WEBHOOK_SECRET", "PORT",
)  # fmt: skip


def run_bot(args: list[str], tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    """``python -m bot ARGS`` in a process of its own, with only these bot variables."""
    env = {k: v for k, v in os.environ.items() if k not in BOT_VARIABLES}
    env |= {"BOT_CACHE_DIR": str(tmp_path / "cache"), "BOT_DB_PATH": str(tmp_path / "bot.db")}
    env |= variables
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        input="",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


@pytest.mark.parametrize(
    "variables",
    [
        {"BOT_FLOOD_LIMIT": "abc"},
        {"BOT_RETENTION_DAYS": "0"},
        {"PORT": "http"},
        {"BOT_STAFF_IDS": "@petugas"},
        {"BOT_STAFF_CHAT_ID": "staff"},
        {"LOG_LEVEL": "LOUD"},
        {"TELEGRAM_BASE_URL": "ftp://example.org/bot"},
        {"WEBHOOK_URL": "http://example.org", "WEBHOOK_SECRET": "s3cret"},
        {"WEBHOOK_SECRET": "not secret!"},
        {"TELEGRAM_BOT_TOKEN": "not-a-token"},
    ],
    ids=lambda variables: ",".join(variables),
)
def test_a_mistyped_variable_is_one_line_and_exit_2_never_a_traceback(
    variables: dict[str, str], tmp_path: Path
) -> None:
    # The token is set, so the bare command is ``run``, which reads every variable; the
    # process ends before it would reach Telegram.
    result = run_bot([], tmp_path, **({"TELEGRAM_BOT_TOKEN": GOOD_TOKEN} | variables))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert next(iter(variables)) in line or "TELEGRAM_BOT_TOKEN" in line
    assert GOOD_TOKEN not in line


@pytest.mark.parametrize(
    "args",
    [["check"], ["ask", "brp persen warga yg udh punya bpjs?"], ["unanswered"], []],
    ids=["check", "ask", "unanswered", "chat"],
)
def test_a_command_never_fails_over_a_variable_it_does_not_read(
    args: list[str], tmp_path: Path
) -> None:
    # Without a token the bare command is the chat (which ends at the end of input).
    if args == ["unanswered"]:  # it reads an existing log, never makes one
        log_questions(tmp_path / "bot.db", ["resep rendang padang"])
    result = run_bot(args, tmp_path, BOT_FLOOD_LIMIT="abc", PORT="http", LOG_LEVEL="LOUD")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_every_command_of_the_table_is_parsed() -> None:
    parser = build_parser()
    for name, command in COMMANDS.items():
        extra = ["-"] if name in ("ask", "explain") else []
        args = parser.parse_args([name, *extra])
        assert args.command == name and COMMANDS[args.command] is command


@pytest.mark.parametrize("command", ["unanswered", "replay", "stats"])
def test_a_missing_log_is_refused_never_created(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    """No false all-clear: a mistyped --db is not an empty log with nothing unanswered."""
    db = tmp_path / "salah-ketik.db"
    code, out, err = run_cli([command, "--db", str(db)], capsys)
    assert code == 2
    assert f"{db} tidak ada — salin database dari server, atau pakai --db FILE" in err
    assert "Tidak ada pertanyaan yang belum terjawab" not in out
    assert not db.exists()


def test_staff_commands_explain_themselves_in_indonesian(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for command in ("check", "review", "unanswered", "replay", "stats"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert "folder pengetahuan" in out, command
    with pytest.raises(SystemExit):
        main(["unanswered", "--help"])
    assert "database pertanyaan warga" in capsys.readouterr().out
