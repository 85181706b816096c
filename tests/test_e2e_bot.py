"""End to end: the real ``python -m bot run`` process against the stand-in Bot API.

The bot runs as a child process exactly as in production (long polling, then webhook
mode), talking HTTP to :class:`BotApiStub`. Updates go in through ``getUpdates`` (or a
POST to the webhook), and the tests assert on what the bot sent back. Run with ``-s``
to see a transcript of what a resident sees on each path; set ``E2E_TRANSCRIPT=<file>``
to also save it.
"""

from __future__ import annotations

import html
import json
import os
import re
import socket
import sqlite3
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.knowledge import load_knowledge
from bot.matcher import DecisionKind, Engine
from tests.support import (
    TEST_TOKEN,
    BotApiStub,
    Call,
    make_callback_update,
    make_command_update,
    make_inline_update,
    make_sticker_update,
    make_text_update,
)
from tests.support.bot_process import START_TIMEOUT, BotProcess, free_port, start_bot
from tests.support.harness import STAFF_ID

GROUP_ID = -1001000000077
REPLY_TIMEOUT = 15.0

UHC_QUESTION = "cakupan uhc balikpapan berapa persen"
VAGUE = ("jaminan", "air", "berapa jumlah penduduk balikpapan", "anggaran", "program")
OUT_OF_SCOPE = (
    "siapa pemenang piala dunia 2022",
    "resep nasi goreng",
    "kapan jadwal samsat keliling",
    "harga bitcoin hari ini",
)

UHC_TITLE = "<b>Cakupan kepesertaan JKN / BPJS Kesehatan (UHC) Balikpapan</b>"


@pytest.fixture
def snapshot_engine(knowledge_dir: Path) -> Engine:
    """The same engine the bot process builds, to pick questions of a given kind."""
    return Engine(load_knowledge(knowledge_dir))


def first_of_kind(engine: Engine, questions: tuple[str, ...], kind: DecisionKind) -> str:
    found = [q for q in questions if engine.decide(q).kind is kind]
    assert found, f"none of {questions} is decided as {kind}; update the test list"
    return found[0]


# --- the transcript -----------------------------------------------------------------------


def plain(text: str) -> str:
    """Telegram HTML as the resident sees it (bold/italic dropped, entities resolved)."""
    return html.unescape(re.sub(r"</?[bi]>", "", text))


def keyboard_lines(call: Call) -> list[str]:
    rows = (call.params.get("reply_markup") or {}).get("inline_keyboard", [])
    lines = []
    for row in rows:
        cells = []
        for button in row:
            if "switch_inline_query" in button:
                cells.append(f"[{button['text']} → @bot {button['switch_inline_query']}]")
            else:
                cells.append(f"[{button['text']}]")
        lines.append("   " + " ".join(cells))
    return lines


@dataclass
class Transcript:
    lines: list[str] = field(default_factory=list)

    def scene(self, title: str, user_action: str, calls: list[Call]) -> None:
        block = ["", f"=== {title}", f"👤 {user_action}"]
        for call in calls:
            if call.method in ("sendMessage", "editMessageText"):
                where = "" if call["chat_id"] > 0 else f" (grup {call['chat_id']})"
                verb = "✏️ " if call.method == "editMessageText" else ""
                body = plain(call["text"]).replace("\n", "\n   ")
                block.append(f"🤖{where} {verb}{body}")
                block += keyboard_lines(call)
            elif call.method == "sendDocument":
                block.append(f"🤖 📎 {call['document'].filename}: {call.get('caption', '')}")
            elif call.method == "answerCallbackQuery" and call.get("text"):
                block.append(f"🔔 {call['text']}")
            elif call.method == "answerInlineQuery":
                results = call["results"]
                block.append(f"🔎 {len(results)} kartu jawaban:")
                for result in results:
                    block.append(f"   📄 {result['title']} — {result.get('description', '')}")
                if results:
                    first = plain(results[0]["input_message_content"]["message_text"])
                    block.append("   (kartu pertama, seperti diteruskan:)")
                    block.append("   " + first.replace("\n", "\n   "))
                if call.get("button"):
                    block.append(f"   [{call['button']['text']}]")
        self.lines += block
        print("\n".join(block))

    def save(self, path: Path) -> None:
        path.write_text("\n".join(self.lines).lstrip() + "\n", encoding="utf-8")


