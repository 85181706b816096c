"""Shared fixtures: the bundled knowledge, the engine, and small knowledge folders."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.answers import Renderer
from bot.knowledge import Knowledge, load_knowledge
from bot.locale import Locale
from bot.matcher import Engine
from bot.paths import KNOWLEDGE_DIR

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
