"""Shared fixtures: the bundled knowledge, the engine, and small knowledge folders."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.answers import Renderer
from bot.knowledge import Knowledge, load_knowledge
from bot.locale import Locale
from bot.matcher import Engine
from bot.paths import KNOWLEDGE_DIR


@pytest.fixture(autouse=True, scope="session")
def _index_snapshots_in_a_temp_folder(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Commands run in-process save index snapshots; never into the checkout's data/."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BOT_CACHE_DIR", str(tmp_path_factory.mktemp("snapshots")))
        yield


MINI_SOURCES = """\
sources:
  - id: sumber-uji
    publisher: Koran Uji
    title: Laporan Uji
    date: 2025-12-22
"""

MINI_TOPICS = """\
topics:
  - id: kesehatan
    title: Kesehatan
    emoji: "🏥"
  - id: air
    title: Air bersih
"""

MINI_ENTRIES = """\
entries:
  - id: uhc
    kind: achievement
    title: Cakupan UHC
    answer: Menurut paparan Pemkot, cakupan UHC mencapai 98,76 persen pada 2025.
    figures:
      - label: Cakupan UHC
        value: 98.76
        unit: persen
        year: 2025
    questions:
      - brp persen warga punya bpjs
      - cakupan uhc
      - jaminan kesehatan warga
      - universal health coverage
      - kepesertaan jkn
    topics: [kesehatan]
    related: [embung]
    sources: [sumber-uji]
    as_of: 2025-12-22
  - id: embung
    kind: facility
    title: Embung Aji Raden
    answer: Menurut paparan Pemkot, pembangunan Embung Aji Raden sudah rampung.
    questions:
      - embung aji raden
      - embung udah jadi belum
      - air baku embung
      - pembangunan embung
      - embung aji raden selesai kapan
    topics: [air]
    sources: [sumber-uji]
    as_of: 2025-12-22
"""

MINI_SLANG = """\
slang:
  brp: berapa
  bpn: balikpapan
fillers: [dong, sih, min]
smalltalk:
  - intent: greeting
    patterns: [halo, hai]
"""


def write_knowledge(folder: Path, **files: str) -> Path:
    """A knowledge folder with the mini files, any of them replaced or added."""
    folder.mkdir(parents=True, exist_ok=True)
    contents = {
        "sources.yaml": MINI_SOURCES,
        "topics.yaml": MINI_TOPICS,
        "entries.yaml": MINI_ENTRIES,
        "slang.yaml": MINI_SLANG,
    }
    contents.update({name.replace("__", "."): text for name, text in files.items()})
    for name, text in contents.items():
        if text is not None:
            (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


@pytest.fixture
def mini_dir(tmp_path: Path) -> Path:
    return write_knowledge(tmp_path / "knowledge")


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return load_knowledge(KNOWLEDGE_DIR)


@pytest.fixture(scope="session")
def engine(knowledge: Knowledge) -> Engine:
    return Engine(knowledge)


@pytest.fixture(scope="session")
def locale() -> Locale:
    return Locale.load()


@pytest.fixture(scope="session")
def renderer(locale: Locale) -> Renderer:
    return Renderer(locale, bot_username="TanyaBalikpapanBot")


# --- the real Telegram bot, for reliability and security tests ---------------------------


@pytest_asyncio.fixture
async def live_bot(tmp_path: Path, knowledge: Knowledge, locale: Locale) -> AsyncIterator[Any]:
    """Factory for the REAL Application (bundled knowledge, real SQLite in ``tmp_path``) on
    an in-memory transport, like ``make_bot`` in test_telegram_handlers, plus:

    * ``rate_limit=True`` — the production rate limiter (429 waits, network retries);
    * ``storage={...}`` — keyword arguments for :meth:`Storage.open` (buffer, timeouts);
    * any :class:`Settings` field as a keyword (``flood_limit=3``, ``staff_ids=...``).

    Returns that module's ``Harness``; every bot is shut down (storage flushed) afterwards.
    """
    import dataclasses

    from bot.config import Settings
    from bot.storage import Storage
    from bot.telegram.app import build_application
    from tests.support import TEST_TOKEN, RecordingRequest
    from tests.test_telegram_handlers import STAFF_CHAT, STAFF_ID, Harness

    running: list[Any] = []

    async def factory(
        request: RecordingRequest | None = None,
        *,
        rate_limit: bool = False,
        storage: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> Any:
        settings = Settings(
            token=TEST_TOKEN,
            db_path=tmp_path / f"live{len(running)}.db",
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
        running.append(harness)
        await app.post_init(app)  # what run_polling/run_webhook do after initialize()
        return harness

    yield factory
    for harness in running:
        if harness.app.running:
            await harness.app.stop()
        await harness.app.shutdown()
        await harness.app.post_shutdown(harness.app)