# --- polling: the whole resident journey ----------------------------------------------------


def exchange(
    stub: BotApiStub,
    update: dict[str, Any],
    method: str,
    predicate: Any = None,
    settle: float = 0.3,
) -> list[Call]:
    """Push one update, wait for the bot's ``method`` call, return every call it caused."""
    mark = stub.mark()
    stub.push_update(update)
    stub.wait_for(method, predicate, timeout=REPLY_TIMEOUT, since=mark)
    time.sleep(settle)  # let the handler finish (e.g. the ack after the answer)
    return [c for c in stub.calls()[mark:] if c.method != "getUpdates"]


def wait_for_group(db_path: Path, example: str) -> int:
    """The id of the unanswered group for ``example`` once the bot has written it."""
    deadline = time.monotonic() + REPLY_TIMEOUT
    while time.monotonic() < deadline:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
            row = db.execute(
                "SELECT id FROM unanswered_groups WHERE example = ?", (example,)
            ).fetchone()
        if row:
            return int(row[0])
        time.sleep(0.05)
    raise AssertionError(f"no unanswered group for {example!r}")


def messages(calls: list[Call], chat_id: int | None = None) -> list[Call]:
    return [
        c
        for c in calls
        if c.method == "sendMessage" and c.ok and (chat_id is None or c["chat_id"] == chat_id)
    ]


def button_data(call: Call) -> list[str]:
    rows = (call.params.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row if "callback_data" in b]


