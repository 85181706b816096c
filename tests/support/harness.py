"""The in-process Telegram harness: the REAL Application from
:func:`bot.telegram.app.build_application` (bundled knowledge, real SQLite storage) on
an in-memory :class:`RecordingRequest`, and the helpers tests read its calls with.

``tests/conftest.py`` turns :func:`start_bot` into the ``make_bot`` fixture.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from bot.answers import Format, Renderer
from bot.config import Settings
from bot.knowledge import Entry, Knowledge
from bot.locale import Locale
from bot.matcher import DecisionKind, Engine
from bot.paths import KNOWLEDGE_DIR
from bot.storage import Storage
from bot.telegram.app import build_application
from bot.telegram.commands import Scope, in_scope
from tests.support.fake_api import BOT_USER, TEST_TOKEN, Call
from tests.support.recording import RecordingRequest, process
from tests.support.updates import make_callback_update

BOT_NAME = BOT_USER["username"]
STAFF_ID = 999
STAFF_CHAT = -1002000000002
RESIDENT = 111

UHC_QUESTION = "cakupan uhc balikpapan berapa persen"
UHC_ID = "uhc-jaminan-kesehatan"
# Out-of-scope questions; tests use the ones the engine (tuned concurrently) declines.
OUT_OF_SCOPE = (
    "siapa pemenang piala dunia 2022",
    "resep nasi goreng",
    "kapan jadwal samsat keliling",
    "cara membuat paspor online",
    "harga bitcoin hari ini",
    "jadwal kapal ferry ke surabaya",
    "nomor telepon pemadam kebakaran",
    "cuaca besok hujan tidak",
    "lowongan kerja pertamina",
    "tarif parkir bandara sepinggan",
)
# Short, vague questions; tests use the ones the engine answers with "Maksud Anda?".
VAGUE = ("jaminan", "air", "berapa jumlah penduduk balikpapan", "anggaran", "program")


# Every name of every staff command (English and Indonesian), from the bot's own table.
STAFF_NAMES = [command.names for command in in_scope(Scope.STAFF)]
ALL_STAFF_COMMANDS = [name for names in STAFF_NAMES for name in names]


@dataclasses.dataclass
class Harness:
    """The running bot plus its transport and database."""

    app: Any
    req: RecordingRequest
    storage: Storage
    settings: Settings
    engine: Engine
    locale: Locale

    def t(self, key: str, **params: Any) -> str:
        return self.locale.t(key, **params)

    @property
    def knowledge(self) -> Knowledge:
        return self.engine.knowledge

    def answer_html(self, entry: Entry) -> str:
        return Renderer(self.locale, BOT_NAME).answer(entry, self.knowledge, Format.HTML)

    async def send(self, update: dict[str, Any]) -> list[Call]:
        """Process one update; return the Bot API calls it caused."""
        start = len(self.req.calls())
        await process(self.app, update)
        return self.req.calls()[start:]

    async def rows(self) -> list[dict[str, Any]]:
        await self.storage.flush()
        return await self.storage.export_rows()


async def start_bot(
    db_path: Path,
    knowledge: Knowledge,
    locale: Locale,
    request: RecordingRequest | None = None,
    *,
    rate_limit: bool = False,
    storage: dict[str, Any] | None = None,
    **overrides: Any,
) -> Harness:
    """Build, initialise and post-init the real Application.

    * ``rate_limit=True`` — the production rate limiter (429 waits, network retries);
    * ``storage={...}`` — keyword arguments for :meth:`Storage.open` (buffer, timeouts);
    * any :class:`Settings` field as a keyword (``flood_limit=3``, ``staff_ids=...``).
    """
    settings = Settings(
        token=TEST_TOKEN,
        db_path=db_path,
        knowledge_dir=KNOWLEDGE_DIR,
        staff_ids=frozenset({STAFF_ID}),
        staff_chat_id=STAFF_CHAT,
    )
    settings = dataclasses.replace(settings, **overrides)
    engine = Engine(knowledge)
    store = await Storage.open(settings.db_path, **(storage or {}))
    req = request or RecordingRequest()
    app = build_application(settings, engine, locale, store, request=req, rate_limit=rate_limit)
    await app.initialize()
    harness = Harness(app, req, store, settings, engine, locale)
    await app.post_init(app)  # what run_polling/run_webhook do after initialize()
    return harness


async def stop_bot(harness: Harness) -> None:
    if harness.app.running:
        await harness.app.stop()
    await harness.app.shutdown()
    await harness.app.post_shutdown(harness.app)


def chat_record(bot: Harness, chat_id: int) -> dict[str, Any] | None:
    """The bot's row for a chat, read straight from its SQLite file (None: never seen)."""
    with sqlite3.connect(bot.settings.db_path) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM chats WHERE chat_id = ?", (chat_id,)).fetchone()
    return dict(row) if row else None


def sent(calls: Iterable[Call], method: str = "sendMessage") -> list[Call]:
    return [c for c in calls if c.method == method and c.ok]


def only_message(calls: list[Call]) -> Call:
    messages = sent(calls)
    assert len(messages) == 1, [(c.method, c.params.get("text")) for c in calls]
    return messages[0]


def buttons(call: Call) -> list[dict[str, Any]]:
    markup = call.params.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def rows_of(call: Call) -> list[list[dict[str, Any]]]:
    return (call.params.get("reply_markup") or {}).get("inline_keyboard", [])


def callback_data(call: Call) -> list[str]:
    return [b["callback_data"] for b in buttons(call) if "callback_data" in b]


def pick(engine: Engine, questions: Iterable[str], kind: DecisionKind) -> list[str]:
    """The questions the current engine decides as ``kind`` (knowledge is tuned live)."""
    found = [q for q in questions if engine.decide(q).kind is kind]
    assert found, f"none of {questions} is decided as {kind} any more; update the test list"
    return found


def press(data: str, *, user_id: int = RESIDENT, **kw: Any) -> dict[str, Any]:
    return make_callback_update(data, user_id=user_id, **kw)


def assert_no_handler_errors(caplog: pytest.LogCaptureFixture) -> None:
    bad = [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.startswith(("bot", "telegram"))
    ]
    assert not bad, [r.getMessage() for r in bad]
