"""Shared fixtures: the bundled knowledge, the engine, and small knowledge folders."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.answers import Renderer
from bot.knowledge import Knowledge, load_knowledge
from bot.locale import Locale
from bot.matcher import Engine
from bot.paths import KNOWLEDGE_DIR
from tests.support.botapi_stub import BotApiStub


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


# --- the real Telegram bot, in process ---------------------------------------------------


@pytest_asyncio.fixture
async def make_bot(tmp_path: Path, knowledge: Knowledge, locale: Locale) -> AsyncIterator[Any]:
    """Factory for the REAL Application (bundled knowledge, real SQLite in ``tmp_path``) on
    an in-memory transport; see :func:`tests.support.harness.start_bot` for its options.
    Every bot is shut down (storage flushed) afterwards."""
    from tests.support.harness import Harness, RecordingRequest, start_bot, stop_bot

    running: list[Harness] = []

    async def factory(request: RecordingRequest | None = None, **options: Any) -> Harness:
        db_path = options.pop("db_path", tmp_path / f"bot{len(running)}.db")
        harness = await start_bot(db_path, knowledge, locale, request, **options)
        running.append(harness)
        return harness

    yield factory
    for harness in running:
        await stop_bot(harness)


# --- the real bot process (end-to-end and crash tests) ----------------------------------


@pytest.fixture
def knowledge_dir(tmp_path: Path) -> Path:
    """A snapshot of the bundled knowledge, so edits elsewhere can't race the test."""
    folder = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, folder)
    return folder


@pytest.fixture
def stub() -> Iterator[BotApiStub]:
    with BotApiStub() as running:
        yield running


# --- a knowledge folder under git (for `review`) ---------------------------------


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Uji", "-c", "user.email=uji@example.org", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repo whose last commit holds a copy of the bundled knowledge."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    root = tmp_path / "repo"
    shutil.copytree(KNOWLEDGE_DIR, root / "knowledge")
    _git(root, "init", "-q")
    _git(root, "add", "knowledge")
    _git(root, "commit", "-q", "--no-gpg-sign", "-m", "pengetahuan awal")
    return root