def test_polling_bot_answers_residents_and_shuts_down_cleanly(
    stub: BotApiStub, tmp_path: Path, knowledge_dir: Path, snapshot_engine: Engine
) -> None:
    engine = snapshot_engine
    uhc = engine.knowledge.entry("uhc-jaminan-kesehatan")
    assert uhc is not None
    vague = first_of_kind(engine, VAGUE, DecisionKind.CHOICES)
    choices = [m.entry for m in engine.decide(vague).matches]
    unknown = first_of_kind(engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)
    transcript = Transcript()

    bot = start_bot(stub, tmp_path, knowledge_dir)
    try:
        stub.wait_for("getUpdates", timeout=START_TIMEOUT)
        assert bot.proc.poll() is None, bot.stderr
        scopes = [c["scope"]["type"] for c in stub.calls("setMyCommands")]
        assert scopes == ["default", "chat"]

        # /start
        calls = exchange(stub, make_command_update("start", user_id=401), "sendMessage")
        [welcome] = messages(calls, 401)
        assert "<b>Tanya Balikpapan</b>" in welcome["text"]
        assert all(d.startswith("t:") for d in button_data(welcome))
        transcript.scene("Mulai", "/start", calls)

        # A clear question gets the full answer with its buttons.
        calls = exchange(stub, make_text_update(UHC_QUESTION, user_id=402), "sendMessage")
        [answer] = messages(calls, 402)
        text = answer["text"]
        assert text.startswith(f"<b>{uhc.title}</b>") and "98,76 persen" in text
        assert "Sumber:" in text and "Data per" in text and "@TanyaBalikpapanBot" in text
        assert answer["parse_mode"] == "HTML"
        share = answer["reply_markup"]["inline_keyboard"][0][2]
        assert share["switch_inline_query"] == uhc.title
        transcript.scene("Pertanyaan warga", UHC_QUESTION, calls)

        # 👍 on that answer.
        up = button_data(answer)[0]
        calls = exchange(stub, make_callback_update(up, user_id=402), "answerCallbackQuery")
        assert any(c.method == "answerCallbackQuery" and "Terima kasih" in c["text"] for c in calls)
        transcript.scene("Menilai jawaban", "menekan 👍 Membantu", calls)

        # A vague question: "Maksud Anda?", and pressing an option opens that answer.
        calls = exchange(stub, make_text_update(vague, user_id=403), "sendMessage")
        [menu] = messages(calls, 403)
        assert menu["text"].startswith("Maksud Anda")
        key = button_data(menu)[0].rpartition(":")[2]  # the question's key, for 👍/👎
        assert button_data(menu) == [f"a:{e.id}:{key}" for e in choices]
        transcript.scene("Pertanyaan kurang jelas", vague, calls)
        calls = exchange(
            stub,
            make_callback_update(button_data(menu)[0], user_id=403),
            "sendMessage",
            lambda c: c["chat_id"] == 403,
        )
        [opened] = messages(calls, 403)
        assert opened["text"].startswith(f"<b>{html.escape(choices[0].title, quote=False)}</b>")
        assert any(c.method == "answerCallbackQuery" for c in calls)
        transcript.scene("Memilih salah satu", f"menekan ➡️ {choices[0].title}", calls)

        # Share: the button pre-fills the title; inline mode resolves it to that entry.
        calls = exchange(
            stub, make_inline_update(share["switch_inline_query"], user_id=402), "answerInlineQuery"
        )
        [cards] = [c for c in calls if c.method == "answerInlineQuery"]
        assert [r["title"] for r in cards["results"]] == [uhc.title]
        assert cards["results"][0]["input_message_content"]["message_text"] == text
        transcript.scene(
            "Membagikan jawaban", f"📤 Bagikan → @TanyaBalikpapanBot {uhc.title}", calls
        )

        # Inline mode from any chat.
        calls = exchange(
            stub, make_inline_update("puskesmas baru dmn aja", user_id=404), "answerInlineQuery"
        )
        [cards] = [c for c in calls if c.method == "answerInlineQuery"]
        assert 1 <= len(cards["results"]) <= 5
        assert "Sumber:" in cards["results"][0]["input_message_content"]["message_text"]
        transcript.scene("Mode inline", "@TanyaBalikpapanBot puskesmas baru dmn aja", calls)

        # In a group: /tanya.
        ask = make_text_update(
            f"/tanya@TanyaBalikpapanBot {UHC_QUESTION}",
            user_id=405,
            chat_id=GROUP_ID,
            chat_type="supergroup",
        )
        calls = exchange(stub, ask, "sendMessage", lambda c: c["chat_id"] == GROUP_ID)
        [in_group] = messages(calls, GROUP_ID)
        assert in_group["text"] == text
        transcript.scene("Di grup RT", f"/tanya@TanyaBalikpapanBot {UHC_QUESTION}", calls)

        # A sticker.
        calls = exchange(stub, make_sticker_update(user_id=406), "sendMessage")
        [please] = messages(calls, 406)
        assert "ketik" in please["text"]
        transcript.scene("Stiker", "(mengirim stiker 👍)", calls)

        # Something the bot does not know.
        calls = exchange(stub, make_text_update(unknown, user_id=407), "sendMessage")
        [fallback] = messages(calls, 407)
        assert "teruskan ke petugas" in fallback["text"]
        transcript.scene("Di luar pengetahuan", unknown, calls)

        # Staff see it in their queue and answer; the resident gets the answer.
        group_id = wait_for_group(bot.db_path, unknown)
        calls = exchange(
            stub, make_command_update("belumterjawab", user_id=STAFF_ID), "sendMessage"
        )
        [queue] = messages(calls, STAFF_ID)
        assert f"#{group_id} · 1×" in queue["text"] and f"«{unknown}»" in queue["text"]
        transcript.scene("Petugas melihat antrean", "/belumterjawab", calls)
        reply = f"/jawab {group_id} Silakan cek situs resmi FIFA ya."
        calls = exchange(
            stub,
            make_text_update(reply, user_id=STAFF_ID),
            "sendMessage",
            lambda c: c["chat_id"] == STAFF_ID,
        )
        [delivered] = messages(calls, 407)
        assert "Silakan cek situs resmi FIFA ya." in delivered["text"]
        transcript.scene("Petugas menjawab → yang diterima warga", reply, calls)

        # Nothing leaked an error to anyone.
        assert not any("gangguan" in t for t in stub.texts())

        code, took = bot.stop()
        assert code == 0 and took < 5.0, (code, took)
    finally:
        bot.kill()
        stderr = bot.stderr
        transcript_path = os.environ.get("E2E_TRANSCRIPT")
        if transcript_path:
            transcript.save(Path(transcript_path))

    assert TEST_TOKEN not in stderr
    assert "Traceback" not in stderr, stderr
    assert " ERROR " not in stderr, stderr
    assert "storage closed" in stderr  # post_shutdown ran

    with sqlite3.connect(bot.db_path) as db:
        rows = db.execute(
            "SELECT user_id, chat_type, decision, entry_id, text FROM questions ORDER BY asked_at"
        ).fetchall()
        groups = db.execute("SELECT example, count, status FROM unanswered_groups").fetchall()
        votes = db.execute("SELECT entry_id, value, user_id FROM feedback").fetchall()
    assert [(r[0], r[2]) for r in rows] == [
        (402, "answer"),
        (403, "choices"),
        (405, "answer"),
        (407, "fallback"),
    ]
    assert rows[2][1] == "supergroup" and rows[2][4] == UHC_QUESTION
    assert groups == [(unknown, 1, "answered")]
    assert votes == [(uhc.id, 1, 402)]


# --- webhook mode ------------------------------------------------------------------------


def post_update(port: int, update: dict[str, Any], secret: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/telegram",
        data=json.dumps(update).encode(),
        headers=headers,
        method="POST",
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
    try:
        with opener.open(request, timeout=REPLY_TIMEOUT) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def wait_until_listening(port: int, bot: BotProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert bot.proc.poll() is None, bot.stderr
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"webhook server never listened on {port}\n{bot.stderr}")


def unexpected_tracebacks(log: str) -> list[str]:
    """The log line before each traceback, unless it is PTB refusing a webhook request."""
    lines = log.splitlines()
    heads = [lines[i - 1] for i, line in enumerate(lines) if line.startswith("Traceback") and i]
    refused = re.compile(r" DEBUG telegram\.ext\.Updater: .* - Exception in TelegramHandler$")
    return [head for head in heads if not refused.search(head)]


def test_webhook_mode_checks_the_secret(
    stub: BotApiStub, tmp_path: Path, knowledge_dir: Path
) -> None:
    port = free_port()
    transcript = Transcript()
    bot = start_bot(
        stub,
        tmp_path,
        knowledge_dir,
        WEBHOOK_URL="https://example.invalid/hook",
        WEBHOOK_SECRET="s3cret",
        PORT=str(port),
        LOG_LEVEL="DEBUG",  # the noisiest level must still never print token or secret
    )
    try:
        registered = stub.wait_for("setWebhook", timeout=START_TIMEOUT)
        assert registered["url"].startswith("https://example.invalid/hook")
        assert registered["secret_token"] == "s3cret"
        wait_until_listening(port, bot)

        mark = stub.mark()
        assert post_update(port, make_text_update(UHC_QUESTION, user_id=501), "s3cret") == 200
        reply = stub.wait_for(
            "sendMessage", lambda c: c["chat_id"] == 501, timeout=REPLY_TIMEOUT, since=mark
        )
        assert reply["text"].startswith(UHC_TITLE)
        transcript.scene("Webhook", UHC_QUESTION, [reply])

        mark = stub.mark()
        assert post_update(port, make_text_update(UHC_QUESTION, user_id=502), "salah") == 403
        assert post_update(port, make_text_update(UHC_QUESTION, user_id=503), None) == 403
        time.sleep(1.0)
        assert [c for c in stub.calls()[mark:] if c.method == "sendMessage"] == []
        assert stub.calls("getUpdates") == []  # webhook mode never polls

        code, took = bot.stop()
        assert code == 0 and took < 5.0, (code, took)
    finally:
        bot.kill()
    stderr = bot.stderr
    assert "setWebhook" in stderr  # DEBUG really was on
    assert TEST_TOKEN not in stderr
    assert "s3cret" not in stderr
    # At DEBUG, PTB's webhook server logs a traceback for each request it refuses;
    # any other traceback would be ours.
    assert unexpected_tracebacks(stderr) == [], stderr
    with sqlite3.connect(bot.db_path) as db:
        asked = db.execute("SELECT user_id FROM questions").fetchall()
    assert asked == [(501,)]
